"""Baseline planners on hand-made tracks (100x100 px frames, 10 fps)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose

from autofocuspull.core.types import CueSeries, FocusPlan, Lens, PlanInputs, SubjectTracks, VideoInfo
from autofocuspull.plan.baselines import (
    BASELINE_PLANNERS,
    BaselineConfig,
    debounce_choice,
    motion_score,
    plan_center,
    plan_first_subject,
    plan_from_choice,
    plan_largest_face,
    plan_most_motion,
    shot_index,
    window_sum,
)

T = 20


def video(n: int = T) -> VideoInfo:
    return VideoInfo(
        path="x.mp4", width=100, height=100, coded_width=100, coded_height=100, rotation_deg=0,
        frame_rate=Fraction(10), time_base=Fraction(1, 10), pts_s=np.arange(n) / 10.0,
        duration_s=n / 10.0, codec="h264", container="mp4",
    )  # fmt: skip


LENS = Lens(f_number=2.0)


def inputs(tracks: SubjectTracks, cuts_s=(), lens=LENS) -> PlanInputs:
    n = tracks.n_frames
    s = len(tracks)
    cues = CueSeries(np.arange(n) / 10.0, tracks.track_id, np.zeros(n), np.zeros((s, n)), np.zeros((s, n)))
    return PlanInputs(video(n), tracks, cues, list(cuts_s), "test-depth", background_m=10.0, lens=lens)


def two_people() -> SubjectTracks:
    """id 7 on the left (face 10x10 px, 2 m), id 9 on the right (face 5x5 px, 4 m), both always present."""
    tr = SubjectTracks.allocate([7, 9], ["person", "person"], T)
    tr.xyxy[0] = (10, 10, 40, 90)
    tr.face_xyxy[0] = (20, 10, 30, 20)
    tr.focus_xy[0] = (0.25, 0.15)
    tr.distance_m[0] = 2.0
    tr.xyxy[1] = (60, 10, 90, 90)
    tr.face_xyxy[1] = (70, 10, 75, 15)
    tr.focus_xy[1] = (0.725, 0.125)
    tr.distance_m[1] = 4.0
    return tr


def test_largest_face_pulls_when_the_other_face_grows_for_long():
    tr = two_people()
    tr.face_xyxy[1, 10:] = (60, 10, 80, 30)  # 20x20 from 1.0 s on: larger than 10x10
    plan = plan_largest_face(inputs(tr))
    assert isinstance(plan, FocusPlan)
    assert plan.subject_id.tolist() == [7] * 10 + [9] * 10
    assert_allclose(plan.focus_m, [2.0] * 10 + [4.0] * 10)
    assert_allclose(plan.focus_xy[0], (0.25, 0.15))
    assert_allclose(plan.focus_xy[15], (0.725, 0.125))
    assert_allclose(plan.f_number, np.full(T, 2.0))
    assert len(plan.pulls) == 1
    p = plan.pulls[0]
    assert (p.start_s, p.end_s, p.from_id, p.to_id, p.from_m, p.to_m) == (1.0, 1.0, 7, 9, 2.0, 4.0)
    assert "largest face" in p.reason and "#7" in p.reason and "#9" in p.reason
    assert plan.meta["planner"] == "largest-face"
    assert plan.depth_source == "test-depth"


def test_short_blip_is_ignored_but_long_enough_run_is_taken():
    tr = two_people()
    tr.face_xyxy[1, 5:8] = (60, 10, 80, 30)  # 0.5..0.7 s: a 0.2 s run, shorter than 0.5 s
    plan = plan_largest_face(inputs(tr))
    assert plan.subject_id.tolist() == [7] * T and plan.pulls == []
    plan = plan_largest_face(inputs(tr), BaselineConfig(min_switch_s=0.0))
    assert plan.subject_id.tolist() == [7] * 5 + [9] * 3 + [7] * 12
    assert [(p.start_s, p.from_id, p.to_id) for p in plan.pulls] == [(0.5, 7, 9), (0.8, 9, 7)]


def test_change_at_a_cut_is_a_hard_switch_without_pull():
    tr = two_people()
    tr.face_xyxy[1, 10:] = (60, 10, 80, 30)
    plan = plan_largest_face(inputs(tr, cuts_s=[1.0]))
    assert plan.subject_id.tolist() == [7] * 10 + [9] * 10
    assert plan.pulls == []
    assert plan.cuts_s == [1.0]


def test_a_shot_starts_on_its_own_choice_even_if_short():
    tr = two_people()
    tr.face_xyxy[1, 10:12] = (60, 10, 80, 30)  # 9 larger at 1.0, 1.1 only; a cut at 1.0
    plan = plan_largest_face(inputs(tr, cuts_s=[1.0]))
    assert plan.subject_id.tolist() == [7] * 10 + [9] * 2 + [7] * 8
    assert [(p.start_s, p.from_id, p.to_id) for p in plan.pulls] == [(1.2, 9, 7)]  # 7 lasts to the end


def test_no_face_means_background_and_nan_focus_point():
    tr = two_people()
    tr.face_xyxy[:] = np.nan
    plan = plan_largest_face(inputs(tr))
    assert (plan.subject_id == -1).all()
    assert_allclose(plan.focus_m, np.full(T, 10.0))
    assert np.isnan(plan.focus_xy).all()
    assert plan.pulls == []


def test_empty_tracks_give_a_background_plan():
    plan = plan_center(inputs(SubjectTracks.empty(T)))
    assert (plan.subject_id == -1).all() and plan.pulls == [] and np.isnan(plan.focus_xy).all()
    assert_allclose(plan.focus_m, np.full(T, 10.0))


def test_center_uses_box_centre_without_focus_point_and_background_without_distance():
    tr = two_people()
    tr.focus_xy[:] = np.nan  # box centres: id 7 at (0.25, 0.5) -> 0.25 away; id 9 at (0.75, 0.5)
    tr.xyxy[1, 12:] = (40, 40, 70, 60)  # id 9 moves to (0.55, 0.5) from 1.2 s: 0.05 away
    tr.distance_m[1] = np.nan
    plan = plan_center(inputs(tr))
    assert plan.subject_id.tolist() == [7] * 12 + [9] * 8
    assert_allclose(plan.focus_xy[0], (0.25, 0.5))
    assert_allclose(plan.focus_xy[19], (0.55, 0.5))
    assert_allclose(plan.focus_m[12:], 10.0)  # NaN distance: background
    assert [(p.start_s, p.to_id, p.to_m) for p in plan.pulls] == [(1.2, 9, 10.0)]


def test_most_motion_follows_the_moving_subject():
    tr = two_people()
    x = np.arange(T, dtype=np.float32)  # id 9 moves 1 px per frame to the right from 1.0 s
    tr.xyxy[1, 10:, 0] = 60 + x[10:] - 10
    tr.xyxy[1, 10:, 2] = 90 + x[10:] - 10
    score = motion_score(tr, inputs(tr), window_s=0.0)
    diag = np.hypot(100, 100)
    assert_allclose(score[1, 11], 1.0 / diag / 0.1, rtol=1e-5)  # 1 px per 0.1 s, in diagonals/s
    assert_allclose(score[0], 0.0)
    plan = plan_most_motion(inputs(tr), BaselineConfig(motion_window_s=0.0))
    assert plan.subject_id.tolist() == [7] * 11 + [9] * 9  # motion measured from frame 11 on
    assert [(p.start_s, p.from_id, p.to_id) for p in plan.pulls] == [(1.1, 7, 9)]


def test_window_sum_matches_a_hand_sum():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert_allclose(window_sum(x, 1), [[3.0, 6.0, 9.0, 7.0]])
    assert_allclose(window_sum(x, 0), x)
    assert_allclose(window_sum(x, 5), [[10.0] * 4])


def test_first_subject_is_held_until_it_leaves():
    tr = two_people()
    tr.xyxy[0, :3] = np.nan  # id 7 (bigger) arrives at 0.3 s; id 9 is there from the start
    tr.xyxy[1, 15:] = np.nan  # id 9 leaves at 1.5 s
    plan = plan_first_subject(inputs(tr))
    assert plan.subject_id.tolist() == [9] * 15 + [7] * 5
    assert [(p.start_s, p.from_id, p.to_id) for p in plan.pulls] == [(1.5, 9, 7)]


def test_first_subject_ties_go_to_the_larger_box():
    tr = two_people()
    tr.xyxy[1] = (50, 0, 100, 100)  # id 9's box is larger; both seen from frame 0
    assert (plan_first_subject(inputs(tr)).subject_id == 9).all()


def test_plan_from_choice_treats_absent_rows_as_none():
    tr = two_people()
    tr.xyxy[0, 4:6] = np.nan
    plan = plan_from_choice(inputs(tr), np.zeros(T, np.int64), lambda a, b: f"{a}->{b}", "manual")
    assert plan.subject_id.tolist() == [7] * 4 + [-1] * 2 + [7] * 14
    assert [(p.start_s, p.reason, p.to_m) for p in plan.pulls] == [(0.4, "0->-1", 10.0), (0.6, "-1->0", 2.0)]
    with pytest.raises(ValueError, match=r"expected shape \(20,\)"):
        plan_from_choice(inputs(tr), np.zeros(5, np.int64), lambda a, b: "", "manual")


def test_debounce_switches_when_the_held_subject_leaves():
    present = np.ones((3, 10), bool)
    present[0, 3:] = False
    times = np.arange(10) / 10.0
    choice = np.array([0, 0, 1, 1, 2, 2, 2, 2, 2, 2])  # short run of 1 (0.1 s); 0 is gone from frame 3
    out = debounce_choice(choice, present, times, np.zeros(10, np.int64), 0.5)
    assert out.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 2]
    # the same short run while 0 stays: 0 is held through it
    out = debounce_choice(choice, np.ones((3, 10), bool), times, np.zeros(10, np.int64), 0.5)
    assert out.tolist() == [0, 0, 0, 0, 2, 2, 2, 2, 2, 2]


def test_shot_index():
    assert shot_index(np.array([0.0, 0.9, 1.0, 1.1, 2.5]), [1.0, 2.0]).tolist() == [0, 0, 1, 1, 2]


def test_registry_names_and_signature():
    assert sorted(BASELINE_PLANNERS) == ["center", "first-subject", "largest-face", "most-motion"]
    for name, fn in BASELINE_PLANNERS.items():
        plan = fn(inputs(two_people()), None)
        assert plan.meta["planner"] == name
        assert plan.n_frames == T
    with pytest.raises(TypeError, match="BaselineConfig"):
        plan_center(inputs(two_people()), {"min_switch_s": 1})
