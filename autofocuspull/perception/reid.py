"""Appearance re-identification: one identity per subject across tracker fragments.

The tracker (IoU on a motion model) loses a subject whenever it vanishes for longer than its
buffer, jumps further than its gate (a hand swinging a product, an object detector run every
third frame), or is occluded. Each loss starts a new id, and the planner sees a new subject (a
new "reason" to rack). Here fragments of one shot are stitched back into one identity when

- they never coexist (one thing cannot be two fragments at once) and the gap between them is at
  most ``max_gap_s``;
- they look alike: colour histograms (HSV, upper and lower halves of the box, so a dark top over
  jeans differs from jeans over dark shoes) compared with the Bhattacharyya coefficient;
- and, for a short gap, the new fragment starts near where the old one was (``near_gap_s``), or,
  for a long gap, it looks alike with a stricter threshold: a person who left and came back.

Stitching is greedy, best similarity first, and each fragment is joined at most once forwards and
once backwards, so chains stay in time order. It works within a group of the tracker (faces, or
people and objects); the label of a stitched subject is decided from all its detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from autofocuspull.core.types import Detections, check_array


@dataclass(frozen=True)
class ReidConfig:
    """Appearance descriptor and stitching thresholds.

    ``inner``: the part of a box that describes its subject (x0, y0, x1, y1 fractions): the middle
    60 % of the width (a box's sides are background for anything not box-shaped) and all of its
    height. ``hue_bins``, ``sat_bins``, ``val_bins``: an 8 x 4 x 4 HSV histogram per half box, the
    coarse colour a viewer names ("dark top, blue jeans"); finer bins split one subject under
    changing light. ``min_pixels``: crops smaller than that describe nothing.

    ``near_gap_s``: a fragment starting within 1.5 s of another's end, where that one was
    (``near_dist``: its centre within one box diagonal of the old one's: a hand swings a product
    about its own size in a second), is the same subject if it looks alike at ``near_similarity``
    0.7 -- loose, as place and time already agree (a product turned in a hand changes its colours,
    not its place).
    ``max_gap_s``: a subject may leave and come back (or hide behind something) up to 10 s and
    keep its id if it looks alike at ``far_similarity`` 0.9: strict, as place says nothing after
    that long. Longer than 10 s is a new entrance in the story, whoever it is.
    ``relabel_groups``: tracker groups whose fragments may join across groups (people and
    objects: a bird taken for a "person", then for a "teddy bear"), only when near in time and
    place: identity follows the track, not the label. ``dup_iou`` / ``dup_frac``: and two such
    fragments at the same time with the same box (IoU 0.7, what NMS calls one object, on 80 % of
    their common frames) are one thing detected under two labels at once.
    """

    inner: tuple[float, float, float, float] = (0.2, 0.0, 0.8, 1.0)
    hue_bins: int = 8
    sat_bins: int = 4
    val_bins: int = 4
    min_pixels: int = 16
    near_gap_s: float = 1.5
    near_dist: float = 1.0
    near_similarity: float = 0.7
    max_gap_s: float = 10.0
    far_similarity: float = 0.9
    relabel_groups: tuple[int, ...] = (0, 1)
    dup_iou: float = 0.7
    dup_frac: float = 0.8

    @property
    def dim(self) -> int:
        return 2 * self.hue_bins * self.sat_bins * self.val_bins


def appearance(rgb: np.ndarray, xyxy: np.ndarray, config: ReidConfig = ReidConfig()) -> np.ndarray:
    """(N, D) float32 descriptors of the boxes ``xyxy`` (N, 4) in ``rgb`` (H, W, 3) pixels.

    Each row is two L1-normalised HSV histograms (upper, lower half of the box's inner part),
    concatenated; a row of zeros where the crop is too small.
    """
    rgb = check_array("rgb", rgb, (None, None, 3))
    boxes = check_array("xyxy", xyxy, (None, 4), np.float64)
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), config.dim), np.float32)
    bins = [config.hue_bins, config.sat_bins, config.val_bins]
    half = config.dim // 2
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if not np.isfinite([x0, y0, x1, y1]).all():
            continue
        bw, bh = x1 - x0, y1 - y0
        a = int(np.clip(x0 + config.inner[0] * bw, 0, w)), int(np.clip(y0 + config.inner[1] * bh, 0, h))
        b = int(np.clip(x0 + config.inner[2] * bw, 0, w)), int(np.clip(y0 + config.inner[3] * bh, 0, h))
        crop = rgb[a[1] : b[1], a[0] : b[0]]
        if crop.shape[0] < 2 or crop.size // 3 < config.min_pixels:
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2HSV)
        mid = hsv.shape[0] // 2
        for k, part in enumerate((hsv[:mid], hsv[mid:])):
            hist = cv2.calcHist([part], [0, 1, 2], None, bins, [0, 180, 0, 256, 0, 256]).ravel()
            out[i, k * half : (k + 1) * half] = hist / max(float(hist.sum()), 1.0)
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two descriptors, averaged over their halves, in [0, 1]."""
    half = len(a) // 2
    parts = [float(np.sqrt(a[k : k + half] * b[k : k + half]).sum()) for k in (0, half)]
    return float(np.mean(parts))


@dataclass
class Fragment:
    """One tracker id: its span, first and last box, mean descriptor, and (optionally) every
    frame (K,) with its box (K, 4)."""

    track_id: int
    group: int
    start: int
    end: int
    first_xyxy: np.ndarray
    last_xyxy: np.ndarray
    descriptor: np.ndarray
    frames: np.ndarray | None = None
    boxes: np.ndarray | None = None


def fragments(
    tracked: Detections, descriptors: np.ndarray, group_of: Sequence[int] | np.ndarray
) -> list[Fragment]:
    """:class:`Fragment` per track id of ``tracked`` (N detections with ``frame_index``, ``track_id``);
    ``descriptors`` (N, D) their appearance; ``group_of`` (N,) their tracker group."""
    desc = check_array("descriptors", descriptors, (len(tracked), None), np.float32)
    groups = np.asarray(group_of)
    out = []
    for tid in np.unique(tracked.track_id):
        if tid < 0:
            continue
        rows = np.flatnonzero(tracked.track_id == tid)
        rows = rows[np.argsort(tracked.frame_index[rows], kind="stable")]
        d = desc[rows]
        good = d.sum(axis=1) > 0
        mean = d[good].mean(axis=0) if good.any() else np.zeros(desc.shape[1], np.float32)
        boxes = tracked.xyxy[rows].astype(np.float64)
        out.append(
            Fragment(int(tid), int(groups[rows[0]]), int(tracked.frame_index[rows[0]]),
                     int(tracked.frame_index[rows[-1]]), boxes[0], boxes[-1], mean,
                     tracked.frame_index[rows].astype(np.int64), boxes)
        )
    return out


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K,) IoU of matching rows of two (K, 4) box arrays."""
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def duplicates(frags: Sequence[Fragment], config: ReidConfig = ReidConfig()) -> dict[int, int]:
    """Map track id -> id of the fragment it duplicates: two fragments of different groups among
    ``config.relabel_groups`` that coexist and have the same box (IoU >= ``dup_iou`` on at least
    ``dup_frac`` of their common frames, 3 or more): one thing detected under two labels at once."""
    parent = {f.track_id: f.track_id for f in frags}

    def find(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    with_boxes = [f for f in frags if f.frames is not None and f.group in config.relabel_groups]
    for i, a in enumerate(with_boxes):
        for b in with_boxes[i + 1 :]:
            if a.group == b.group or b.start > a.end or a.start > b.end:
                continue
            common, ia, ib = np.intersect1d(a.frames, b.frames, return_indices=True)
            if len(common) < 3:
                continue
            if np.mean(_box_iou(a.boxes[ia], b.boxes[ib]) >= config.dup_iou) >= config.dup_frac:
                ra, rb = find(a.track_id), find(b.track_id)
                parent[max(ra, rb)] = min(ra, rb)
    return {k: find(k) for k in parent}


def _merged(group: list[Fragment]) -> Fragment:
    """One fragment standing for duplicates (their union in time, their mean look)."""
    first = min(group, key=lambda f: f.start)
    last = max(group, key=lambda f: f.end)
    desc = np.mean([f.descriptor for f in group], axis=0).astype(np.float32)
    return Fragment(min(f.track_id for f in group), first.group, first.start, last.end,
                    first.first_xyxy, last.last_xyxy, desc)


def _near(a: np.ndarray, b: np.ndarray, max_dist: float) -> bool:
    """Is box ``b``'s centre within ``max_dist`` box sizes (the larger diagonal) of box ``a``'s?"""
    ca, cb = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
    size = max(float(np.hypot(*(a[2:] - a[:2]))), float(np.hypot(*(b[2:] - b[:2]))), 1e-6)
    return float(np.hypot(*(cb - ca))) <= max_dist * size


def stitch(
    frags: Sequence[Fragment], fps: float, cuts: Sequence[int] = (), config: ReidConfig = ReidConfig()
) -> dict[int, int]:
    """Map every fragment's track id to the id of the identity it belongs to (its chain's first).

    Duplicates (:func:`duplicates`) are one identity first; then fragments are chained in time."""
    dup = duplicates(frags, config)
    groups: dict[int, list[Fragment]] = {}
    for f in frags:
        groups.setdefault(dup[f.track_id], []).append(f)
    chained = _chain([_merged(g) if len(g) > 1 else g[0] for g in groups.values()], fps, cuts, config)
    return {f.track_id: chained[dup[f.track_id]] for f in frags}


def _chain(
    frags: Sequence[Fragment], fps: float, cuts: Sequence[int], config: ReidConfig
) -> dict[int, int]:
    """Greedy time-ordered chaining of fragments that never coexist (see the module docstring)."""
    shot = lambda f: int(np.searchsorted(np.asarray(sorted(cuts)), f, side="right"))  # noqa: E731
    near_gap, far_gap = config.near_gap_s * fps, config.max_gap_s * fps
    pairs = []
    for a in frags:
        for b in frags:
            gap = b.start - a.end
            if a is b or gap <= 0 or gap > far_gap or shot(a.end) != shot(b.start):
                continue
            if a.group != b.group and not ({a.group, b.group} <= set(config.relabel_groups)):
                continue
            if not a.descriptor.any() or not b.descriptor.any():
                continue
            sim = similarity(a.descriptor, b.descriptor)
            close = gap <= near_gap and _near(a.last_xyxy, b.first_xyxy, config.near_dist)
            if a.group != b.group and not close:
                continue  # a label flip is one thing seen as another in one place, never far apart
            if sim >= (config.near_similarity if close else config.far_similarity):
                pairs.append((sim, a.track_id, b.track_id))
    succ: dict[int, int] = {}
    pred: dict[int, int] = {}
    for _, a, b in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if a not in succ and b not in pred:
            succ[a], pred[b] = b, a
    root = {}
    for f in sorted(frags, key=lambda f: f.start):
        root[f.track_id] = root[pred[f.track_id]] if f.track_id in pred else f.track_id
    return root
