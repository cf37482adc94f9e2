"""Small array helpers shared by the stages: the frame interval, time-to-frame lookup (first frame at
or after a time, nearest frame), shots (cut masks, shot numbers, shot starts), runs of a mask, frame
edges, batches of a stream. Each concept has its one definition here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

DEFAULT_FRAME_INTERVAL_S = 0.04  # 25 fps: only a clip of fewer than 2 frames has no interval to measure
TIME_TOLERANCE_S = 1e-6  # times this close are the same instant: a microsecond is far below any frame
# interval (>= 1 ms even at 1000 fps) and far above float64 round-off of times of a day-long clip


def frame_interval_s(times_s: np.ndarray) -> float:
    """The frame interval of a clip in seconds: the median spacing of its (T,) frame times (robust
    to a dropped or duplicated frame of variable-rate footage), ``DEFAULT_FRAME_INTERVAL_S`` when
    T < 2. The one definition every stage uses."""
    t = np.asarray(times_s, np.float64)
    return float(np.median(np.diff(t))) if len(t) > 1 else DEFAULT_FRAME_INTERVAL_S


def first_index_at(times_s: np.ndarray, t_s: float) -> int:
    """Index of the first of sorted frame times ``times_s`` (T,) at or after ``t_s``: the frame on
    which something that starts at ``t_s`` is first shown. A time within ``TIME_TOLERANCE_S`` of a
    frame time is that frame (times computed as sums of intervals land a hair early or late). T
    when ``t_s`` is after the last frame."""
    return int(np.searchsorted(times_s, float(t_s) - TIME_TOLERANCE_S))


def cut_frame_mask(times_s: np.ndarray, cuts_s: Sequence[float]) -> np.ndarray:
    """(T,) bool: True on the first frame of every shot after the first (the frame at or after each
    cut time); cuts at or before the first frame or after the last are ignored."""
    out = np.zeros(len(times_s), bool)
    for c in cuts_s:
        k = first_index_at(times_s, c)
        if 0 < k < len(times_s):
            out[k] = True
    return out


def cut_times_s(times_s: np.ndarray, cut_frames: Sequence[int]) -> list[float]:
    """Times in s of the cuts given as first-frame indices (the inverse of :func:`cut_frame_mask`);
    a cut at frame 0 or past the last frame is no cut."""
    return [float(times_s[i]) for i in cut_frames if 0 < i < len(times_s)]


def shot_start_frame(cut_mask: np.ndarray, f: int) -> int:
    """First frame of the shot that frame ``f`` belongs to, from a (T,) :func:`cut_frame_mask`."""
    before = np.flatnonzero(cut_mask[: f + 1])
    return int(before[-1]) if len(before) else 0


def shot_index(times_s: np.ndarray, cuts_s: Sequence[float]) -> np.ndarray:
    """(T,) int64 shot number of each frame: a cut at ``c`` starts a new shot at frames ``t >= c``
    (within ``TIME_TOLERANCE_S``, as :func:`first_index_at` decides where a cut falls)."""
    cuts = np.sort(np.asarray(cuts_s, np.float64))
    shifted = np.asarray(times_s, np.float64) + TIME_TOLERANCE_S
    return np.searchsorted(cuts, shifted, side="right").astype(np.int64)


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


def touches_edge(xyxy_px: np.ndarray, image_size: tuple[int, int], margin_xy_px: tuple[float, float]) -> Any:
    """Whether boxes (..., 4) in pixels lie within ``margin_xy_px`` (x, y) of a border of a (w, h)
    frame: a bool for one box (4,), a (...) bool array for many. A NaN box (absent) touches nothing."""
    (w, h), (mx, my) = image_size, margin_xy_px
    x0, y0, x1, y1 = np.moveaxis(np.asarray(xyxy_px, np.float64), -1, 0)
    with np.errstate(invalid="ignore"):
        out = (x0 <= mx) | (y0 <= my) | (x1 >= w - mx) | (y1 >= h - my)
    return bool(out) if out.ndim == 0 else out


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items of a stream (the last one shorter), read lazily."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
