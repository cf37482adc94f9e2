"""Metric scale for relative inverse depth, from subject size priors.

Parameterisation: ``depth_m = 1 / (a * rel + b)``. Relative inverse depth from affine-invariant
networks (Depth Anything) is disparity up to an unknown scale and shift, so inverse metric depth
is affine in it; ``(a, b)`` is fitted robustly (Huber IRLS on ``1 / distance_m``) to samples of
aligned ``rel`` at subjects whose distance a size prior gives:

* a face is about :data:`FACE_WIDTH_M` = 0.16 m wide (bizygomatic width incl. ears' base), so
  ``distance_m = focal_length_px * 0.16 / face_width_px``;
* a standing adult is about :data:`PERSON_HEIGHT_M` = 1.7 m tall (used only for whole, upright
  person boxes: height > 1.5 x width and not cut by the top or bottom frame edge).

With samples at one distance only the shift cannot be told from the scale; then ``b = 0`` (pure
scale, the disparity model) is used. Without any subject, a user-given distance (or
:data:`DEFAULT_SCENE_DISTANCE_M`) is assigned to the median pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autofocuspull.core.types import check_array
from autofocuspull.perception.depth.align import robust_affine_fit

FACE_WIDTH_M = 0.16
PERSON_HEIGHT_M = 1.7
# Horizontal field of view assumed for unknown cameras: between a phone's main camera (26 mm
# equivalent, 69 deg) and a 35 mm lens on full frame (54 deg).
DEFAULT_HFOV_DEG = 60.0
# Distance given to the median pixel when there is no subject and no user distance.
DEFAULT_SCENE_DISTANCE_M = 3.0
MIN_DEPTH_M = 0.05
MAX_DEPTH_M = 500.0
PRIOR_KINDS = ("face", "person")


def focal_length_px(image_width_px: float, hfov_deg: float = DEFAULT_HFOV_DEG) -> float:
    """Pinhole focal length in pixels: ``(width / 2) / tan(hfov / 2)``."""
    if not (image_width_px > 0 and 0 < hfov_deg < 180):
        raise ValueError(
            f"focal_length_px: expected width > 0 and 0 < hfov < 180, got {image_width_px}, {hfov_deg}"
        )
    return (image_width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def prior_distance_m(
    box_xyxy: np.ndarray,
    kind: str,
    focal_length_px: float,
    image_height_px: float | None = None,
) -> float:
    """Distance (m) of a subject from its box size: faces by width, standing people by height.

    ``box_xyxy`` (4,) pixels. For ``kind="person"`` returns NaN when the box is not upright
    (height <= 1.5 x width) or, given ``image_height_px``, touches the top or bottom edge.
    """
    box = check_array("box_xyxy", box_xyxy, (4,), np.float64)
    if kind not in PRIOR_KINDS:
        raise ValueError(f"prior_distance_m: expected kind in {PRIOR_KINDS}, got {kind!r}")
    w, h = box[2] - box[0], box[3] - box[1]
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        return float("nan")
    if kind == "face":
        return float(focal_length_px * FACE_WIDTH_M / w)
    cut = image_height_px is not None and (box[1] <= 1.0 or box[3] >= image_height_px - 1.0)
    if h <= 1.5 * w or cut:
        return float("nan")
    return float(focal_length_px * PERSON_HEIGHT_M / h)


@dataclass(frozen=True)
class MetricFit:
    """``depth_m = clip(1 / (a * rel + b), min_m, max_m)``; ``how`` says where it came from."""

    a: float
    b: float
    how: str
    n_samples: int = 0
    min_m: float = MIN_DEPTH_M
    max_m: float = MAX_DEPTH_M

    def depth_m(self, rel: np.ndarray) -> np.ndarray:
        """Metres (same shape, float32) from aligned relative inverse depth."""
        inv = self.a * np.asarray(rel, np.float64) + self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(inv > 0, 1.0 / inv, self.max_m)
        return np.clip(d, self.min_m, self.max_m).astype(np.float32)

    def to_dict(self) -> dict[str, float | int | str]:
        return {"a": self.a, "b": self.b, "how": self.how, "n_samples": self.n_samples}


def fit_metric_scale(
    rel_inv_depth_samples: np.ndarray,
    prior_distances_m: np.ndarray,
    *,
    min_rel_spread: float = 0.1,
    huber_k: float = 1.345,
) -> tuple[float, float]:
    """``(a, b)`` with ``1 / distance_m ~ a * rel + b``, robust to outliers (Huber IRLS).

    ``rel_inv_depth_samples``, ``prior_distances_m``: (N,) paired samples; non-finite or
    non-positive pairs are dropped. When the samples' rel spread (10-90 percentile range over
    median) is below ``min_rel_spread`` or the affine fit has ``a <= 0``, falls back to ``b = 0``
    with ``a`` the median of ``1 / (distance * rel)``. Raises ``ValueError`` with no usable sample.
    """
    rel = check_array("rel_inv_depth_samples", rel_inv_depth_samples, (None,), np.float64)
    dist = check_array("prior_distances_m", prior_distances_m, (rel.shape[0],), np.float64)
    ok = np.isfinite(rel) & np.isfinite(dist) & (dist > 0) & (rel > 0)
    rel, inv = rel[ok], 1.0 / dist[ok]
    if rel.size == 0:
        raise ValueError("fit_metric_scale: no usable (rel > 0, distance > 0) sample")
    p10, p50, p90 = np.percentile(rel, [10, 50, 90])
    if rel.size >= 3 and (p90 - p10) / p50 >= min_rel_spread:
        a, b = robust_affine_fit(rel, inv, huber_k=huber_k, iterations=20)
        if a > 0:
            return a, b
    return float(np.median(inv / rel)), 0.0


def fit_from_distance(rel: np.ndarray, distance_m: float, how: str) -> MetricFit:
    """Pure-scale fit (b = 0) putting the median of positive ``rel`` values at ``distance_m``."""
    r = np.asarray(rel, np.float64)
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0 or not distance_m > 0:
        raise ValueError(f"fit_from_distance: need positive rel values and distance, got {distance_m}")
    return MetricFit(float(1.0 / (distance_m * np.median(r))), 0.0, how, int(r.size))
