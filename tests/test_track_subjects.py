"""Tracked detections -> SubjectTracks, focus distances and the streaming Perceiver."""

from __future__ import annotations

import numpy as np
import pytest

from autofocuspull.core.labels import FACE_CLASS_ID
from autofocuspull.core.types import Detections, Frame
from autofocuspull.perception.depth.calibrate import prior_distances_from_tracks
from autofocuspull.perception.subjects import (
    DistanceConfig,
    Perceiver,
    PerceiverConfig,
    SubjectConfig,
    assign_subject_distances,
    build_subject_tracks,
    interpolate_gaps,
    region_median,
    smooth_distance,
)

FPS = 10.0
SIZE = (400, 300)  # width, height


def tracked(rows) -> Detections:
    """rows: (frame, track_id, class_id, xyxy, conf, landmarks or None)."""
    lm = [np.full((5, 2), np.nan) if r[5] is None else r[5] for r in rows]
    return Detections(
        [r[3] for r in rows], [r[4] for r in rows], [r[2] for r in rows], [r[0] for r in rows],
        np.asarray(lm, np.float32), [r[1] for r in rows],
    )  # fmt: skip


def face_lm(x0, y0):
    return np.array(
        [[x0 + 5, y0 + 8], [x0 + 15, y0 + 8], [x0 + 10, y0 + 12], [x0 + 6, y0 + 16], [x0 + 14, y0 + 16]]
    )


def test_interpolate_gaps_linear_and_bounded():
    v = np.array([0.0, np.nan, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan, 8.0, np.nan])
    out = interpolate_gaps(v[:, None], max_gap=3)[:, 0]
    np.testing.assert_allclose(out[:4], [0, 1, 2, 3])
    assert np.isnan(out[4:8]).all() and out[8] == 8 and np.isnan(out[9])


def scene(n=20, gap=()):
    """One person (track 5) with a face (track 7) in every frame, a cup (track 9), a dining table."""
    rows = []
    for f in range(n):
        if f in gap:
            continue
        rows.append((f, 5, 0, [100, 50, 200, 290], 0.9, None))
        rows.append((f, 7, FACE_CLASS_ID, [140, 60, 160, 80], 0.8, face_lm(140, 60)))
        rows.append((f, 9, 41, [300, 200, 330, 240], 0.7, None))
        rows.append((f, 11, 60, [0, 150, 400, 300], 0.9, None))
    rows.append((3, 13, 0, [350, 0, 380, 50], 0.9, None))  # a one-frame spurious person
    return tracked(rows)


def test_build_subject_tracks_person_face_object():
    tr = build_subject_tracks(scene(gap=(6, 7)), 20, image_size=SIZE, fps=FPS)
    assert tr.track_id.tolist() == [5, 9] and tr.label == ["person", "cup"]  # table, spurious dropped
    assert tr.present.all()  # the 2-frame gap is interpolated
    np.testing.assert_allclose(tr.xyxy[0, 6], [100, 50, 200, 290])
    np.testing.assert_allclose(tr.face_xyxy[0, 7], [140, 60, 160, 80])
    np.testing.assert_allclose(tr.focus_xy[0, 0], [150 / 400, 68 / 300], rtol=1e-6)  # eyes midpoint
    np.testing.assert_allclose(tr.focus_xy[1, 0], [315 / 400, (200 + 0.12 * 40) / 300], rtol=1e-6)
    np.testing.assert_allclose(tr.confidence[0, 6], 0.9)
    assert np.isnan(tr.distance_m).all()
    assert not tr.has_face[1].any()


def test_a_faceless_person_cut_by_the_top_of_the_frame_is_focused_on_the_chest():
    """No face: a whole figure's focus point is its head (0.12 down the box); a torso whose box the
    frame's top cuts has no head in frame, so the point is a quarter down, on the chest. A cup at
    the top edge keeps the upper-centre rule (the cropped rule is for people)."""
    rows = [(f, 1, 0, (100, 40, 200, 240), 0.9, None) for f in range(10)]  # a whole figure
    rows += [(f, 2, 0, (250, 0, 390, 200), 0.9, None) for f in range(10)]  # a torso, head cut off
    rows += [(f, 3, 41, (10, 0, 50, 40), 0.9, None) for f in range(10)]  # a cup at the top edge
    tr = build_subject_tracks(tracked(rows), 10, image_size=SIZE, fps=FPS)
    np.testing.assert_allclose(tr.focus_xy[0, 0], [150 / 400, (40 + 0.12 * 200) / 300], rtol=1e-6)
    np.testing.assert_allclose(tr.focus_xy[1, 0], [320 / 400, (0.25 * 200) / 300], rtol=1e-6)
    np.testing.assert_allclose(tr.focus_xy[2, 0], [30 / 400, (0.12 * 40) / 300], rtol=1e-6)


def test_long_gap_stays_absent_and_unlinked_face_becomes_subject():
    rows = [(f, 3, FACE_CLASS_ID, [10, 10, 30, 30], 0.9, face_lm(10, 10)) for f in range(10)]
    rows += [(f, 3, FACE_CLASS_ID, [10, 10, 30, 30], 0.9, face_lm(10, 10)) for f in range(25, 35)]
    tr = build_subject_tracks(
        tracked(rows), 40, image_size=SIZE, fps=FPS, config=SubjectConfig(max_gap_s=1.0)
    )
    assert tr.label == ["person"] and tr.has_face[0].sum() == 20
    assert not tr.present[0, 10:25].any() and not tr.present[0, 35:].any()


def test_distance_callback_fills_distances():
    tr = build_subject_tracks(
        scene(), 20, image_size=SIZE, fps=FPS, distance_m=lambda t: np.full((len(t), 20), 2.5)
    )
    np.testing.assert_allclose(tr.distance_m, 2.5)


