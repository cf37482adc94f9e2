"""Where switches go: the solver's path is refined so that racks land on the new subject's cue,
never start a pull a cut would interrupt, and focus late detections from their shot's start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autofocuspull.core.arrays import shot_start_frame
from autofocuspull.core.types import PlanInputs
from autofocuspull.plan.pulls import pull_duration_s
from autofocuspull.plan.utility import Utility, late_detections
from autofocuspull.plan.viterbi import FREE

if TYPE_CHECKING:
    from autofocuspull.plan.planner import PlannerConfig


@dataclass(frozen=True)
class Switch:
    frame: int  # first frame on the new choice
    cause: int  # frame of what caused it (a speech onset may come a little earlier)
    old: int  # choice index (0 = background)
    new: int
    kind: str  # "speech", "saliency", "cut", "user", "lost", "start"
    reason: str


def snap_switches(path: np.ndarray, util: Utility, free: np.ndarray, hold_frames: int) -> np.ndarray:
    """Move each automatic switch later, to the first frame where the new choice's leading cue
    beats the old one's (the objective is flat or nearly so before it), keeping the minimum hold.
    A switch with no such frame before the hold limit stays where the solver put it."""
    path = path.copy()
    sw = np.flatnonzero(path[1:] != path[:-1]) + 1
    for i, k in enumerate(sw):
        if free[k]:
            continue
        old, new = path[k - 1], path[k]
        limit = sw[i + 1] - hold_frames if i + 1 < len(sw) else len(path) - 1
        f = k
        while f < limit and not free[f] and np.isfinite(util.rate[old, f]):
            if util.lead_cue[new, f] > util.lead_cue[old, f]:
                break
            f += 1
        found = free[f] or not np.isfinite(util.rate[old, f]) or util.lead_cue[new, f] > util.lead_cue[old, f]
        if f > k and f <= limit and found:
            path[k:f] = old
    return path


def _auto_switches(path: np.ndarray, free: np.ndarray) -> list[int]:
    return [int(f) for f in np.flatnonzero(path[1:] != path[:-1]) + 1 if not free[f]]


def drop_pulls_cut_short(
    path: np.ndarray,
    util: Utility,
    dist: np.ndarray,
    times: np.ndarray,
    cut_mask: np.ndarray,
    free: np.ndarray,
    cfg: PlannerConfig,
    deadband_dioptre: float = 0.0,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Hold the old choice instead of a pull that would not finish and hold ``min_hold_s`` before
    the new choice is gone: before the next cut, or before the new subject stops being focusable
    (it leaves the frame: a hand passing through, someone crossing). A focus puller does not rack
    to what is gone again before the rack has settled; the rack and the rack away again would be
    a hunt. The old choice is held over those frames only where it can be (still focusable; the
    scene always is); whatever the path does after them is kept. A switch to a subject gone again
    that moves focus less than ``deadband_dioptre`` (the hold deadband) is kept: it is a hand-over
    at one distance, no rack (:func:`~autofocuspull.plan.pulls.same_plane_handovers`), and the
    subject may be one whose track breaks up (a cup whose detections drop out while it is shuffled).

    Returns the new path and the dropped (frame, end frame, old, new); the end frame is a cut
    frame, or the first frame the new subject is no longer focusable."""
    path = path.copy()
    dropped = []
    for f in _auto_switches(path, free):
        old, new = int(path[f - 1]), int(path[f])
        if old == new:
            continue
        ends = np.flatnonzero(cut_mask[f + 1 :]) + f + 1
        step = abs(1.0 / dist[old, f - 1] - 1.0 / dist[new, f])
        if new > 0 and step >= deadband_dioptre:
            ends = np.r_[ends, np.flatnonzero(~util.focusable[new - 1, f:]) + f]
        if not len(ends):
            continue
        c = int(ends.min())
        need_s = pull_duration_s(float(dist[old, f - 1]), float(dist[new, f]), cfg) + cfg.min_hold_s
        if times[c] - times[f] >= need_s or free[f:c].any():
            continue
        if old > 0 and not util.focusable[old - 1, f:c].all():
            continue
        path[f:c] = old
        dropped.append((f, c, old, new))
    return path, dropped


def prefocus_late_detections(
    path: np.ndarray,
    util: Utility,
    inputs: PlanInputs,
    cut_mask: np.ndarray,
    free: np.ndarray,
    forced: np.ndarray,
    cfg: PlannerConfig,
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Move a switch on saliency (not in dialogue) to a subject detected late (mid-frame, within
    ``prefocus_window_s`` before the switch) back to its shot's start when one choice was held
    since then.
    Returns the new path and the moved (shot start frame, first detection frame, choice)."""
    times = inputs.cues.times_s
    late = {(row + 1, s0): first for row, s0, first in late_detections(inputs, cut_mask, cfg)}
    path = path.copy()
    moved = []
    for f in _auto_switches(path, free):
        new = int(path[f])
        if util.dialogue[f]:  # a speech onset is an event of its own: the rack stays on it
            continue
        s0 = shot_start_frame(cut_mask, f)
        first = late.get((new, s0))
        if first is None or first > f or times[f] - times[first] > cfg.prefocus_window_s + 1e-9:
            continue
        if (path[s0:f] != path[f - 1]).any() or (forced[s0:f] != FREE).any():
            continue
        path[s0:f] = new
        moved.append((s0, first, new))
    return path, moved
