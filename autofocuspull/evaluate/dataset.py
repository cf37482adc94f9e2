"""Evaluate a planner over a folder of graded clips, aggregate, and print tables.

A dataset is a folder holding clips (any container FFmpeg reads) each with a ``<stem>.grades.json``
beside it. The clip of a grades file is the file named by its ``video`` field when that exists in
the folder, else the single non-JSON file with the same stem.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import FocusPlan
from autofocuspull.evaluate.grades import GRADES_SUFFIX, Grades, load_grades
from autofocuspull.evaluate.metrics import METRIC_NAMES, score_plan

log = logging.getLogger(__name__)

ClipResult = Mapping[str, Any] | BaseException | str
ProgressFn = Callable[[int, int, str], None]


def is_error(result: Any) -> bool:
    """True when a per-clip result is a failure (an exception, a message, or ``{"error": ...}``)."""
    return isinstance(result, (BaseException, str)) or (isinstance(result, Mapping) and "error" in result)


def error_text(result: Any) -> str:
    """One-line description of a failed clip's error."""
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    if isinstance(result, Mapping):
        return str(result["error"])
    return str(result)


def aggregate(per_clip: Mapping[str, ClipResult]) -> dict[str, Any]:
    """Unweighted mean of each metric over the clips that were scored (None values skipped).

    Returns ``{metric: mean or None, ..., "clips": n scored, "failed": n failed}``; a metric that no
    scored clip defines is None.
    """
    scored = [r for r in per_clip.values() if not is_error(r)]
    out: dict[str, Any] = {}
    for name in METRIC_NAMES:
        vals = [float(r[name]) for r in scored if r.get(name) is not None]
        out[name] = sum(vals) / len(vals) if vals else None
    out["clips"] = len(scored)
    out["failed"] = len(per_clip) - len(scored)
    return out


def confined_to(folder: str | Path, plan_fn: Callable[[Path], FocusPlan]) -> Callable[[Path], FocusPlan]:
    """``plan_fn`` refusing clips outside ``folder``: a grades file's ``video`` field (``../x.mp4``,
    an absolute path) must not reach files beyond the dataset it belongs to. The check is on the
    path as named, so a symbolic link that the dataset's owner placed in the folder (how footage is
    shared without copying it) is read through; it is only ever read, never written."""
    root = Path(os.path.abspath(folder))

    def checked(video: Path) -> FocusPlan:
        if not Path(os.path.abspath(video)).is_relative_to(root):
            raise UsageError(f"{video}: outside the dataset folder {root} (check the grades' video field)")
        return plan_fn(video)

    return checked


def find_graded_clips(directory: str | Path) -> list[tuple[str, Path, Path | None]]:
    """``(stem, grades path, video path or None)`` for every ``*.grades.json`` in ``directory``, by stem."""
    d = Path(directory)
    if not d.is_dir():
        raise NotADirectoryError(f"{d}: not a folder")
    out = []
    for grades_path in sorted(d.glob("*" + GRADES_SUFFIX)):
        stem = grades_path.name[: -len(GRADES_SUFFIX)]
        out.append((stem, grades_path, _video_beside(d, stem, grades_path)))
    return out


def _video_beside(d: Path, stem: str, grades_path: Path) -> Path | None:
    named = _named_video(grades_path)
    if named is not None and (d / named).is_file():
        return d / named
    candidates = sorted(
        p for p in d.iterdir() if p.is_file() and p.stem == stem and p.suffix.lower() != ".json"
    )
    return candidates[0] if len(candidates) == 1 else None


def _named_video(grades_path: Path) -> str | None:
    try:
        return load_grades(grades_path).video
    except Exception:  # the clip is reported as failed with the loader's error when it is scored
        return None


def evaluate_clip(
    video: Path, grades: Grades, plan_fn: Callable[[Path], FocusPlan]
) -> tuple[dict, FocusPlan]:
    """Plan ``video`` with ``plan_fn`` and score it against ``grades``: (metrics, plan)."""
    plan = plan_fn(video)
    return score_plan(plan, grades), plan


def score_plan_file(plan_path: str | Path, grades_path: str | Path) -> dict[str, float | None]:
    """Metrics of a plan JSON (``autofocuspull.plan/1``) against a grades file, for ``eval PLAN GRADES``."""
    from autofocuspull.plan.planfile import load_plan  # the plan engineer's reader; imported on use

    return score_plan(load_plan(plan_path), load_grades(grades_path))


