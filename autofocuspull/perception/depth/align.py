"""Temporal alignment of relative depth: a robust scale/shift per frame against a running reference.

Monocular networks give relative inverse depth with an unknown affine scale per frame, so a
per-frame min-max normalisation makes static walls pulse whenever something bright enters the
frame. Instead each frame ``d_t`` is mapped to ``s_t * d_t + b_t`` where ``(s_t, b_t)`` is a
Huber-IRLS fit on *static* pixels (image content barely changed since the previous frame) against
a running reference (an exponential average of the aligned frames, anchored at the first frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from autofocuspull.core.types import check_array


@dataclass(frozen=True)
class AlignConfig:
    """Hyperparameters of :func:`robust_affine_fit` and :class:`DepthAligner`.

    ``momentum``: weight of a new aligned frame in the running reference; ``huber_k``: Huber
    threshold in robust standard deviations (1.4826 MAD); ``max_samples``: pixels used per fit
    (regular subsampling); ``min_samples``: below this many static pixels the previous scale/shift
    is kept; ``iterations``: IRLS rounds.
    """

    momentum: float = 0.2
    huber_k: float = 1.345
    max_samples: int = 20000
    min_samples: int = 64
    iterations: int = 10


def robust_affine_fit(
    x: np.ndarray, y: np.ndarray, *, huber_k: float = 1.345, iterations: int = 10, tukey_c: float = 4.685
) -> tuple[float, float]:
    """``(s, b)`` robustly minimising the residuals ``s * x + b - y``; x, y (N,) float.

    Starts from a median/MAD match (robust to a minority of outliers, unlike least squares),
    runs ``iterations`` Huber IRLS rounds (threshold ``huber_k`` robust sigmas, 1.4826 MAD), then
    as many Tukey-biweight rounds (``tukey_c`` sigmas), which give gross outliers zero weight.
    Raises ``ValueError`` when x is constant (no scale can be fitted).
    """
    x = check_array("x", x, (None,), np.float64)
    y = check_array("y", y, (x.shape[0],), np.float64)
    if x.size < 2 or np.ptp(x) <= 0:
        raise ValueError(f"robust_affine_fit: expected >= 2 distinct x values, got {x.size} samples")
    s, b = _median_mad_start(x, y)
    rounds = max(1, iterations)
    for k in range(2 * rounds):
        r = s * x + b - y
        sigma = 1.4826 * np.median(np.abs(r - np.median(r)))
        if sigma <= 1e-12:
            break
        a = np.abs(r) / sigma
        if k < rounds:
            w = np.minimum(1.0, huber_k / np.maximum(a, 1e-12))
        else:
            w = np.clip(1.0 - (a / tukey_c) ** 2, 0.0, None) ** 2
        if np.count_nonzero(w) < 2:
            break
        s, b = _weighted_lsq(x, y, w)
    return float(s), float(b)


def _median_mad_start(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    mx, my = np.median(x), np.median(y)
    dx, dy = np.median(np.abs(x - mx)), np.median(np.abs(y - my))
    if dx <= 0:
        return _weighted_lsq(x, y, np.ones_like(x))
    s = dy / dx
    return float(s), float(my - s * mx)


def _weighted_lsq(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    vx = (w * (x - mx) ** 2).sum()
    if vx <= 0:
        return 1.0, float(my - mx)
    s = (w * (x - mx) * (y - my)).sum() / vx
    return float(s), float(my - s * mx)


def static_mask(prev_grey: np.ndarray, grey: np.ndarray, threshold: float = 3.0) -> np.ndarray:
    """(h, w) bool: pixels whose blurred grey level changed by less than ``threshold`` (0..255).

    ``prev_grey``, ``grey``: (h, w) uint8 or float grey images of the same size.
    """
    prev_grey = check_array("prev_grey", prev_grey, (None, None))
    grey = check_array("grey", grey, prev_grey.shape)
    a = cv2.GaussianBlur(prev_grey.astype(np.float32), (5, 5), 1.0)
    b = cv2.GaussianBlur(grey.astype(np.float32), (5, 5), 1.0)
    return np.abs(a - b) < threshold


def resize_mask(mask: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a (h, w) bool mask to ``shape_hw``."""
    if mask.shape == tuple(shape_hw):
        return mask
    out = cv2.resize(mask.astype(np.uint8), (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_NEAREST)
    return out.astype(bool)


class DepthAligner:
    """Online aligner: feed frames in order, get each one's ``(scale, shift)`` to the reference.

    The first frame (and the first after :meth:`reset`, e.g. at a cut) defines the reference
    with ``(1, 0)``. ``state``/``load_state`` let a chunked run resume.
    """

    def __init__(self, config: AlignConfig = AlignConfig()) -> None:
        self.config = config
        self.reference: np.ndarray | None = None
        self.scale, self.shift = 1.0, 0.0

    def reset(self) -> None:
        """Forget the reference (the next frame starts a new one)."""
        self.reference = None
        self.scale, self.shift = 1.0, 0.0

    def update(self, rel: np.ndarray, static: np.ndarray | None = None) -> tuple[float, float]:
        """``(scale, shift)`` mapping ``rel`` (h, w) onto the reference; updates the reference.

        ``static`` (h, w) bool marks pixels usable for the fit (None = all). When too few are
        usable or the fit is degenerate (non-positive scale) the previous scale/shift is kept.
        """
        rel = check_array("rel", rel, (None, None), np.float32)
        if self.reference is None or self.reference.shape != rel.shape:
            self.reference = rel.astype(np.float32, copy=True)
            self.scale, self.shift = 1.0, 0.0
            return self.scale, self.shift
        ok = np.isfinite(rel) & np.isfinite(self.reference)
        if static is not None:
            ok &= resize_mask(check_array("static", static, (None, None)).astype(bool), rel.shape)
        self.scale, self.shift = self._fit(rel[ok], self.reference[ok])
        m = self.config.momentum
        aligned = self.scale * rel + self.shift
        self.reference = ((1.0 - m) * self.reference + m * aligned).astype(np.float32)
        return self.scale, self.shift

    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        cfg = self.config
        if x.size < cfg.min_samples:
            return self.scale, self.shift
        step = max(1, x.size // cfg.max_samples)
        try:
            s, b = robust_affine_fit(x[::step], y[::step], huber_k=cfg.huber_k, iterations=cfg.iterations)
        except ValueError:
            return self.scale, self.shift
        if not (np.isfinite(s) and np.isfinite(b) and s > 0):
            return self.scale, self.shift
        return s, b

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that :meth:`load_state` restores (for chunked, resumable runs)."""
        ref = np.zeros((0, 0), np.float32) if self.reference is None else self.reference
        return {"align_reference": ref, "align_scale_shift": np.array([self.scale, self.shift], np.float64)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        ref = np.asarray(state["align_reference"], np.float32)
        self.reference = ref if ref.size else None
        self.scale, self.shift = (float(v) for v in np.asarray(state["align_scale_shift"]))


def align_depth_sequence(
    rel: np.ndarray,
    static: np.ndarray | None = None,
    *,
    config: AlignConfig = AlignConfig(),
    reset_at: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align a (T, h, w) relative inverse depth sequence frame by frame.

    ``static`` (T, h, w) bool (None = all pixels); ``reset_at`` frame indices starting a new
    reference (shot cuts). Returns ``(aligned (T, h, w) float32, scale (T,), shift (T,))``.
    """
    rel = check_array("rel", rel, (None, None, None), np.float32)
    if static is not None:
        static = check_array("static", static, rel.shape).astype(bool)
    aligner = DepthAligner(config)
    resets = set(int(i) for i in reset_at)
    scale = np.ones(len(rel), np.float64)
    shift = np.zeros(len(rel), np.float64)
    for t in range(len(rel)):
        if t in resets:
            aligner.reset()
        scale[t], shift[t] = aligner.update(rel[t], None if static is None else static[t])
    aligned = (scale[:, None, None] * rel + shift[:, None, None]).astype(np.float32)
    return aligned, scale, shift


def flicker_figure(seq: Sequence[np.ndarray], static: Sequence[np.ndarray]) -> float:
    """Median frame-to-frame change of static pixels, relative to the depth range.

    For each consecutive pair: median over ``static[t]`` of ``|d_t - d_{t-1}|`` divided by the
    10-90 percentile range of ``d_{t-1}`` (so any common scale cancels, but a per-frame scale
    change counts); the figure is the median over pairs. ``seq``: T (h, w) maps; ``static``: T
    (h, w) bool (``static[0]`` unused). Returns NaN when no pair has static pixels.
    """
    if len(seq) != len(static):
        raise ValueError(f"flicker_figure: expected {len(seq)} static masks, got {len(static)}")
    vals = []
    for t in range(1, len(seq)):
        prev, cur = np.asarray(seq[t - 1], np.float64), np.asarray(seq[t], np.float64)
        m = resize_mask(np.asarray(static[t], bool), cur.shape)
        p10, p90 = np.percentile(prev, [10, 90])
        if m.sum() == 0 or p90 - p10 <= 0:
            continue
        vals.append(np.median(np.abs(cur[m] - prev[m])) / (p90 - p10))
    return float(np.median(vals)) if vals else float("nan")


def minmax_normalise(rel: np.ndarray) -> np.ndarray:
    """Per-frame min-max normalisation to [0, 1] (the baseline that flickers); (h, w) -> (h, w)."""
    rel = np.asarray(rel, np.float32)
    lo, hi = float(rel.min()), float(rel.max())
    return (rel - lo) / (hi - lo) if hi > lo else np.zeros_like(rel)
