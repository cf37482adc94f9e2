"""Appearance re-identification: fragments of one subject become one identity, others stay apart."""

from __future__ import annotations

import numpy as np

from autofocuspull.core.labels import COCO_NAMES
from autofocuspull.core.types import Detections, Frame
from autofocuspull.perception.reid import Fragment, ReidConfig, appearance, similarity, stitch
from autofocuspull.perception.subjects import Perceiver, build_subject_tracks, dominant_class

FPS = 25.0
CUP, PHONE = COCO_NAMES.index("cup"), COCO_NAMES.index("cell phone")


def painted(colour_top, colour_bottom, h=80, w=40):
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2], img[h // 2 :] = colour_top, colour_bottom
    return img


def test_appearance_halves_and_similarity_values():
    img = painted((200, 30, 30), (30, 30, 200))
    d = appearance(img, np.array([[0, 0, 40, 80]]))[0]
    half = len(d) // 2
    np.testing.assert_allclose([d[:half].sum(), d[half:].sum()], [1.0, 1.0], rtol=1e-6)
    assert similarity(d, d) == 1.0
    flipped = appearance(painted((30, 30, 200), (200, 30, 30)), np.array([[0, 0, 40, 80]]))[0]
    assert similarity(d, flipped) == 0.0  # same colours, other halves: another subject
    assert not appearance(img, np.array([[0, 0, 2, 2]])).any()  # too small to describe


def frag(tid, start, end, box, desc, group=1):
    b = np.asarray(box, np.float64)
    return Fragment(tid, group, start, end, b, b, np.asarray(desc, np.float32))


def desc(top, bottom):
    return appearance(painted(top, bottom), np.array([[0, 0, 40, 80]]))[0]


def test_stitch_near_far_and_never_across_cuts_or_in_parallel():
    red, blue = desc((200, 30, 30), (200, 30, 30)), desc((30, 30, 200), (30, 30, 200))
    box = [100, 100, 140, 180]
    frags = [
        frag(1, 0, 50, box, red),
        frag(2, 70, 120, [110, 100, 150, 180], red),  # back after 0.8 s, in place: same subject
        frag(3, 130, 200, box, blue),  # something else in the same place: not the same
        frag(4, 300, 350, [400, 100, 440, 180], red),  # back after 7 s elsewhere, same look: same
        frag(5, 90, 110, [400, 100, 440, 180], red),  # in parallel with 2: can only be one of them
    ]
    root = stitch(frags, FPS)
    assert root[1] == root[2] == 1 and root[3] == 3 and root[5] == 5
    assert root[4] == 1
    assert stitch(frags, FPS, cuts=[60])[2] == 2  # never across a cut
    assert stitch(frags, FPS, config=ReidConfig(max_gap_s=5.0))[4] == 4  # gone too long: new entrance


def test_label_flip_joins_person_and_object_fragments_only_when_near():
    look = desc((120, 90, 60), (120, 90, 60))
    a = frag(1, 0, 40, [100, 100, 160, 200], look, group=0)  # a bird taken for a "person"...
    b = frag(2, 45, 90, [105, 100, 165, 200], look, group=1)  # ...then for a "teddy bear"
    far = frag(3, 45, 90, [400, 100, 460, 200], look, group=1)
    assert stitch([a, b], FPS)[2] == 1
    assert stitch([a, far], FPS)[3] == 3


def test_one_thing_detected_under_two_labels_at_once_is_one_identity():
    look = desc((120, 90, 60), (120, 90, 60))
    frames = np.arange(0, 30)
    boxes = np.tile([100.0, 100, 160, 200], (30, 1))
    a = Fragment(1, 0, 0, 29, boxes[0], boxes[-1], look, frames, boxes)  # "person"
    b = Fragment(2, 1, 0, 29, boxes[0] + 2, boxes[-1] + 2, look, frames, boxes + 2)  # "bird", same box
    c = Fragment(3, 1, 0, 29, boxes[0] + 200, boxes[-1] + 200, look, frames, boxes + 200)  # elsewhere
    root = stitch([a, b, c], FPS)
    assert root == {1: 1, 2: 1, 3: 3}


def test_dominant_class_by_summed_confidence():
    d = Detections(np.zeros((5, 4)), [0.9, 0.8, 0.9, 0.3, 0.3], [CUP, CUP, CUP, PHONE, PHONE])
    assert dominant_class(d) == CUP


def test_product_in_a_hand_keeps_one_id_through_dropout_jumps_and_label_flips():
    # A blue mug swung in a hand: the detector loses it for 1.4 s (longer than the tracker's 1 s
    # buffer), it reappears moved 60 px (the tracker's IoU gate fails), and its label flickers
    # between "cup" and "cell phone". Before: three or more tracks, hence three subjects.
    rng = np.random.default_rng(0)
    bg = rng.integers(90, 110, (240, 320, 3), np.uint8)

    def box_at(t):
        return [100 + 2 * t + (60 if t >= 60 else 0), 80, 150 + 2 * t + (60 if t >= 60 else 0), 150]

    frames = []
    for t in range(110):
        img = bg.copy()
        x0, y0, x1, y1 = box_at(t)
        img[y0:y1, x0:x1] = (30, 60, 200)
        img[y0 + 30 : y1, x0:x1] = (230, 230, 230)  # a white band on the mug
        frames.append(img)

    index_of = {id(im): t for t, im in enumerate(frames)}

    def objects(rgb):  # run on every 3rd frame (the default object_every)
        t = index_of[id(rgb)]
        if 25 <= t < 60:  # dropout (1.4 s)
            return Detections.empty()
        cls = PHONE if t % 2 == 0 else CUP
        return Detections([box_at(t)], [0.8 if cls == CUP else 0.6], [cls])

    per = Perceiver(lambda rgb: Detections.empty(), objects, fps=FPS, image_size=(320, 240))
    for t, im in enumerate(frames):
        per.update(Frame(t, t / FPS, im))
    tracks, _ = per.finish()
    raw = build_subject_tracks(per.tracker_detections, 110, image_size=(320, 240), fps=FPS)
    assert len(raw) >= 2  # the tracker alone splits it
    assert list(tracks.label) == ["cup"]
    assert tracks.present[0, :25].all() and tracks.present[0, 60:108].all()
