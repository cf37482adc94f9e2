"""Class-agnostic subjects: a thing no detector names becomes a tracked, focusable "object"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autofocuspull.core.labels import OBJECT_CLASS_ID
from autofocuspull.core.types import Detections, Frame
from autofocuspull.io.synth import toy_approach
from autofocuspull.perception.detect._common import iou_xyxy
from autofocuspull.perception.salient import SalientConfig, salient_proposals, spectral_residual
from autofocuspull.perception.subjects import Perceiver

FPS = 25.0


def test_spectral_residual_marks_the_odd_one_out():
    rng = np.random.default_rng(0)
    img = np.tile(np.sin(np.arange(64) / 2.0)[None, :], (64, 1)).astype(np.float32)  # regular stripes
    img += 0.05 * rng.standard_normal(img.shape).astype(np.float32)
    img[28:36, 40:48] = 2.0  # one blob that does not fit the pattern
    sal = spectral_residual(img, 1.0)
    assert sal[28:36, 40:48].mean() > 3 * sal.mean()


def test_proposals_follow_the_toy_and_leave_known_subjects_alone():
    frames, boxes = toy_approach(60)
    prev, hits = None, 0
    for i in range(0, 60, 3):
        d, prev = salient_proposals(frames[i], prev, np.zeros((0, 4)))
        assert (d.class_id == OBJECT_CLASS_ID).all()
        hits += len(d) > 0 and iou_xyxy(d.xyxy, boxes[i : i + 1]).max() > 0.3
    assert hits >= 18  # of 20 analysed frames
    _, prev = salient_proposals(frames[27], None, np.zeros((0, 4)))
    assert len(salient_proposals(frames[30], prev, np.zeros((0, 4)))[0]) == 1  # (the reference)
    # a shot's first frame (no motion yet), or a still scene: nothing moves, no proposal
    assert len(salient_proposals(frames[30], None, np.zeros((0, 4)))[0]) == 0
    _, still = salient_proposals(frames[30], None, np.zeros((0, 4)))
    assert len(salient_proposals(frames[30], still, np.zeros((0, 4)))[0]) == 0
    # a detector already found it: no proposal on top of it
    d, _ = salient_proposals(frames[30], prev, boxes[30:31], np.zeros((0, 4)))
    assert not len(d) or iou_xyxy(d.xyxy, boxes[30:31]).max() < 0.3
    # a subject-sized detection elsewhere in the frame: proposals are not needed
    big = np.array([[0, 0, 100, 100]], np.float32)
    assert len(salient_proposals(frames[30], prev, big)[0]) == 0
    off = SalientConfig(enabled=False)
    assert len(salient_proposals(frames[30], prev, np.zeros((0, 4)), config=off)[0]) == 0


def _nothing(rgb):
    return Detections.empty()


def test_perceiver_makes_one_object_subject_of_the_toy():
    frames, boxes = toy_approach(75)
    per = Perceiver(_nothing, _nothing, fps=FPS, image_size=(320, 240))
    for i, im in enumerate(frames):
        per.update(Frame(i, i / FPS, im))
    tracks, cuts = per.finish()
    assert cuts == []
    assert list(tracks.label) == ["object"]  # one subject, one identity
    iou = np.array([iou_xyxy(tracks.xyxy[0, t : t + 1], boxes[t : t + 1])[0, 0] for t in range(75)])
    assert np.mean(np.nan_to_num(iou) > 0.3) > 0.8


def test_planner_prefers_the_object_to_the_background(tmp_path: Path):
    # The pipeline after perception (heuristic depth, saliency cues, the default planner) on a clip
    # where no detector finds anything: before, no subject and focus on the 20 m background.
    from autofocuspull.core.types import PlanInputs
    from autofocuspull.cues import compute_cues
    from autofocuspull.io import probe
    from autofocuspull.io.synth import write_clip
    from autofocuspull.perception.depth import heuristic_source
    from autofocuspull.perception.distance import assign_subject_distances
    from autofocuspull.plan import PlannerConfig, plan_focus

    frames, boxes = toy_approach(75)
    clip = tmp_path / "toy.mp4"
    write_clip(clip, frames, rate=FPS)
    info = probe(clip)
    per = Perceiver(_nothing, _nothing, fps=FPS, image_size=(320, 240))
    for i, im in enumerate(frames):
        per.update(Frame(i, i / FPS, im))
    tracks, cuts = per.finish(info.n_frames)
    depth = heuristic_source(tracks, (240, 320), (120, 160), reason="test")
    assign_subject_distances(tracks, depth.depth_m_at, (320, 240), fps=FPS, cuts=cuts)
    cues = compute_cues(None, tracks, None, info.pts_s, (320, 240))
    plan = plan_focus(PlanInputs(info, tracks, cues, [], "heuristic", background_m=20.0), PlannerConfig())
    fx, fy = plan.focus_xy[:, 0] * 320, plan.focus_xy[:, 1] * 240
    x0, y0, x1, y1 = (boxes + np.array([-5, -5, 5, 5])).T  # within 5 px of the toy box
    inside = (fx >= x0) & (fx <= x1) & (fy >= y0) & (fy <= y1)
    assert inside[10:].mean() > 0.9  # (the first frames may still be finding it)
    assert (plan.focus_m[10:] < 10.0).all()  # never the 20 m background
