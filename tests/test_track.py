"""ByteTracker, Kalman filter and face-to-person linking on hand-made detections."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autofocuspull.core.labels import FACE_CLASS_ID
from autofocuspull.core.types import Detections
from autofocuspull.perception.track import (
    ByteTracker,
    KalmanBoxFilter,
    TrackerConfig,
    face_in_person_score,
    gated_assignment,
    link_faces_to_people,
    xyah_to_xyxy,
    xyxy_to_xyah,
)

FPS = 25.0


def dets(boxes, conf=None, cls=0) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    conf = np.full(len(boxes), 0.9, np.float32) if conf is None else np.asarray(conf, np.float32)
    cls = np.broadcast_to(np.asarray(cls, np.int32), (len(boxes),))
    return Detections(boxes, conf, cls)


def box_at(cx, cy, w=40.0, h=80.0):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def ids_by_box(out: Detections) -> dict[tuple[int, ...], int]:
    return {tuple(np.round(b).astype(int)): int(t) for b, t in zip(out.xyxy, out.track_id, strict=True)}


def test_xyah_roundtrip_values():
    z = xyxy_to_xyah(np.array([10.0, 20.0, 50.0, 100.0]))
    np.testing.assert_allclose(z, [30.0, 60.0, 0.5, 80.0])
    np.testing.assert_allclose(xyah_to_xyxy(z), [10.0, 20.0, 50.0, 100.0])


def test_kalman_learns_constant_velocity():
    kf = KalmanBoxFilter(np.array(box_at(100, 100)))
    for k in range(1, 30):
        kf.predict()
        kf.update(np.array(box_at(100 + 4 * k, 100)))
    np.testing.assert_allclose(kf.mean[4], 4.0, atol=0.05)  # px/frame in x
    kf.predict(5)
    np.testing.assert_allclose(kf.xyxy, box_at(100 + 4 * 34, 100), atol=1.0)


def test_two_people_crossing_keep_their_ids():
    tr = ByteTracker(FPS)
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for f in range(60):
        a, b = box_at(50 + 5 * f, 100), box_at(350 - 5 * f, 110)  # cross near f = 30
        out = tr.update(dets([a, b]), f)
        got = ids_by_box(out)
        seen[0].add(got[tuple(np.round(a).astype(int))])
        seen[1].add(got[tuple(np.round(b).astype(int))])
    assert len(seen[0]) == 1 and len(seen[1]) == 1
    assert seen[0] != seen[1]


def test_identity_kept_through_short_occlusion_and_lost_after_buffer():
    tr = ByteTracker(FPS, TrackerConfig(buffer_s=1.0))
    first = tr.update(dets([box_at(100, 100)]), 0).track_id[0]
    for f in range(1, 10):
        tr.update(dets([box_at(100 + 2 * f, 100)]), f)
    for f in range(10, 30):  # 0.8 s occluded
        assert len(tr.update(Detections.empty(), f)) == 0
    back = tr.update(dets([box_at(100 + 2 * 30, 100)]), 30)
    assert back.track_id[0] == first
    for f in range(31, 31 + 30):  # 1.2 s away: beyond the 1 s buffer
        tr.update(Detections.empty(), f)
    again = tr.update(dets([box_at(100 + 2 * 61, 100)]), 61)
    assert again.track_id[0] != first


def test_reentry_after_leaving_frame_keeps_id_within_buffer():
    tr = ByteTracker(FPS)
    tid = tr.update(dets([box_at(300, 100)]), 0).track_id[0]
    for f in range(1, 15):
        tr.update(dets([box_at(300, 100)]), f)
    for f in range(15, 35):  # leaves (no detection) for 0.8 s
        tr.update(Detections.empty(), f)
    assert tr.update(dets([box_at(305, 102)]), 35).track_id[0] == tid


def test_gated_assignment_gates_before_solving():
    # Gating after the solve picks (0->1, 1->0) for its larger total 0.82 and then drops 1->0
    # (IoU 0 < gate): row 0 takes column 1 and row 1 is left over. Gating first keeps both.
    iou = np.array([[0.43, 0.82], [0.0, 0.25]])
    assert gated_assignment(iou, iou >= 0.2) == [(0, 0), (1, 1)]
    assert gated_assignment(iou, np.zeros_like(iou, bool)) == []


def test_crowded_boxes_keep_their_ids_when_they_jump():
    # Two overlapping people standing still, then both step right in one frame (a detector run
    # every few frames, or a fast walk): A by 40 px, B by 60 px. A's new box overlaps B's old place
    # more (IoU 0.82) than its own (0.43); B's new box overlaps only its own old place (0.25).
    # Hungarian before the gate gave A's box B's id and B a new id; gating first keeps both ids.
    tr = ByteTracker(FPS)
    a, b = [0, 0, 100, 100], [50, 0, 150, 100]
    for f in range(3):
        out = tr.update(dets([a, b]), f)
    before = ids_by_box(out)
    a2, b2 = [40, 0, 140, 100], [110, 0, 210, 100]
    after = ids_by_box(tr.update(dets([a2, b2]), 3))
    assert after[tuple(a2)] == before[tuple(a)]
    assert after[tuple(b2)] == before[tuple(b)]


def test_cut_resets_ids():
    tr = ByteTracker(FPS)
    a = tr.update(dets([box_at(100, 100)]), 0).track_id[0]
    b = tr.update(dets([box_at(100, 100)]), 1, is_cut=True).track_id[0]
    assert a != b and tr.n_live == 1


def test_low_confidence_detection_continues_track_but_does_not_start_one():
    tr = ByteTracker(FPS)
    tid = tr.update(dets([box_at(100, 100)], [0.9]), 0).track_id[0]
    out = tr.update(dets([box_at(102, 100), box_at(400, 100)], [0.3, 0.3]), 1)
    assert out.track_id.tolist() == [tid]
    np.testing.assert_allclose(out.xyxy[0], box_at(102, 100))
    assert out.frame_index.tolist() == [1]


def test_classes_do_not_swap_tracks_and_ids_are_shared():
    ids = itertools.count(1)
    faces, objs = ByteTracker(FPS, ids=ids), ByteTracker(FPS, ids=ids)
    f = faces.update(dets([box_at(100, 100)], cls=FACE_CLASS_ID), 0)
    o = objs.update(dets([box_at(100, 100)], cls=0), 0)
    assert f.track_id[0] != o.track_id[0]
    tr = ByteTracker(FPS)
    p = tr.update(dets([box_at(100, 100)], cls=0), 0).track_id[0]
    out = tr.update(dets([box_at(100, 100)], cls=FACE_CLASS_ID), 1)
    assert out.track_id[0] != p  # a face never continues a person track


def test_sparse_updates_use_frame_gaps():
    tr = ByteTracker(10.0)
    tid = tr.update(dets([box_at(100, 100)]), 0).track_id[0]
    for f in range(3, 30, 3):  # detector every third frame, moving 3 px/frame
        out = tr.update(dets([box_at(100 + 3 * f, 100)]), f)
        assert out.track_id.tolist() == [tid]


def test_frame_index_must_not_go_back():
    tr = ByteTracker(FPS)
    tr.update(dets([box_at(100, 100)]), 5)
    with pytest.raises(ValueError, match="went back"):
        tr.update(dets([box_at(100, 100)]), 4)


def test_face_in_person_score_values():
    face = np.array([[40, 10, 60, 30]], np.float32)  # 20x20
    person = np.array([[30, 0, 90, 200], [50, 0, 110, 200], [30, 100, 90, 300]], np.float32)
    s = face_in_person_score(face, person)
    np.testing.assert_allclose(s, [[1.0, 0.5, 0.0]], atol=1e-6)  # third: face below the head zone


def test_link_faces_to_people_by_vote():
    faces, people = [], []
    for f in range(6):
        faces.append(Detections([[40, 10, 60, 30], [240, 15, 260, 35]], [0.9, 0.9], [FACE_CLASS_ID] * 2,
                                np.full(2, f), track_id=[11, 12]))  # fmt: skip
        people.append(Detections([[200, 0, 300, 200], [0, 0, 100, 200]], [0.9, 0.9], [0, 0],
                                 np.full(2, f), track_id=[21, 22]))  # fmt: skip
    links = link_faces_to_people(Detections.merge(faces), Detections.merge(people))
    assert links == {11: 22, 12: 21}
