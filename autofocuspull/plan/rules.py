"""Planning rules that do not depend on which planner runs."""

from __future__ import annotations

from typing import Any

import numpy as np

BACKGROUND_PERCENTILE = 75.0  # a far point of the scene, robust to the sky / a window (the max)
BACKGROUND_RANGE_M = (1.0, 100.0)


def background_distance_m(depth: Any) -> float:
    """Focus distance when no subject is chosen: a far point of the scene, the 75th percentile of
    the first frame's depth (``depth.depth_m_at(0)``, metres), clipped to 1..100 m."""
    d = depth.depth_m_at(0)
    return float(np.clip(np.nanpercentile(d, BACKGROUND_PERCENTILE), *BACKGROUND_RANGE_M))
