"""Planning rules that do not depend on which planner runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Where focus goes when no subject is chosen: the scene at the centre of the frame. With nothing
# found, the centre is where composition puts what a shot is about (an insert of a document, a
# table-top seen from above, a road the camera looks down) and where a camera's autofocus looks
# by default; the centre third is its focus area, its median depth the distance (robust to an
# edge of something else crossing it).
SCENE_POINT_XY = (0.5, 0.5)
SCENE_WINDOW = (1 / 3, 1 / 3, 2 / 3, 2 / 3)  # x0, y0, x1, y1 as fractions of the frame
SCENE_RANGE_M = (0.2, 100.0)  # a lens's close focus (no macro) .. as good as infinity


def background_distance_m(depth: Any, frame: int = 0) -> float:
    """Focus distance when no subject is chosen, at ``frame``: the median depth (metres) of the
    centre third of ``depth.depth_m_at(frame)`` (:data:`SCENE_WINDOW`), clipped to
    :data:`SCENE_RANGE_M`."""
    d = np.asarray(depth.depth_m_at(frame))
    h, w = d.shape[:2]
    x0, y0, x1, y1 = SCENE_WINDOW
    core = d[int(y0 * h) : max(int(y1 * h), int(y0 * h) + 1), int(x0 * w) : max(int(x1 * w), int(x0 * w) + 1)]
    return float(np.clip(np.nanmedian(core), *SCENE_RANGE_M))


def background_distances_m(depth: Any, cut_frames: Sequence[int], n_frames: int) -> np.ndarray:
    """(T,) :func:`background_distance_m` of each shot's first frame, held over the shot (a cut to
    an insert or a wide gets its own scene distance; within a shot focus on nobody does not move)."""
    out = np.empty(n_frames, np.float64)
    starts = sorted({0, *(int(c) for c in cut_frames if 0 < c < n_frames)})
    for a, b in zip(starts, [*starts[1:], n_frames], strict=True):
        out[a:b] = background_distance_m(depth, a)
    return out