def test_region_median_robust_to_outliers_and_mask():
    depth = np.full((10, 10), 3.0, np.float32)
    depth[2, 2] = 100.0  # one wild pixel
    depth[5:, :] = 7.0
    assert region_median(depth, np.array([0, 0, 10, 5]), None, 4) == 3.0
    mask = np.zeros((10, 10), bool)
    mask[6:, 6:] = True
    assert region_median(depth, np.array([0, 0, 10, 10]), mask, 4) == 7.0
    assert np.isnan(region_median(depth, np.array([0, 0, 1, 1]), None, 4))


def test_smooth_distance_removes_spike_and_respects_cuts():
    d = np.r_[np.full(10, 2.0), np.full(10, 6.0)]
    d[4] = 9.0  # one-frame glitch
    out = smooth_distance(d, FPS, DistanceConfig(), cuts=[10])
    np.testing.assert_allclose(out[:10], 2.0, atol=1e-6)  # median removes the spike
    np.testing.assert_allclose(out[10:], 6.0, atol=1e-6)  # no blur across the cut
    noisy = 3.0 + 0.2 * np.random.default_rng(0).standard_normal(200)
    assert np.std(smooth_distance(noisy, FPS, DistanceConfig())) < 0.5 * np.std(noisy)


def test_assign_subject_distances_uses_face_core_and_object_core():
    tr = build_subject_tracks(scene(), 20, image_size=SIZE, fps=FPS)
    depth = np.full((150, 200), 9.0, np.float32)  # half resolution
    depth[30:40, 70:80] = 1.5  # face (140..160, 60..80) at half res
    depth[100:120, 150:165] = 4.0  # cup
    assign_subject_distances(tr, lambda t: depth, SIZE, fps=FPS)
    np.testing.assert_allclose(tr.distance_m[0], 1.5, rtol=1e-5)
    np.testing.assert_allclose(tr.distance_m[1], 4.0, rtol=1e-5)


def test_assign_subject_distances_person_mask_core():
    rows = [(f, 5, 0, [100, 50, 200, 290], 0.9, None) for f in range(10)]
    tr = build_subject_tracks(tracked(rows), 10, image_size=SIZE, fps=FPS)
    depth = np.full((300, 400), 8.0, np.float32)
    depth[:, 144:156] = 2.0  # the person's thin body; the box core is mostly background
    prob = np.zeros((300, 400), np.float32)
    prob[:, 142:158] = 1.0  # mask 2 px wider than the body: its eroded core is all body
    assign_subject_distances(tr, lambda t: depth, SIZE, fps=FPS, person_mask_at=lambda t: prob)
    np.testing.assert_allclose(tr.distance_m[0], 2.0, rtol=1e-5)
    assign_subject_distances(tr, lambda t: depth, SIZE, fps=FPS)
    np.testing.assert_allclose(tr.distance_m[0], 8.0, rtol=1e-5)


def test_prior_distances():
    tr = build_subject_tracks(scene(), 20, image_size=SIZE, fps=FPS)
    d = prior_distances_from_tracks(tr, (SIZE[1], SIZE[0]), focal_px=500.0)
    np.testing.assert_allclose(d[0], 500.0 * 0.16 / 20.0, rtol=1e-6)  # face 20 px wide
    assert np.isnan(d[1]).all()  # cup: no prior


class _FakeDetector:
    def __init__(self, make):
        self.make = make
        self.calls = 0

    def __call__(self, rgb):
        self.calls += 1
        return self.make(rgb)


def test_perceiver_scales_boxes_runs_objects_every_k_and_resets_at_cut():
    face = _FakeDetector(
        lambda rgb: Detections(
            [[20, 10, 30, 20]], [0.9], [FACE_CLASS_ID], landmarks_px=face_lm(20, 10)[None] / 2
        )
    )
    person = _FakeDetector(lambda rgb: Detections([[10, 5, 40, 90]], [0.9], [0]))
    per = Perceiver(
        face, person, fps=FPS, image_size=(200, 200), scale=2.0, config=PerceiverConfig(object_every=2)
    )
    rng = np.random.default_rng(0)
    shot_a, shot_b = (
        rng.integers(0, 80, (100, 100, 3), np.uint8),
        rng.integers(150, 255, (100, 100, 3), np.uint8),
    )
    shot_b[..., 0] = 0
    for i in range(30):
        per.update(Frame(i, i / FPS, shot_a if i < 15 else shot_b))
    tracks, cuts = per.finish()
    assert cuts == [15]
    assert face.calls == 30 and person.calls == 16  # frames 0,2,..,14 and 15,17,..,29
    assert len(tracks) == 2  # one person per shot: new id after the cut
    np.testing.assert_allclose(tracks.face_xyxy[0, 0], [40, 20, 60, 40])
    np.testing.assert_allclose(tracks.xyxy[0, 1], [20, 10, 80, 180])  # interpolated, scaled
    assert tracks.present[0, :15].all() and not tracks.present[0, 15:].any()
    assert tracks.present[1, 15:].all()


def test_build_subject_tracks_empty():
    tr = build_subject_tracks(Detections.empty(), 5, image_size=SIZE, fps=FPS)
    assert len(tr) == 0 and tr.n_frames == 5


def test_assign_subject_distances_checks_depth_shape():
    tr = build_subject_tracks(scene(), 20, image_size=SIZE, fps=FPS)
    with pytest.raises(ValueError, match="expected shape"):
        assign_subject_distances(tr, lambda t: np.zeros((3, 4, 5)), SIZE, fps=FPS)
