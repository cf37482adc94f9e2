"""Frames and shots of a clip as the planner sees them: frame spacing, cut frames, shot starts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NONE_ID = -1  # subject id of "the background" in plans and decisions


def frame_duration_s(times_s: np.ndarray) -> float:
    """Median frame spacing in seconds (1/25 for a single frame)."""
    return float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.04


def cut_frames(cuts_s: Sequence[float], times_s: np.ndarray) -> np.ndarray:
    """(T,) bool: first frame of each shot after the first."""
    out = np.zeros(len(times_s), bool)
    for c in cuts_s:
        k = int(np.searchsorted(times_s, c - 1e-6))
        if 0 < k < len(times_s):
            out[k] = True
    return out


def shot_start_frame(cut_mask: np.ndarray, f: int) -> int:
    """First frame of the shot that frame ``f`` belongs to."""
    before = np.flatnonzero(cut_mask[: f + 1])
    return int(before[-1]) if len(before) else 0
