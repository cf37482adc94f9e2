"""Timeline picture of a focus plan, optionally against its grades (matplotlib Agg, no pyplot state).

Panels share the time axis (seconds):

- ``grades`` (when given): a lane per graded subject with its holds; graded pulls as triangles at
  their onsets (red when no predicted pull matched them).
- ``plan``: a lane per planned subject (``label #id``, plus ``none``) with the frames it holds focus;
  predicted pulls as vertical marks (green when matched, red when not, including pulls across cuts;
  grey for switches at graded cuts, which are not pulls);
  with grades, an ``on target`` lane shows judged frames green (focus inside the graded box) or red.
- ``focus``: focus distance in metres (log scale) and, when given, the soundtrack's speech
  probability.

Cuts are dashed vertical lines in every panel (the plan's in grey, the grades' in black).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autofocuspull.core.arrays import frame_interval_s, runs
from autofocuspull.core.atomic import atomic_write_bytes
from autofocuspull.core.types import FocusPlan, check_array
from autofocuspull.evaluate.grades import Grades
from autofocuspull.evaluate.metrics import ScoreDetails, score_details

OK_COLOUR = "#2a9d4b"
ERROR_COLOUR = "#d62728"
HOLD_COLOUR = "#4c72b0"


def frame_edges_s(times_s: np.ndarray) -> np.ndarray:
    """(T + 1,) float64 time edges of the frames: midpoints, extended by half an interval at the ends."""
    t = np.asarray(times_s, np.float64)
    if len(t) == 0:
        return np.zeros(1)
    step = frame_interval_s(t)
    mid = (t[1:] + t[:-1]) / 2.0
    return np.concatenate([[t[0] - step / 2], mid, [t[-1] + step / 2]])


def _subject_lanes(plan: FocusPlan) -> list[tuple[int, str]]:
    ids = sorted({int(i) for i in np.unique(plan.subject_id)} - {-1})
    names = []
    for i in ids:
        hits = np.flatnonzero(plan.subjects.track_id == i) if len(plan.subjects) else []
        label = plan.subjects.label[int(hits[0])] if len(hits) else "subject"
        names.append((i, f"{label} #{i}"))
    if (plan.subject_id == -1).any():
        names.append((-1, "none"))
    return names


def _draw_cuts(ax, plan: FocusPlan, grades: Grades | None) -> None:
    for c in plan.cuts_s:
        ax.axvline(c, color="0.6", linestyle="--", linewidth=1.0)
    for c in grades.cuts_s if grades is not None else ():
        ax.axvline(c, color="black", linestyle="--", linewidth=1.0)


def _draw_grades(ax, grades: Grades, details: ScoreDetails | None) -> None:
    names = list(grades.subjects)
    for lane, name in enumerate(names):
        spans = [(h.start_s, h.end_s - h.start_s) for h in grades.holds if h.subject == name]
        ax.broken_barh(spans, (lane - 0.35, 0.7), facecolors=HOLD_COLOUR)
    missed = set(details.missed) if details is not None else set()
    for j, p in enumerate(grades.pulls):
        colour = ERROR_COLOUR if j in missed else OK_COLOUR
        ax.plot([p.onset_s], [names.index(p.to_subject)], marker="v", markersize=10, color=colour)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_ylabel("grades")
    ax.set_title("graded holds; triangles: graded pulls (red: missed)", fontsize=9)


def _draw_plan(ax, plan: FocusPlan, details: ScoreDetails | None) -> None:
    lanes = _subject_lanes(plan)
    edges = frame_edges_s(plan.times_s)
    for lane, (sid, _) in enumerate(lanes):
        spans = [(edges[a], edges[b] - edges[a]) for a, b in runs(plan.subject_id == sid)]
        ax.broken_barh(spans, (lane - 0.35, 0.7), facecolors="0.55" if sid == -1 else HOLD_COLOUR)
    names = [n for _, n in lanes]
    if details is not None:
        names.append("on target")
        lane = len(lanes)
        for mask, colour in ((details.hit, OK_COLOUR), (details.judged & ~details.hit, ERROR_COLOUR)):
            spans = [(edges[a], edges[b] - edges[a]) for a, b in runs(mask)]
            ax.broken_barh(spans, (lane - 0.35, 0.7), facecolors=colour)
    bad = set(details.false_positives) if details is not None else set()
    switches = set(range(len(plan.pulls))) - set(details.counted) if details is not None else set()
    lane_of = {sid: k for k, (sid, _) in enumerate(lanes)}
    for i, p in enumerate(plan.pulls):
        colour = ERROR_COLOUR if i in bad else (OK_COLOUR if details is not None else "black")
        colour = "0.5" if i in switches else colour
        ax.axvspan(p.start_s, max(p.end_s, p.start_s + 1e-3), color=colour, alpha=0.35)
        y = lane_of.get(p.to_id, len(names) - 1)
        ax.plot([p.start_s], [y], marker=">", markersize=8, color=colour)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.7, max(len(names), 1) - 0.3)
    ax.set_ylabel("plan")
    if details is not None:
        ax.set_title("green: on target / matched pull    red: off target / unmatched pull", fontsize=9)


FOCUS_TICKS_M = (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 100.0)


def _draw_focus(ax, plan: FocusPlan, speech: np.ndarray | None) -> None:
    ax.plot(plan.times_s, plan.focus_m, color="black", linewidth=1.2, drawstyle="steps-mid")
    ax.set_yscale("log")  # focus is perceived in dioptres: equal ratios of distance look alike
    lo, hi = float(np.nanmin(plan.focus_m)), float(np.nanmax(plan.focus_m))
    ticks = [t for t in FOCUS_TICKS_M if lo / 1.6 <= t <= hi * 1.6] or [round(lo, 2)]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_ylabel("focus distance (m)")
    ax.set_xlabel("time (s)")
    if speech is not None:
        ax2 = ax.twinx()
        ax2.fill_between(plan.times_s, 0.0, speech, color="#ff7f0e", alpha=0.35, step="mid")
        ax2.set_ylim(0.0, 1.05)
        ax2.set_ylabel("speech prob")


def plot_timeline(
    plan: FocusPlan,
    grades: Grades | None,
    out_png: str | Path,
    *,
    speech: np.ndarray | None = None,
    size_px: tuple[int, int] = (1600, 900),
    dpi: int = 100,
    title: str | None = None,
) -> Path:
    """Write a timeline PNG of ``plan`` (and its errors against ``grades`` when given) to ``out_png``.

    ``speech`` (T,) float speech probability at the plan's frame times, optional. The PNG is
    ``size_px`` = (width, height) pixels and is written atomically. Returns the path written.
    """
    if speech is not None:
        speech = check_array("plot_timeline speech", speech, (plan.n_frames,), np.float64)
    details = score_details(plan, grades) if grades is not None else None
    fig = Figure(figsize=(size_px[0] / dpi, size_px[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    n_panels = 3 if grades is not None else 2
    ratios = [2, 2, 1] if grades is not None else [2, 1]
    axes = fig.subplots(n_panels, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    if grades is not None:
        _draw_grades(axes[0], grades, details)
    _draw_plan(axes[-2], plan, details)
    _draw_focus(axes[-1], plan, speech)
    for ax in axes:
        _draw_cuts(ax, plan, grades)
    edges = frame_edges_s(plan.times_s)
    axes[-1].set_xlim(min(edges[0], 0.0), edges[-1])
    fig.suptitle(title or _default_title(plan, grades))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    out = Path(out_png)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _default_title(plan: FocusPlan, grades: Grades | None) -> str:
    planner = plan.meta.get("planner", "plan") if isinstance(plan.meta, dict) else "plan"
    video = Path(str(plan.video.get("path", ""))).name if isinstance(plan.video, dict) else ""
    parts = [f"{planner}", video or (grades.video if grades is not None else "")]
    return "  ".join(p for p in parts if p)
