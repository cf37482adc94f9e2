"""Class-agnostic subjects: salient regions no detector names (an animal outside COCO, a toy, a prop).

A detector only finds its classes; a shot whose subject is something else would have no subject
at all, and focus would sit on the background. Here each analysed frame gets a saliency map from
two cues a viewer's eye uses:

- *spectral residual* (Hou & Zhang, "Saliency detection: a spectral residual approach", CVPR 2007):
  the part of the image's log-amplitude spectrum that a smooth spectrum does not explain, back in
  the image domain; it marks the region that is unlike the rest of the picture;
- *motion*: the absolute change from the previous analysed frame (of one shot), after removing the
  frame's global shift (phase correlation), so a handheld camera's drift is not motion.

Each cue is divided by its mean (so neither dominates by scale), they are summed, and the region
above ``threshold_ratio`` times the mean (Hou & Zhang's rule) becomes a box proposal with class
:data:`~autofocuspull.core.types.OBJECT_CLASS_ID` ("object"), which the tracker follows like any
other object. Proposals are only made where no detector box already is (what a detector names, it
names better), only for regions that move, and only in frames where the detectors found no
subject-sized thing: they fill the gap, they do not compete with faces, people or named objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from autofocuspull.core.labels import OBJECT_CLASS_ID
from autofocuspull.core.types import Detections, check_array


@dataclass(frozen=True)
class SalientConfig:
    """Saliency proposals.

    ``side_px``: the saliency map's long side. Spectral residual is defined at a coarse scale (64 px
    in the paper): at that size an object is a blob, its texture noise. ``blur_frac``: the map is
    smoothed with a Gaussian of this fraction of the side (2 px at 64). Hou & Zhang's sigma 8 at
    64 px (1/8) merges a small animal with its surroundings: on a toy crossing a grass photo, at 1/16
    the toy's peak (2.2-2.7 x mean) did not clear the grass's maxima (2.1); at 1/32 the toy is
    2.5-3.9 x mean and the grass's 99th percentile at most 1.9. ``motion_weight``: motion counts as
    much as appearance (1.0): a thing walking up to the lens is salient because it moves.
    ``threshold_ratio``: the object map is the saliency above twice its mean (between those two
    figures; Hou & Zhang's 3 x mean was for their coarser map).
    ``min_area_frac`` / ``max_area_frac``: a proposal covers 0.5-40 % of the frame; smaller is a
    speck nobody would focus on, larger is the scene itself. ``max_known_overlap``: a proposal half
    covered by a detector box is that detection again. ``max_known_area_frac``: frames where the
    detectors already found things covering 1 % of the picture get no proposals (the Perceiver
    counts every detection: faces, people, named objects, cars).
    ``max_proposals``: the largest region only. Proposals stand in for a subject the detectors
    missed, and a shot is about one thing at a time; two salient regions would also split one
    thing into its parts (a mug's body and its white band) and invite pulls between specks.
    ``min_motion`` / ``min_motion_ratio``: a proposal must move: its mean lightness change from the
    previous analysed frame (after the global shift is removed) at least 0.01 (2.5/255: sensor noise
    and compression shimmer average well below 1/255 over a region, an animal walking changes its
    region by several levels) and 1.5 times the frame's mean change (so a handheld camera's residual
    motion, everywhere at once, is not a subject). Whatever stands out but stays still is scenery:
    an empty room's table, a road sign. Things that matter and stay still are what detectors name.
    """

    enabled: bool = True
    side_px: int = 64
    blur_frac: float = 1 / 32
    motion_weight: float = 1.0
    threshold_ratio: float = 2.0
    min_area_frac: float = 0.005
    max_area_frac: float = 0.4
    max_known_overlap: float = 0.5
    max_known_area_frac: float = 0.01
    max_proposals: int = 1
    min_motion: float = 0.01
    min_motion_ratio: float = 1.5


def small_lab(rgb: np.ndarray, side_px: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 CIE Lab (h, w, 3), each channel in [0, 1], with
    max(h, w) = ``side_px``. Lightness alone misses a red toy on green grass (same grey); the
    opponent colour channels a (green-red) and b (blue-yellow) do not."""
    rgb = check_array("rgb", rgb, (None, None, 3))
    h, w = rgb.shape[:2]
    s = side_px / max(h, w)
    small = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0


def spectral_residual(gray: np.ndarray, blur_px: float) -> np.ndarray:
    """(h, w) float32 saliency of a grey image (Hou & Zhang 2007), >= 0."""
    f = np.fft.fft2(gray)
    log_amp = np.log(np.abs(f) + 1e-8)
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    return cv2.GaussianBlur(sal.astype(np.float32), (0, 0), max(blur_px, 0.5))


def motion_map(gray: np.ndarray, prev: np.ndarray | None, blur_px: float) -> np.ndarray:
    """(h, w) float32 change from ``prev`` after removing the global shift (zeros without ``prev``)."""
    if prev is None or prev.shape != gray.shape:
        return np.zeros_like(gray)
    (dx, dy), _ = cv2.phaseCorrelate(prev.astype(np.float64), gray.astype(np.float64))
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(prev, m, (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(np.abs(gray - moved), (0, 0), max(blur_px, 0.5))


def saliency_map(
    lab: np.ndarray, prev: np.ndarray | None, config: SalientConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) float32 combined saliency of a small Lab image in units of its mean (1 = average):
    the spectral residual of each channel (each in units of its mean) and the lightness motion;
    and the motion map itself (mean absolute lightness change, 0-1; zeros without ``prev``)."""
    blur = config.blur_frac * max(lab.shape[:2])
    out = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        sr = spectral_residual(lab[..., c], blur)
        out += sr / max(float(sr.mean()), 1e-12)
    out /= 3.0
    mo = motion_map(lab[..., 0], None if prev is None else prev[..., 0], blur)
    if config.motion_weight > 0 and float(mo.mean()) > 1e-6:
        out = out + config.motion_weight * mo / float(mo.mean())
    return (out / max(float(out.mean()), 1e-12)).astype(np.float32), mo


def _covered(box: np.ndarray, known: np.ndarray) -> float:
    """Fraction of ``box`` (4,) inside the union of ``known`` boxes (K, 4) (by a pixel grid)."""
    if not len(known):
        return 0.0
    x0, y0, x1, y1 = box
    xs, ys = np.linspace(x0, x1, 16), np.linspace(y0, y1, 16)
    gx, gy = np.meshgrid(xs, ys)
    inside = np.zeros(gx.shape, bool)
    for k in known:
        inside |= (gx >= k[0]) & (gx <= k[2]) & (gy >= k[1]) & (gy <= k[3])
    return float(inside.mean())


def salient_proposals(
    rgb: np.ndarray,
    prev_gray: np.ndarray | None,
    known_xyxy: np.ndarray,
    subject_xyxy: np.ndarray | None = None,
    config: SalientConfig = SalientConfig(),
) -> tuple[Detections, np.ndarray]:
    """Proposals for ``rgb`` (H, W, 3) and its small Lab image (for the next frame's motion).

    ``prev_gray``: the previous analysed frame's small Lab image (None at a shot's start);
    ``known_xyxy`` (K, 4): every detector box of this frame, in ``rgb`` pixels (proposals avoid
    them); ``subject_xyxy`` (J, 4): those that are subjects (faces, people, salient classes; default
    all of ``known_xyxy``), whose area decides whether the frame needs proposals at all. Returns
    :class:`Detections` of class "object" in ``rgb`` pixels (confidence from the region's
    saliency: 0.55 at the threshold, rising with contrast) and the small Lab image.
    """
    gray = small_lab(rgb, config.side_px)
    known = check_array("known_xyxy", known_xyxy, (None, 4), np.float64)
    subj = known if subject_xyxy is None else check_array("subject_xyxy", subject_xyxy, (None, 4), np.float64)
    h_img, w_img = rgb.shape[:2]
    known_area = float(np.sum(np.prod(np.clip(subj[:, 2:] - subj[:, :2], 0, None), axis=1)))
    if not config.enabled or known_area > config.max_known_area_frac * h_img * w_img:
        return Detections.empty(), gray
    if prev_gray is None:
        return Detections.empty(), gray  # a shot's first frame: no motion to tell a subject from scenery
    sal, motion = saliency_map(gray, prev_gray, config)
    floor = max(config.min_motion, config.min_motion_ratio * float(motion.mean()))
    binary = (sal > config.threshold_ratio).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    sx, sy = w_img / gray.shape[1], h_img / gray.shape[0]
    boxes, conf = [], []
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
    for k in order:
        x, y, w, h, area = stats[k]
        if not config.min_area_frac <= area / binary.size <= config.max_area_frac:
            continue
        box = np.array([x * sx, y * sy, (x + w) * sx, (y + h) * sy])
        if _covered(box, known) > config.max_known_overlap:
            continue
        if float(motion[labels == k].mean()) < floor:
            continue  # it does not move: scenery (a table, a sign), however it stands out
        ratio = float(sal[labels == k].mean())
        boxes.append(box)
        conf.append(min(0.95, 0.55 + 0.05 * (ratio - config.threshold_ratio)))
        if len(boxes) >= config.max_proposals:
            break
    if not boxes:
        return Detections.empty(), gray
    xyxy = np.asarray(boxes, np.float32)
    cls = np.full(len(boxes), OBJECT_CLASS_ID, np.int32)
    return Detections(xyxy, np.asarray(conf, np.float32), cls), gray
