"""Small array helpers shared by the stages (frame interval, runs of a mask, nearest-in-time lookup,
frame edges)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_FRAME_INTERVAL_S = 0.04  # 25 fps: only a clip of fewer than 2 frames has no interval to measure


def frame_interval_s(times_s: np.ndarray) -> float:
    """The frame interval of a clip in seconds: the median spacing of its (T,) frame times (robust
    to a dropped or duplicated frame of variable-rate footage), ``DEFAULT_FRAME_INTERVAL_S`` when
    T < 2. The one definition every stage uses."""
    t = np.asarray(times_s, np.float64)
    return float(np.median(np.diff(t))) if len(t) > 1 else DEFAULT_FRAME_INTERVAL_S


def shot_index(times_s: np.ndarray, cuts_s: Sequence[float]) -> np.ndarray:
    """(T,) int64 shot number of each frame: a cut at ``c`` starts a new shot at frames ``t >= c``."""
    return np.searchsorted(np.sort(np.asarray(cuts_s, np.float64)), times_s, side="right").astype(np.int64)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` index ranges (stop exclusive) of the True runs of a (T,) bool mask."""
    d = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def nearest_index(times_s: np.ndarray, query_s: np.ndarray) -> np.ndarray:
    """Index of the nearest of sorted ``times_s`` (N,) for each query time (M,) -> (M,) int64.

    On a tie the earlier one wins.
    """
    if len(times_s) == 1:
        return np.zeros(len(query_s), np.int64)
    idx = np.clip(np.searchsorted(times_s, query_s), 1, len(times_s) - 1)
    return np.where(query_s - times_s[idx - 1] <= times_s[idx] - query_s, idx - 1, idx).astype(np.int64)


def fill_nearest(values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Copy of ``values`` (T,) whose NaNs (only those at ``where`` (T,) bool, if given) take the value
    of the nearest finite frame, the earlier one on a tie. An all-NaN series stays NaN."""
    out = np.array(values, copy=True)
    ok = np.flatnonzero(np.isfinite(out))
    todo = ~np.isfinite(out) if where is None else np.asarray(where, bool) & ~np.isfinite(out)
    todo = np.flatnonzero(todo)
    if len(ok) and len(todo):
        out[todo] = out[ok[nearest_index(ok.astype(np.float64), todo.astype(np.float64))]]
    return out


def touches_edge(xyxy_px: np.ndarray, image_size: tuple[int, int], margin_xy_px: tuple[float, float]) -> bool:
    """Whether a box (4,) in pixels lies within ``margin_xy_px`` (x, y) of a border of a (w, h) frame."""
    (w, h), (mx, my) = image_size, margin_xy_px
    x0, y0, x1, y1 = (float(v) for v in xyxy_px)
    return x0 <= mx or y0 <= my or x1 >= w - mx or y1 >= h - my
