"""Edits a user makes to a plan in the app, applied on top of the planner's output.

- a **decision** (click on a subject at a time): a keyframe; the plan is re-solved with it;
- a **pull retime** (drag a pull's start or its end): the focus curve of that pull is redrawn
  over ``[start_s, end_s)``, eased in dioptres like the planner's, holding the old subject before
  and the new one after; a retime never crosses the neighbouring pulls or a cut;
- an **aperture** change: the f-number over ``[start_s, end_s)`` (the whole clip by default).

Retimes and apertures are kept in ``plan.meta["edits"]`` and re-applied after every re-plan, so a
later click does not undo an earlier drag. Every function returns the frames it changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from autofocuspull.core.arrays import fill_nearest, frame_interval_s
from autofocuspull.core.types import FocusPlan, Pull
from autofocuspull.plan.pulls import ease

RETIME_MATCH_S = 1.0  # a re-planned pull is "the same pull" when its ends match and it starts this near


@dataclass(frozen=True)
class PullRetime:
    """Move the pull ``from_id`` -> ``to_id`` that started at ``orig_start_s`` to ``start_s``..``end_s``."""

    from_id: int
    to_id: int
    orig_start_s: float
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_id, "to": self.to_id, "orig_start_s": self.orig_start_s,
                "start_s": self.start_s, "end_s": self.end_s}  # fmt: skip


@dataclass(frozen=True)
class ApertureEdit:
    """f-number ``f_number`` over ``[start_s, end_s)`` (None = to the clip's end)."""

    f_number: float
    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.f_number) and 0.5 <= self.f_number <= 64):
            raise ValueError(f"f_number: expected 0.5..64, got {self.f_number}")

    def to_dict(self) -> dict[str, Any]:
        return {"f_number": self.f_number, "start_s": self.start_s, "end_s": self.end_s}


def _distance_row(plan: FocusPlan, sid: int, fallback_m: float) -> np.ndarray:
    """(T,) focus distance of subject ``sid`` (background: ``meta.background_m``), gaps filled."""
    if sid < 0:
        return np.full(plan.n_frames, float(plan.meta.get("background_m", 10.0)))
    row = plan.subjects.index_of(sid)
    d = fill_nearest(plan.subjects.distance_m[row].astype(np.float64))
    return np.where(np.isfinite(d), d, fallback_m)


def _point_row(plan: FocusPlan, sid: int) -> np.ndarray:
    if sid < 0:
        return np.full((plan.n_frames, 2), np.nan)
    fx = plan.subjects.focus_xy[plan.subjects.index_of(sid)].astype(np.float64)
    return np.stack([fill_nearest(fx[:, 0]), fill_nearest(fx[:, 1])], -1)


def retime_bounds(plan: FocusPlan, index: int) -> tuple[float, float]:
    """(earliest start, latest end) a pull may be dragged to: the previous pull's end (or the
    shot's start) and the next pull's start (or the next cut, or the clip's end)."""
    p = plan.pulls[index]
    lo = float(plan.times_s[0])
    hi = float(plan.times_s[-1]) + frame_interval_s(plan.times_s)
    for q in plan.pulls[:index]:
        lo = max(lo, q.end_s)
    for q in plan.pulls[index + 1 :]:
        hi = min(hi, q.start_s)
    for c in plan.cuts_s:
        if c <= p.start_s + 1e-9:
            lo = max(lo, c)
        else:
            hi = min(hi, c)
    return lo, hi


