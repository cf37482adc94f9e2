"""Grades loader, box lookup and the seven metrics on hand-made plans with hand-computed figures."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from autofocuspull.core.errors import ValidationError
from autofocuspull.core.types import FocusPlan, Pull, SubjectTracks
from autofocuspull.evaluate.grades import load_grades, parse_grades
from autofocuspull.evaluate.metrics import METRIC_NAMES, nearest_frame, score_details, score_plan

# Clip of 6 s at 10 fps (frames at 0.0, 0.1, ..., 5.9), one cut at 3.0 s.
# a: moves right from 0 s to 2 s, absent from 3 s, back at 4 s.  b: one box (before the cut only).
# c: appears at the cut.  Holds: a [0, 1), b [1.5, 3), c [3, 4.5), a [5, 6).
# Graded pulls: a->b at 1.0 (no cut between 1.0 and 1.5); b->c is a change at the cut (not a pull);
# c->a at 4.5.  So 2 graded pulls.
GRADES = {
    "format": "autofocuspull.grades/1",
    "video": "clip.mp4",
    "notes": "hand-made",
    "cuts_s": [3.0],
    "subjects": {
        "a": {
            "description": "left",
            "boxes": [
                [0.0, 0.0, 0.0, 0.4, 1.0],
                [2.0, 0.2, 0.0, 0.6, 1.0],
                [3.0, None],
                [4.0, 0.0, 0.0, 0.4, 1.0],
            ],
        },
        "b": {"boxes": [[0.0, 0.6, 0.0, 1.0, 1.0]]},
        "c": {"boxes": [[3.0, 0.5, 0.0, 1.0, 1.0]]},
    },
    "holds": [
        {"start_s": 0.0, "end_s": 1.0, "subject": "a"},
        {"start_s": 1.5, "end_s": 3.0, "subject": "b"},
        {"start_s": 3.0, "end_s": 4.5, "subject": "c"},
        {"start_s": 5.0, "end_s": 6.0, "subject": "a"},
    ],
}

IN_A = (0.2, 0.5)
IN_BC = (0.8, 0.5)
NOWHERE = (0.3, 0.5)  # outside b's and c's boxes


def make_plan(
    focus_xy: np.ndarray, pulls: list[Pull], fps: float = 10.0, duration_s: float | None = 6.0
) -> FocusPlan:
    t = len(focus_xy)
    times = np.arange(t) / fps
    video = {} if duration_s is None else {"duration_s": duration_s}
    return FocusPlan(
        times_s=times,
        subject_id=np.zeros(t, np.int64),
        focus_xy=np.asarray(focus_xy, np.float32),
        focus_m=np.full(t, 2.0, np.float32),
        f_number=np.full(t, 1.4, np.float32),
        pulls=pulls,
        subjects=SubjectTracks.empty(t),
        cuts_s=[3.0],
        depth_source="test",
        video=video,
    )


def reference_focus() -> np.ndarray:
    xy = np.full((60, 2), np.nan, np.float32)
    xy[0:10] = IN_A  # hold a: 10 hits
    xy[10:15] = IN_BC  # don't care
    xy[15:20] = NOWHERE  # hold b: 5 misses
    xy[20:30] = IN_BC  # hold b: 10 hits
    xy[30:45] = IN_BC  # hold c: 15 hits
    xy[45:50] = IN_BC  # don't care
    xy[50:55] = IN_A  # hold a: 5 hits
    # 55..59 stay NaN: hold a, 5 misses (no focus point)
    return xy


def reference_pulls() -> list[Pull]:
    return [
        Pull(1.2, 2.0, 0, 1, "matches a->b at 1.0 (d=0.2), end focus frame 20 inside b"),
        Pull(1.4, 2.1, 0, 1, "would match a->b (d=0.4) but the greedy match took the closer one"),
        Pull(2.8, 3.2, 1, 2, "across the cut at 3.0: false positive"),
        Pull(4.7, 5.0, 2, 0, "matches c->a at 4.5 (d=0.2), end focus frame 50 inside a"),
    ]


@pytest.fixture
def grades():
    return parse_grades(copy.deepcopy(GRADES), "clip.grades.json")


def test_graded_pulls_skip_changes_at_cuts(grades):
    pulls = grades.pulls
    assert [(p.onset_s, p.from_subject, p.to_subject) for p in pulls] == [(1.0, "a", "b"), (4.5, "c", "a")]


@pytest.mark.parametrize(
    ("subject", "t_s", "expected"),
    [
        ("a", 0.0, [0.0, 0.0, 0.4, 1.0]),
        ("a", 1.0, [0.1, 0.0, 0.5, 1.0]),  # halfway between the boxes at 0 s and 2 s
        ("a", 1.5, [0.15, 0.0, 0.55, 1.0]),
        ("a", 2.5, [0.2, 0.0, 0.6, 1.0]),  # box at 2 s holds until the null at 3 s
        ("a", 3.0, None),  # [3.0, null]
        ("a", 3.99, None),
        ("a", 4.0, [0.0, 0.0, 0.4, 1.0]),
        ("a", 9.0, [0.0, 0.0, 0.4, 1.0]),  # after the last box, no cut after 4 s
        ("b", 2.99, [0.6, 0.0, 1.0, 1.0]),  # nearest box holds within its shot
        ("b", 3.0, None),  # ... but not across the cut at 3.0
        ("c", 2.9, None),  # before the first box, a cut lies between
        ("c", 3.0, [0.5, 0.0, 1.0, 1.0]),
        ("c", 5.5, [0.5, 0.0, 1.0, 1.0]),
    ],
)
def test_box_at_interpolates_absents_and_respects_cuts(grades, subject, t_s, expected):
    box = grades.box_at(subject, t_s)
    if expected is None:
        assert box is None
    else:
        assert_allclose(box, expected, atol=1e-12)


def test_before_first_box_holds_without_cut():
    g = copy.deepcopy(GRADES)
    g["cuts_s"] = []
    grades = parse_grades(g)
    assert_allclose(grades.box_at("c", 1.0), [0.5, 0.0, 1.0, 1.0])


def test_reference_plan_scores_as_computed_by_hand(grades):
    m = score_plan(make_plan(reference_focus(), reference_pulls()), grades)
    assert list(m) == list(METRIC_NAMES)
    # judged: 10 (a) + 15 (b) + 15 (c) + 10 (a) = 50; hits: 10 + 10 + 15 + 5 = 40
    assert m["target_accuracy"] == pytest.approx(40 / 50)
    # 2 matched of 4 predicted, 2 graded
    assert m["pull_precision"] == pytest.approx(0.5)
    assert m["pull_recall"] == pytest.approx(1.0)
    assert m["pull_f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert m["onset_mae_s"] == pytest.approx(0.2)
    assert m["pulls_per_min"] == pytest.approx(4 / 0.1)  # 6 s = 0.1 min
    assert m["graded_pulls_per_min"] == pytest.approx(2 / 0.1)


def test_details_name_matches_crossings_and_errors(grades):
    d = score_details(make_plan(reference_focus(), reference_pulls()), grades)
    assert [(i, j) for i, j, _ in d.matches] == [(0, 0), (3, 1)]
    assert d.crossing == [2]
    assert d.false_positives == [1, 2]
    assert d.missed == []
    assert d.judged[:10].all() and not d.judged[10:15].any()
    assert np.flatnonzero(d.judged & ~d.hit).tolist() == [15, 16, 17, 18, 19, 55, 56, 57, 58, 59]


def test_end_focus_outside_target_box_does_not_match(grades):
    xy = reference_focus()
    xy[20] = NOWHERE  # the first pull now ends with focus outside b
    m = score_plan(make_plan(xy, reference_pulls()[:1]), grades)
    assert m["pull_precision"] == 0.0
    assert m["pull_recall"] == 0.0
    assert m["pull_f1"] == 0.0
    assert m["onset_mae_s"] is None


def test_onset_tolerance_is_inclusive_and_greedy_by_smallest_difference():
    # Two graded pulls a->b at 1.0 and b->a at 1.6 (a and b overlap on x 0.4..0.6).  Predicted pulls
    # at 1.5 (0.5 / 0.1 away, ends at x=0.5: inside both) and 1.65 (0.65 / 0.05 away, ends in a).
    # Greedy by smallest difference: 1.65->1.6 (0.05), then 1.5->1.0 (0.5, the tolerance is
    # inclusive).  Matching predicted pulls in order to their nearest graded pull would match only one.
    g = {
        "format": "autofocuspull.grades/1",
        "video": "x.mp4",
        "subjects": {
            "a": {"boxes": [[0.0, 0.0, 0.0, 0.6, 1.0]]},
            "b": {"boxes": [[0.0, 0.4, 0.0, 1.0, 1.0]]},
        },
        "holds": [
            {"start_s": 0.0, "end_s": 1.0, "subject": "a"},
            {"start_s": 1.2, "end_s": 1.6, "subject": "b"},
            {"start_s": 1.8, "end_s": 2.0, "subject": "a"},
        ],
    }
    grades = parse_grades(g)
    xy = np.full((20, 2), 0.25, np.float32)  # everywhere inside a's box only ...
    xy[15] = (0.5, 0.5)  # ... except frame 15 (1.5 s), inside both boxes
    pulls = [Pull(1.5, 1.5, 0, 1, "p0, ends in a and b"), Pull(1.65, 1.8, 1, 0, "p1, ends in a (frame 18)")]
    m = score_plan(make_plan(xy, pulls, duration_s=2.0), grades)
    assert m["pull_precision"] == 1.0 and m["pull_recall"] == 1.0 and m["pull_f1"] == 1.0
    assert m["onset_mae_s"] == pytest.approx((0.5 + 0.05) / 2)
    # 3 judged-hold frame sets: a 0..0.9 (10 hits), b 1.2..1.5 (only 1.5 inside b), a 1.8..1.9 (2 hits)
    assert m["target_accuracy"] == pytest.approx(13 / 16)


ONE_HOLD = {
    "format": "autofocuspull.grades/1",
    "video": "x.mp4",
    "subjects": {"a": {"boxes": [[0.0, 0.0, 0.0, 0.5, 1.0]]}, "b": {"boxes": [[0.0, 0.5, 0.0, 1.0, 1.0]]}},
    "holds": [{"start_s": 0.0, "end_s": 2.0, "subject": "a"}],
}


def test_no_graded_and_no_predicted_pulls():
    m = score_plan(make_plan(np.full((20, 2), 0.25, np.float32), [], duration_s=2.0), parse_grades(ONE_HOLD))
    assert (m["pull_precision"], m["pull_recall"], m["pull_f1"]) == (1.0, 1.0, 1.0)
    assert m["onset_mae_s"] is None
    assert m["pulls_per_min"] == 0.0 and m["graded_pulls_per_min"] == 0.0
    assert m["target_accuracy"] == 1.0


def test_predicted_pulls_but_none_graded():
    pulls = [Pull(0.5, 0.6, 0, 1, "x"), Pull(1.0, 1.0, 1, 0, "y"), Pull(1.5, 1.5, 0, 1, "z")]
    m = score_plan(
        make_plan(np.full((20, 2), 0.25, np.float32), pulls, duration_s=2.0), parse_grades(ONE_HOLD)
    )
    assert (m["pull_precision"], m["pull_recall"], m["pull_f1"]) == (0.0, 1.0, 0.0)
    assert m["pulls_per_min"] == pytest.approx(3 / (2.0 / 60))


def test_graded_pulls_but_none_predicted(grades):
    m = score_plan(make_plan(reference_focus(), []), grades)
    assert (m["pull_precision"], m["pull_recall"], m["pull_f1"]) == (1.0, 0.0, 0.0)
    assert m["onset_mae_s"] is None
    assert m["target_accuracy"] == pytest.approx(0.8)


def test_hold_on_absent_subject_is_not_judged():
    g = copy.deepcopy(ONE_HOLD)
    g["subjects"]["a"]["boxes"] = [[0.0, None], [1.5, 0.0, 0.0, 0.5, 1.0]]
    xy = np.full((20, 2), 0.75, np.float32)  # always outside a's box
    xy[15:17] = 0.25  # inside at 1.5 and 1.6 s
    m = score_plan(make_plan(xy, [], duration_s=2.0), parse_grades(g))
    assert m["target_accuracy"] == pytest.approx(2 / 5)  # judged only 1.5..1.9 s
    g["subjects"]["a"]["boxes"] = [[0.0, None]]
    assert score_plan(make_plan(xy, [], duration_s=2.0), parse_grades(g))["target_accuracy"] is None


def test_duration_from_frames_when_video_has_none():
    plan = make_plan(np.full((20, 2), 0.25, np.float32), [Pull(1.0, 1.0, 0, 1, "x")], duration_s=None)
    m = score_plan(plan, parse_grades(ONE_HOLD))
    assert m["pulls_per_min"] == pytest.approx(1 / (2.0 / 60))  # 1.9 s span + 0.1 s frame


def test_nearest_frame_ties_go_to_the_earlier_frame():
    times = np.array([0.0, 1.0, 2.0])
    assert [nearest_frame(times, t) for t in (-1.0, 0.5, 0.51, 1.4, 5.0)] == [0, 0, 1, 1, 2]


# --------------------------------------------------------------------------------------------
# Loader errors name the offending field
# --------------------------------------------------------------------------------------------


def _mutate(fn):
    g = copy.deepcopy(GRADES)
    fn(g)
    return g


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda g: g.update(format="autofocuspull.grades/2"), "format"),
        (lambda g: g.pop("video"), "video"),
        (lambda g: g.update(hold=[]), "hold"),
        (lambda g: g.update(cuts_s=[3.0, 2.0]), "cuts_s[1]"),
        (lambda g: g.update(cuts_s=[-1.0]), "cuts_s[0]"),
        (lambda g: g["holds"][2].update(end_s=2.0), "holds[2].end_s"),
        (lambda g: g["holds"][1].update(subject="d"), "holds[1].subject"),
        (lambda g: g["holds"][1].update(start_s=0.5), "holds[1].start_s"),
        (lambda g: g["holds"][3].pop("end_s"), "holds[3].end_s"),
        (lambda g: g["holds"][0].update(start_s="0"), "holds[0].start_s"),
        (lambda g: g["subjects"]["a"]["boxes"][1].__setitem__(0, 0.0), "subjects.a.boxes[1][0]"),
        (lambda g: g["subjects"]["a"]["boxes"][0].__setitem__(3, 1.2), "subjects.a.boxes[0][3]"),
        (lambda g: g["subjects"]["a"]["boxes"][0].__setitem__(3, 0.0), "subjects.a.boxes[0][3]"),
        (lambda g: g["subjects"]["b"]["boxes"][0].__setitem__(4, 0.0), "subjects.b.boxes[0][4]"),
        (lambda g: g["subjects"]["a"]["boxes"].__setitem__(2, [3.0, 0.5]), "subjects.a.boxes[2][1]"),
        (lambda g: g["subjects"]["a"]["boxes"].__setitem__(2, [3.0, 0.5, 0.5]), "subjects.a.boxes[2]"),
        (lambda g: g["subjects"]["c"].update(boxes=[]), "subjects.c.boxes"),
        (lambda g: g["subjects"]["c"].update(colour="red"), "subjects.c.colour"),
        (lambda g: g.update(subjects=[]), "subjects"),
        (lambda g: g.pop("subjects"), "subjects"),
        (lambda g: g.update(subjects={}), "holds[0].subject"),
    ],
)
def test_loader_errors_name_the_field(tmp_path, mutation, field):
    p = tmp_path / "clip.grades.json"
    p.write_text(json.dumps(_mutate(mutation)))
    with pytest.raises(ValidationError) as e:
        load_grades(p)
    assert e.value.field == field
    assert str(p) in str(e.value) and field in str(e.value)


NO_STORY = {"format": "autofocuspull.grades/1", "video": "crowd.mp4", "subjects": {}, "holds": []}


def test_no_story_grades_load_and_score(tmp_path):
    p = tmp_path / "crowd.grades.json"
    p.write_text(json.dumps(NO_STORY))
    g = load_grades(p)
    assert g.subjects == {} and g.holds == () and g.pulls == []
    still = make_plan(np.full((20, 2), 0.5, np.float32), [], duration_s=2.0)
    m = score_plan(still, g)
    assert m["target_accuracy"] is None  # no frame is judged
    assert (m["pull_precision"], m["pull_recall"], m["pull_f1"]) == (1.0, 1.0, 1.0)
    assert m["pulls_per_min"] == 0.0 and m["graded_pulls_per_min"] == 0.0
    hunting = make_plan(np.full((20, 2), 0.5, np.float32), [Pull(0.5, 0.8, 0, 1, "x")], duration_s=2.0)
    m = score_plan(hunting, g)  # any pull on a no-story clip is wrong
    assert (m["pull_precision"], m["pull_recall"], m["pull_f1"]) == (0.0, 1.0, 0.0)
    assert m["pulls_per_min"] == pytest.approx(30.0)


def test_loader_reports_bad_json_and_missing_file(tmp_path):
    p = tmp_path / "bad.grades.json"
    p.write_text('{"format": ')
    with pytest.raises(ValidationError, match="not JSON") as e:
        load_grades(p)
    assert e.value.field == "<json>"
    with pytest.raises(ValidationError, match="cannot read"):
        load_grades(tmp_path / "absent.grades.json")


def test_loader_accepts_the_reference_file(tmp_path):
    p = tmp_path / "clip.grades.json"
    p.write_text(json.dumps(GRADES))
    g = load_grades(p)
    assert g.video == "clip.mp4" and g.cuts_s == (3.0,) and list(g.subjects) == ["a", "b", "c"]
    assert [h.subject for h in g.holds] == ["a", "b", "c", "a"]
    assert np.isnan(g.subjects["a"].boxes_xyxy[2]).all()


def test_grades_longer_than_the_plan_warn_loudly(caplog):
    g = copy.deepcopy(ONE_HOLD)
    g["holds"][0]["end_s"] = 30.0
    score_plan(
        make_plan(np.full((20, 2), 0.25, np.float32), [], duration_s=2.0), parse_grades(g, "x.grades.json")
    )
    assert "x.grades.json grades reach 30.00 s but the plan ends at 1.90 s" in caplog.text
    assert caplog.records[-1].levelname == "WARNING"


def test_zero_length_switch_at_a_graded_cut_is_not_a_pull(grades):
    pulls = reference_pulls()
    # a hard switch recorded as a zero-length pull at the cut (3.0), and one a frame late (3.1):
    # both are switches at the cut, not pulls; a zero-length pull at 2.0 s (no cut) is a pull.
    switches = [Pull(3.0, 3.0, 1, 2, "cut"), Pull(3.1, 3.1, 1, 2, "cut, a frame late")]
    d = score_details(make_plan(reference_focus(), pulls + switches), grades)
    assert d.counted == [0, 1, 2, 3]
    m = score_plan(make_plan(reference_focus(), pulls + switches), grades)
    assert m == score_plan(make_plan(reference_focus(), pulls), grades)
    assert m["pulls_per_min"] == pytest.approx(40.0)
    jump = [Pull(2.0, 2.0, 1, 2, "instant, inside a shot")]
    m = score_plan(make_plan(reference_focus(), pulls + jump), grades)
    assert m["pull_precision"] == pytest.approx(2 / 5)
    assert m["pulls_per_min"] == pytest.approx(50.0)
    late = [Pull(3.2, 3.2, 1, 2, "two frames after the cut: a pull")]
    assert score_plan(make_plan(reference_focus(), pulls + late), grades)["pull_precision"] == pytest.approx(
        2 / 5
    )


# --------------------------------------------------------------------------------------------
# Focus reversals: 50 mm f/1.4 on a 36 mm sensor, a 1000 px wide clip (27 777.8 px per sensor metre)
# Focus at 2.0 m, a point at 2.0 m seen with focus at 2.2 m: A = 50/1.4 mm,
#   c = A * |2.0 - 2.2| / 2.0 * 50 / (2200 - 50) mm = 35.714 * 0.1 * 0.023256 = 0.083056 mm = 2.307 px
# and a point at 2.2 m with focus at 2.0 m: 35.714 * (0.2 / 2.2) * (50 / 1950) = 2.312 px: both >= 2.
# 2.0 m <-> 2.1 m: 35.714 * 0.05 * (50 / 2050) = 0.04355 mm = 1.210 px: below the threshold.
# --------------------------------------------------------------------------------------------

ONE_HOLD = {
    "format": "autofocuspull.grades/1",
    "video": "clip.mp4",
    "notes": "one hold over the whole clip",
    "cuts_s": [],
    "subjects": {"a": {"boxes": [[0.0, 0.0, 0.0, 1.0, 1.0]]}},
    "holds": [{"start_s": 0.0, "end_s": 6.0, "subject": "a"}],
}


def focus_plan(focus_m: list[float], pulls: list[Pull] | None = None, cuts_s: list[float] | None = None):
    """10 fps plan, one value per second of ``focus_m`` (10 frames each), 1000 px wide."""
    f = np.repeat(np.asarray(focus_m, np.float32), 10)
    plan = make_plan(np.full((len(f), 2), 0.5, np.float32), pulls or [], duration_s=len(focus_m))
    plan.focus_m = f
    plan.cuts_s = cuts_s or []
    plan.video = {"duration_s": float(len(focus_m)), "width": 1000}
    plan.meta = {"lens": {"focal_length_mm": 50.0, "f_number": 1.4, "sensor_width_mm": 36.0}}
    return plan


def test_reversal_blur_of_the_hand_computed_swings():
    from autofocuspull.core.types import Lens
    from autofocuspull.render.optics import coc_px

    assert float(coc_px(np.float32(2.0), 2.2, Lens(), 1000)) == pytest.approx(2.307, abs=1e-3)
    assert float(coc_px(np.float32(2.2), 2.0, Lens(), 1000)) == pytest.approx(2.312, abs=1e-3)
    assert float(coc_px(np.float32(2.0), 2.1, Lens(), 1000)) == pytest.approx(1.210, abs=1e-3)


def test_pulsing_focus_counts_one_reversal_per_change_of_direction():
    grades = parse_grades(ONE_HOLD)
    d = score_details(focus_plan([2.0, 2.2, 2.0, 2.2, 2.0, 2.2]), grades)
    # swings: 2.0->2.2, ->2.0, ->2.2, ->2.0, ->2.2: 4 reversals, timed at the first frame of each extreme
    assert d.reversals.at_s == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert d.reversals.minutes == pytest.approx(0.1)
    assert score_plan(focus_plan([2.0, 2.2, 2.0, 2.2, 2.0, 2.2]), grades)["reversals_per_min"] == (
        pytest.approx(40.0)
    )


def test_jitter_under_two_pixels_and_a_steady_drift_are_not_reversals():
    grades = parse_grades(ONE_HOLD)
    assert score_plan(focus_plan([2.0, 2.1, 2.0, 2.1, 2.0, 2.1]), grades)["reversals_per_min"] == 0.0
    assert score_plan(focus_plan([2.0, 2.2, 2.4, 2.6, 2.8, 3.0]), grades)["reversals_per_min"] == 0.0
    # one swing out and one back, each over 2 px: one reversal in 0.1 min
    assert score_plan(focus_plan([2.0, 2.0, 2.2, 2.2, 2.0, 2.0]), grades)["reversals_per_min"] == (
        pytest.approx(10.0)
    )


def test_reversals_skip_pulls_cuts_and_time_outside_holds():
    grades = parse_grades(ONE_HOLD)
    wave = [2.0, 2.2, 2.0, 2.2, 2.0, 2.2]
    pulls = [Pull(t - 0.05, t + 0.05, 1, 2, "rack") for t in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert score_plan(focus_plan(wave, pulls), grades)["reversals_per_min"] == 0.0  # planned racks
    # a cut at 2.0 s: the shots hold [2.0, 2.2] and [2.0, 2.2, 2.0, 2.2]: 0 + 2 reversals
    d = score_details(focus_plan(wave, cuts_s=[2.0]), grades)
    assert d.reversals.at_s == pytest.approx([3.0, 4.0])
    short = copy.deepcopy(ONE_HOLD)
    short["holds"] = [{"start_s": 0.0, "end_s": 3.0, "subject": "a"}]  # 2.0, 2.2, 2.0 judged: 1
    d = score_details(focus_plan(wave), parse_grades(short))
    assert d.reversals.at_s == pytest.approx([1.0]) and d.reversals.minutes == pytest.approx(0.05)
    assert d.reversals.per_min == pytest.approx(20.0)
    late = copy.deepcopy(ONE_HOLD)
    late["holds"] = [{"start_s": 7.0, "end_s": 8.0, "subject": "a"}]  # no plan frame in a hold
    assert score_plan(focus_plan(wave), parse_grades(late))["reversals_per_min"] is None
    no_width = focus_plan(wave)
    no_width.video = {"duration_s": 6.0}  # no pixel size to measure blur in
    assert score_plan(no_width, grades)["reversals_per_min"] is None
