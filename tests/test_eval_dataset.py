"""Aggregation, the dataset runner (a failing clip does not stop it), tables, and the timeline PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from autofocuspull.core.arrays import runs
from autofocuspull.core.types import FocusPlan, Pull, SubjectTracks
from autofocuspull.evaluate.dataset import (
    aggregate,
    evaluate_dataset,
    find_graded_clips,
    format_comparison,
    format_metrics,
    format_table,
    score_plan_file,
)
from autofocuspull.evaluate.grades import parse_grades
from autofocuspull.evaluate.metrics import METRIC_NAMES
from autofocuspull.evaluate.plot import frame_edges_s, plot_timeline

GRADES = {
    "format": "autofocuspull.grades/1",
    "video": "left.mp4",
    "cuts_s": [],
    "subjects": {
        "l": {"boxes": [[0.0, 0.0, 0.0, 0.5, 1.0]]},
        "r": {"boxes": [[0.0, 0.5, 0.0, 1.0, 1.0]]},
    },
    "holds": [
        {"start_s": 0.0, "end_s": 1.0, "subject": "l"},
        {"start_s": 1.0, "end_s": 2.0, "subject": "r"},
    ],
}


def plan_at(x: float | list[float], pulls=(), n: int = 20, depth="toy-depth") -> FocusPlan:
    """A 2 s, 10 fps plan whose focus point is at (x, 0.5) (x per frame when a list)."""
    xs = np.broadcast_to(np.asarray(x, np.float32), (n,))
    return FocusPlan(
        times_s=np.arange(n) / 10.0,
        subject_id=np.where(xs < 0.5, 1, 2).astype(np.int64),
        focus_xy=np.stack([xs, np.full(n, 0.5, np.float32)], axis=1),
        focus_m=np.where(xs < 0.5, 1.5, 3.0).astype(np.float32),
        f_number=np.full(n, 2.0, np.float32),
        pulls=list(pulls),
        subjects=SubjectTracks.allocate([1, 2], ["person", "person"], n),
        cuts_s=[],
        depth_source=depth,
        video={"duration_s": n / 10.0, "path": "/x/left.mp4"},
        meta={"planner": "toy"},
    )


def test_aggregate_means_skip_none_and_count_failures():
    a = dict.fromkeys(METRIC_NAMES, 1.0) | {"onset_mae_s": None}
    b = dict.fromkeys(METRIC_NAMES, 0.5) | {"onset_mae_s": 0.2}
    c = dict.fromkeys(METRIC_NAMES, 0.0) | {"onset_mae_s": None}
    out = aggregate({"a": a, "b": b, "c": c, "bad": {"error": "boom"}, "worse": RuntimeError("x")})
    assert out["target_accuracy"] == pytest.approx(0.5)
    assert out["onset_mae_s"] == pytest.approx(0.2)  # only b defines it
    assert out["clips"] == 3 and out["failed"] == 2
    only_failed = aggregate({"bad": {"error": "boom"}})
    assert only_failed["target_accuracy"] is None and only_failed["failed"] == 1 and only_failed["clips"] == 0


def _dataset(tmp_path: Path) -> Path:
    d = tmp_path / "ds"
    d.mkdir()
    for stem, ext in (("left", "mp4"), ("right", "mkv"), ("broken", "mov")):
        (d / f"{stem}.{ext}").write_bytes(b"not decoded here")
        g = dict(GRADES, video=f"{stem}.{ext}")
        (d / f"{stem}.grades.json").write_text(json.dumps(g))
    (d / "ungraded.mp4").write_bytes(b"ignored: no grades")
    (d / "orphan.grades.json").write_text(json.dumps(dict(GRADES, video="orphan.mp4")))
    return d


def _plan_fn(video: Path) -> FocusPlan:
    if video.stem == "broken":
        raise RuntimeError("decoder exploded")
    if video.stem == "left":  # always on the left subject: half the judged frames, no pulls
        return plan_at(0.25)
    # right: left then right with a pull at 1.1 s (0.1 s late), perfect targets
    return plan_at([0.25] * 10 + [0.75] * 10, [Pull(1.1, 1.1, 1, 2, "x")], depth="other-depth")


def test_find_graded_clips_pairs_grades_with_their_video(tmp_path):
    found = {stem: (g.name, v.name if v else None) for stem, g, v in find_graded_clips(_dataset(tmp_path))}
    assert found == {
        "broken": ("broken.grades.json", "broken.mov"),
        "left": ("left.grades.json", "left.mp4"),
        "orphan": ("orphan.grades.json", None),
        "right": ("right.grades.json", "right.mkv"),
    }


def test_evaluate_dataset_reports_failures_and_means(tmp_path, caplog):
    seen = []
    plots = tmp_path / "plots"
    result = evaluate_dataset(
        _dataset(tmp_path), _plan_fn, "toy", progress=lambda i, n, s: seen.append((i, n)), plot_dir=plots
    )
    assert sorted(p.name for p in plots.iterdir()) == ["left.png", "right.png"]
    assert set(result["clips"]) == {"broken", "left", "orphan", "right"}
    assert "decoder exploded" in result["clips"]["broken"]["error"]
    assert "no single video" in result["clips"]["orphan"]["error"]
    left, right = result["clips"]["left"], result["clips"]["right"]
    assert left["target_accuracy"] == pytest.approx(0.5)
    assert (left["pull_precision"], left["pull_recall"], left["pull_f1"]) == (1.0, 0.0, 0.0)
    assert right["target_accuracy"] == pytest.approx(1.0)
    assert right["onset_mae_s"] == pytest.approx(0.1)
    assert right["pulls_per_min"] == pytest.approx(30.0)
    mean = result["mean"]
    assert mean["failed"] == 2 and mean["clips"] == 2
    assert mean["target_accuracy"] == pytest.approx(0.75)
    assert mean["pull_f1"] == pytest.approx(0.5)
    assert mean["onset_mae_s"] == pytest.approx(0.1)
    assert result["planner"] == "toy"
    assert result["depth_source"] == "other-depth, toy-depth"
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert "broken failed" in caplog.text
    json.dumps(result)  # the --json output must be serialisable as is

    table = format_table(result)
    lines = table.splitlines()
    assert lines[0] == "planner: toy   depth: other-depth, toy-depth"
    assert any(
        line.startswith("broken") and "FAILED: RuntimeError: decoder exploded" in line for line in lines
    )
    right_line = next(line for line in lines if line.startswith("right"))
    # the last column, reversals per minute, is "-": the fake plans have no video width
    assert right_line.split()[1:] == ["1.000", "1.000", "1.000", "1.000", "0.100", "30.000", "30.000", "-"]
    assert lines[-1] == "scored 2 clip(s), failed 2"
    comparison = format_comparison({"toy": result})
    assert comparison.splitlines()[2].startswith("| toy | 0.750 |") and comparison.endswith("| 2 |")


def test_evaluate_dataset_rejects_a_missing_folder(tmp_path):
    with pytest.raises(NotADirectoryError):
        evaluate_dataset(tmp_path / "nope", _plan_fn, "toy")


def test_format_metrics_lists_every_metric():
    text = format_metrics(dict.fromkeys(METRIC_NAMES, 0.25) | {"onset_mae_s": None})
    assert len(text.splitlines()) == len(METRIC_NAMES) == 8
    assert "onset_mae_s" in text and text.splitlines()[4].split() == ["onset_mae_s", "-"]


def test_runs_and_frame_edges():
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert runs(np.zeros(3, bool)) == []
    np.testing.assert_allclose(frame_edges_s(np.array([0.0, 0.1, 0.2])), [-0.05, 0.05, 0.15, 0.25])


@pytest.mark.parametrize("with_grades", [True, False])
def test_plot_timeline_writes_a_png_of_the_requested_size(tmp_path, with_grades):
    plan = plan_at([0.25] * 10 + [0.75] * 10, [Pull(1.1, 1.2, 1, 2, "x"), Pull(1.5, 1.5, 2, 1, "hunt")])
    grades = parse_grades(GRADES) if with_grades else None
    out = tmp_path / "sub" / "timeline.png"
    speech = np.linspace(0.0, 1.0, 20)
    written = plot_timeline(plan, grades, out, speech=speech, size_px=(800, 500))
    assert written == out
    img = imread(out)
    assert img.shape[:2] == (500, 800)
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temp file
    red = np.array([0xD6, 0x27, 0x28]) / 255.0
    has_red = np.any(np.all(np.abs(img[..., :3] - red) < 0.02, axis=-1))
    assert bool(has_red) == with_grades  # errors (a false-positive pull, off-target frames) are red


def test_plot_timeline_checks_speech_shape(tmp_path):
    with pytest.raises(ValueError, match=r"expected shape \(20\)"):
        plot_timeline(plan_at(0.25), None, tmp_path / "x.png", speech=np.zeros(5))


def test_score_plan_file_reads_a_saved_plan(tmp_path):
    from autofocuspull.plan.planfile import save_plan

    plan = plan_at([0.25] * 10 + [0.75] * 10, [Pull(1.1, 1.1, 1, 2, "x")])
    save_plan(plan, tmp_path / "p.plan.json")
    (tmp_path / "g.grades.json").write_text(json.dumps(GRADES))
    m = score_plan_file(tmp_path / "p.plan.json", tmp_path / "g.grades.json")
    assert m["target_accuracy"] == pytest.approx(1.0)
    assert m["onset_mae_s"] == pytest.approx(0.1)
    assert (m["pull_precision"], m["pull_recall"]) == (1.0, 1.0)


def test_plot_timeline_draws_a_plan_without_subjects_or_grades(tmp_path):
    plan = plan_at(0.25)
    plan.subject_id[:] = -1
    plan.focus_xy[:] = np.nan
    out = plot_timeline(plan, None, tmp_path / "empty.png", size_px=(640, 360))
    assert imread(out).shape[:2] == (360, 640)


def test_plot_timeline_draws_no_story_grades(tmp_path):
    no_story = {"format": "autofocuspull.grades/1", "video": "x.mp4", "subjects": {}, "holds": []}
    plan = plan_at([0.25] * 10 + [0.75] * 10, [Pull(1.1, 1.2, 1, 2, "hunt")])
    out = plot_timeline(plan, parse_grades(no_story), tmp_path / "crowd.png", size_px=(640, 360))
    assert imread(out).shape[:2] == (360, 640)