def retime_pull(plan: FocusPlan, index: int, start_s: float, end_s: float, ease_kind: str = "smoothstep"
                ) -> tuple[int, int]:  # fmt: skip
    """Redraw pull ``index`` over ``[start_s, end_s)`` (clamped to :func:`retime_bounds`), in place.
    Returns the changed frames as ``(first, stop)``."""
    if not 0 <= index < len(plan.pulls):
        raise ValueError(f"pull {index}: the plan has {len(plan.pulls)} pulls")
    p = plan.pulls[index]
    if p.end_s <= p.start_s:
        raise ValueError(f"pull {index} is a cut (focus jumps there): it has no length to drag")
    lo, hi = retime_bounds(plan, index)
    dt = frame_interval_s(plan.times_s)
    start_s = float(np.clip(start_s, lo, hi - dt))
    end_s = float(np.clip(end_s, start_s + dt, hi))
    t = plan.times_s
    span = (t >= min(p.start_s, start_s) - 1e-9) & (t < max(p.end_s, end_s) - 1e-9)
    d_from = _distance_row(plan, p.from_id, p.from_m if p.from_m == p.from_m else 10.0)
    d_to = _distance_row(plan, p.to_id, p.to_m if p.to_m == p.to_m else 10.0)
    before, after = span & (t < start_s - 1e-9), span & (t >= end_s - 1e-9)
    during = span & ~before & ~after
    x = (t[during] - start_s) / max(end_s - start_s, 1e-9)
    inv = 1 / d_from[during] + (1 / d_to[during] - 1 / d_from[during]) * ease(x, ease_kind)
    focus = plan.focus_m.astype(np.float64)
    focus[before], focus[after], focus[during] = d_from[before], d_to[after], 1 / inv
    plan.focus_m = focus.astype(np.float32)
    pts_from, pts_to = _point_row(plan, p.from_id), _point_row(plan, p.to_id)
    plan.subject_id[before] = p.from_id
    plan.subject_id[during | after] = p.to_id
    plan.focus_xy[before] = pts_from[before]
    plan.focus_xy[during | after] = pts_to[during | after]
    reason = p.reason.split(" [retimed")[0] + f" [retimed by the user: {start_s:.2f}-{end_s:.2f} s]"
    plan.pulls[index] = Pull(start_s, end_s, p.from_id, p.to_id, reason, p.from_m, p.to_m)
    idx = np.flatnonzero(span)
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)


def apply_aperture(plan: FocusPlan, edit: ApertureEdit) -> tuple[int, int]:
    """Set the f-number over the edit's range, in place; returns the frames whose value changed."""
    t = plan.times_s
    span = t >= edit.start_s - 1e-9
    if edit.end_s is not None:
        span &= t < edit.end_s - 1e-9
    changed = span & (np.abs(plan.f_number - edit.f_number) > 1e-6)
    plan.f_number[span] = edit.f_number
    idx = np.flatnonzero(changed)
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)


def find_pull(plan: FocusPlan, r: PullRetime) -> int | None:
    """Index of the pull a retime was made on, in a (re-planned) plan; None when it is gone."""
    best, best_d = None, RETIME_MATCH_S
    for i, p in enumerate(plan.pulls):
        d = abs(p.start_s - r.orig_start_s)
        if p.from_id == r.from_id and p.to_id == r.to_id and p.end_s > p.start_s and d <= best_d:
            best, best_d = i, d
    return best


def apply_edits(plan: FocusPlan, retimes: list[PullRetime], apertures: list[ApertureEdit]) -> list[str]:
    """Re-apply the stored edits to a freshly planned ``plan`` (in place) and record them in
    ``meta["edits"]``; returns notes on retimes whose pull the new plan no longer has."""
    notes = []
    kept = []
    for r in retimes:
        i = find_pull(plan, r)
        if i is None:
            notes.append(f"the pull {r.from_id} -> {r.to_id} retimed at {r.orig_start_s:.2f} s is gone after "
                         "the new decision; its retime was dropped")  # fmt: skip
            continue
        retime_pull(plan, i, r.start_s, r.end_s, _ease(plan))
        kept.append(r)
    retimes[:] = kept
    for a in apertures:
        apply_aperture(plan, a)
    plan.meta["edits"] = {
        "pulls": [r.to_dict() for r in retimes],
        "aperture": [a.to_dict() for a in apertures],
    }
    return notes


def edits_from_meta(meta: dict[str, Any]) -> tuple[list[PullRetime], list[ApertureEdit]]:
    """The stored edits of a plan file's ``meta["edits"]`` (empty when there are none)."""
    e = meta.get("edits") or {}
    retimes = [PullRetime(int(d["from"]), int(d["to"]), float(d["orig_start_s"]), float(d["start_s"]),
                          float(d["end_s"])) for d in e.get("pulls", [])]  # fmt: skip
    apertures = [ApertureEdit(float(d["f_number"]), float(d.get("start_s", 0.0)),
                              None if d.get("end_s") is None else float(d["end_s"]))
                 for d in e.get("aperture", [])]  # fmt: skip
    return retimes, apertures


def _ease(plan: FocusPlan) -> str:
    cfg = plan.meta.get("config") if isinstance(plan.meta, dict) else None
    return str(cfg.get("ease", "smoothstep")) if isinstance(cfg, dict) else "smoothstep"


def changed_span(a: FocusPlan, b: FocusPlan) -> tuple[int, int]:
    """(first, stop) of the frames where two plans of one clip differ in what the render uses
    (focus distance, f-number) or in who is in focus; (0, 0) when they are the same."""
    diff = (np.abs(a.focus_m - b.focus_m) > 1e-5) | (np.abs(a.f_number - b.f_number) > 1e-6)
    diff |= a.subject_id != b.subject_id
    idx = np.flatnonzero(diff)
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)