def evaluate_dataset(
    directory: str | Path,
    plan_fn: Callable[[Path], FocusPlan],
    planner_name: str,
    *,
    progress: ProgressFn | None = None,
    plot_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Plan and score every graded clip of ``directory``; a failing clip is reported, not fatal.

    With ``plot_dir``, each scored clip's timeline is written to ``<plot_dir>/<stem>.png``.

    Returns ``{"clips": {stem: metrics | {"error": text}}, "mean": aggregate(...), "planner":
    planner_name, "depth_source": str | None}`` (the depth source of the plans, sorted and joined by
    ", " when they differ).
    """
    clips: dict[str, Any] = {}
    depth_sources: set[str] = set()
    entries = find_graded_clips(directory)
    for n, (stem, grades_path, video) in enumerate(entries):
        if progress is not None:
            progress(n, len(entries), stem)
        try:
            grades = load_grades(grades_path)  # first: a bad grades file is the more useful error
            if video is None:
                raise FileNotFoundError(f"no single video named {stem}.* beside {grades_path.name}")
            metrics, plan = evaluate_clip(video, grades, plan_fn)
        except Exception as e:  # one bad clip must not stop the run: it is reported and counted
            log.error("eval: %s failed: %s: %s", stem, type(e).__name__, e)
            clips[stem] = {"error": f"{type(e).__name__}: {e}"}
            continue
        clips[stem] = metrics
        depth_sources.add(str(plan.depth_source))
        if plot_dir is not None:
            _plot_clip(plan, grades, Path(plot_dir) / f"{stem}.png", planner_name)
    if progress is not None:
        progress(len(entries), len(entries), "")
    return {
        "clips": clips,
        "mean": aggregate(clips),
        "planner": planner_name,
        "depth_source": ", ".join(sorted(depth_sources)) if depth_sources else None,
    }


def _plot_clip(plan: FocusPlan, grades: Grades, out_png: Path, planner_name: str) -> None:
    from autofocuspull.evaluate.plot import plot_timeline  # matplotlib only when plots are asked for

    try:
        plot_timeline(plan, grades, out_png, title=f"{planner_name}  {out_png.stem}")
    except Exception as e:  # a picture must not cost the clip its scores
        log.error("eval: timeline of %s not written: %s: %s", out_png.stem, type(e).__name__, e)


# --------------------------------------------------------------------------------------------
# Text output
# --------------------------------------------------------------------------------------------

_SHORT = {
    "target_accuracy": "target_acc",
    "pull_precision": "precision",
    "pull_recall": "recall",
    "pull_f1": "f1",
    "onset_mae_s": "onset_mae_s",
    "pulls_per_min": "pulls/min",
    "graded_pulls_per_min": "graded/min",
    "reversals_per_min": "revers/min",
}


def format_value(value: Any) -> str:
    """A metric as text: 3 decimals, ``-`` for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.3f}"


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """One clip's metrics as ``name: value`` lines."""
    width = max(len(n) for n in METRIC_NAMES)
    return "\n".join(f"{n:<{width}}  {format_value(metrics.get(n))}" for n in METRIC_NAMES)


def format_table(result: Mapping[str, Any]) -> str:
    """Per-clip table and mean row of an :func:`evaluate_dataset` result (failed clips show their error)."""
    clips = result["clips"]
    stem_w = max([len("clip"), len("mean"), *(len(s) for s in clips)])
    head = [_SHORT[n] for n in METRIC_NAMES]
    widths = [max(len(h), 7) for h in head]
    lines = [
        f"planner: {result.get('planner')}   depth: {result.get('depth_source')}",
        "  ".join([f"{'clip':<{stem_w}}", *(f"{h:>{w}}" for h, w in zip(head, widths, strict=True))]),
    ]
    for stem, r in clips.items():
        if is_error(r):
            lines.append(f"{stem:<{stem_w}}  FAILED: {error_text(r)}")
            continue
        cells = (f"{format_value(r.get(n)):>{w}}" for n, w in zip(METRIC_NAMES, widths, strict=True))
        lines.append("  ".join([f"{stem:<{stem_w}}", *cells]))
    mean = result["mean"]
    cells = (f"{format_value(mean.get(n)):>{w}}" for n, w in zip(METRIC_NAMES, widths, strict=True))
    lines.append("  ".join([f"{'mean':<{stem_w}}", *cells]))
    lines.append(f"scored {mean.get('clips', 0)} clip(s), failed {mean.get('failed', 0)}")
    return "\n".join(lines)


def format_comparison(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table of the mean metrics of several planners (``{planner: evaluate_dataset result}``)."""
    head = "| planner | " + " | ".join(METRIC_NAMES) + " | failed |"
    rule = "|---" * (len(METRIC_NAMES) + 2) + "|"
    rows = [
        f"| {name} | "
        + " | ".join(format_value(r["mean"].get(n)) for n in METRIC_NAMES)
        + f" | {r['mean']['failed']} |"
        for name, r in results.items()
    ]
    return "\n".join([head, rule, *rows])
