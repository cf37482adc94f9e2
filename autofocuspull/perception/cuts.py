"""Shot-cut detection: colour-histogram distance between consecutive frames, adaptive threshold.

Each frame is reduced to a hue-saturation histogram and a value histogram (HSV, on a small copy);
the score of a frame is the weighted half-L1 distance of its histograms to the previous frame's,
in [0, 1]. A new shot starts where the score is high in absolute terms *and* stands out from the
recent scores (a multiple of their mean), which keeps camera motion and fast action from firing;
the new frame must also differ from every one of the last few frames, so flicker that alternates
between two looks is not a cut; a minimum shot length keeps cuts apart. Value (brightness) has
a small weight. A one-frame flash (frame n+1 looks like frame n-1 again) is retracted from
:attr:`CutDetector.cuts` one frame later (``update`` has already answered True for it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from autofocuspull.core.registry import Registry
from autofocuspull.core.types import Frame, check_array


@dataclass(frozen=True)
class CutConfig:
    """Cut-detector hyperparameters (histogram bins, weights, thresholds, frames)."""

    analysis_side_px: int = 160
    hue_bins: int = 16
    sat_bins: int = 8
    val_bins: int = 8
    val_weight: float = 0.25
    threshold_abs: float = 0.25
    adaptive_ratio: float = 3.0
    adaptive_offset: float = 0.05
    window_frames: int = 12
    memory_frames: int = 6
    min_shot_frames: int = 8


def frame_histograms(rgb: np.ndarray, config: CutConfig) -> tuple[np.ndarray, np.ndarray]:
    """Normalised H-S histogram (hue_bins*sat_bins,) and V histogram (val_bins,), float32, sum 1."""
    rgb = check_array("rgb", rgb, (None, None, 3))
    h, w = rgb.shape[:2]
    s = min(1.0, config.analysis_side_px / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # input is RGB: explicit RGB conversion
    hs = cv2.calcHist([hsv], [0, 1], None, [config.hue_bins, config.sat_bins], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [config.val_bins], [0, 256]).ravel()
    return (hs / max(hs.sum(), 1.0)).astype(np.float32), (v / max(v.sum(), 1.0)).astype(np.float32)


def histogram_distance(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], val_weight: float
) -> float:
    """Weighted half-L1 distance of two (hs, v) histogram pairs, in [0, 1]."""
    d_hs = 0.5 * float(np.abs(a[0] - b[0]).sum())
    d_v = 0.5 * float(np.abs(a[1] - b[1]).sum())
    return (d_hs + val_weight * d_v) / (1.0 + val_weight)


class CutDetector:
    """Streaming cut detector: ``update(frame) -> True`` when ``frame`` starts a new shot.

    The first frame is not a cut. ``scores`` keeps every frame's distance to the previous one.
    """

    def __init__(self, config: CutConfig = CutConfig()) -> None:
        self.config = config
        self.cuts: list[int] = []
        self.scores: list[float] = []
        self._hists: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=config.memory_frames + 1)
        self._recent: deque[float] = deque(maxlen=config.window_frames)
        self._since_cut = 0
        self._pending: int | None = None  # last cut, until the next frame confirms it

    def update(self, frame: Frame | np.ndarray, index: int | None = None) -> bool:
        """Feed the next frame (a :class:`Frame` or RGB uint8 (H, W, 3)); True if a shot starts."""
        rgb = frame.rgb if isinstance(frame, Frame) else frame
        idx = frame.index if isinstance(frame, Frame) else (len(self.scores) if index is None else index)
        hist = frame_histograms(rgb, self.config)
        if not self._hists:
            self._hists.append(hist)
            self.scores.append(0.0)
            self._since_cut = 1
            return False
        vw = self.config.val_weight
        score = histogram_distance(self._hists[-1], hist, vw)
        self.scores.append(score)
        self._check_flash(hist)
        is_cut = self._decide(score, hist)
        self._recent.append(score)
        self._hists.append(hist)
        if is_cut:
            self.cuts.append(int(idx))
            self._pending = int(idx)
            self._since_cut = 0
        self._since_cut += 1
        return is_cut

    def _check_flash(self, hist: tuple[np.ndarray, np.ndarray]) -> None:
        """Retract the cut made one frame ago if this frame looks like the frame before it."""
        pending, self._pending = self._pending, None
        if pending is None or len(self._hists) < 2:
            return
        if histogram_distance(self._hists[-2], hist, self.config.val_weight) < self.config.threshold_abs:
            self.cuts.remove(pending)

    def _decide(self, score: float, hist: tuple[np.ndarray, np.ndarray]) -> bool:
        c = self.config
        if score < c.threshold_abs or self._since_cut < c.min_shot_frames:
            return False
        baseline = float(np.mean(self._recent)) if self._recent else 0.0
        if score < c.adaptive_ratio * baseline + c.adaptive_offset:
            return False
        return all(histogram_distance(h, hist, c.val_weight) >= c.threshold_abs for h in self._hists)


def detect_cuts(frames: Iterable[Frame], config: CutConfig = CutConfig()) -> list[int]:
    """Frame indices where a new shot starts (the first frame excluded)."""
    det = CutDetector(config)
    for f in frames:
        det.update(f)
    return det.cuts


class ShotCutDetector(Protocol):
    """A streaming cut detector: ``update(frame) -> True`` when the frame starts a new shot;
    ``cuts`` lists those frames' indices (the first frame is never a cut)."""

    cuts: list[int]

    def update(self, frame: Frame | np.ndarray, index: int | None = None) -> bool: ...


# The only way a cut detector is found by name (``[stages] cuts``), each built from a CutConfig;
# plug-ins: ``autofocuspull.cuts``.
CUT_DETECTORS: Registry[Callable[[CutConfig], ShotCutDetector]] = Registry(
    "cut detector", "autofocuspull.cuts"
)
CUT_DETECTORS.register("hsv-histogram", CutDetector)
