"""Heuristic metric depth, the documented fallback when no depth network can be loaded.

Each frame is a far background plane (:data:`DEFAULT_BACKGROUND_M`) with every subject painted
at its distance (a given ``distance_m``, else its size prior: face width 0.16 m, standing adult
1.7 m, else :data:`DEFAULT_SUBJECT_M`), nearest last so it occludes. A subject covers its person
mask where a segmenter supplied one, else the ellipse inscribed in its box; a person known only by
its face (no body box, e.g. when no person detector is available) covers a head-and-shoulders
silhouette instead: the head (face box widened for hair) and a torso ellipse below it, since a
face implies a body that should not be blurred as background. It is crude on
purpose: focus distances of subjects are right to the priors' accuracy, the background is blurred
as one plane. A loud WARNING is logged once per instance and :data:`HEURISTIC_NOTE` is meant for
the plan file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from autofocuspull.core.types import DepthKind, SubjectTracks, check_array
from autofocuspull.perception.depth.calibrate import prior_distances_from_tracks
from autofocuspull.perception.depth.metric import focal_length_px

log = logging.getLogger(__name__)

DEFAULT_BACKGROUND_M = 20.0
DEFAULT_SUBJECT_M = 2.0
HEURISTIC_SOURCE = "heuristic"
HEURISTIC_NOTE = (
    "depth is HEURISTIC (no depth model could be loaded): subjects at size-prior distances, "
    f"background at {DEFAULT_BACKGROUND_M:g} m; pass --depth-model PATH for real depth"
)

MaskFn = Callable[[int], np.ndarray | None]


def heuristic_depth_map(
    shape_hw: tuple[int, int],
    boxes_xyxy: np.ndarray,
    distances_m: np.ndarray,
    masks: np.ndarray | None = None,
    *,
    background_m: float = DEFAULT_BACKGROUND_M,
    face_only: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) float32 metres: background plane with subjects painted far to near.

    ``boxes_xyxy`` (N, 4) in map pixels; ``distances_m`` (N,) (NaN = skip the subject);
    ``masks`` (N, h, w) bool person masks (None, or an all-False mask, = use the box's ellipse);
    ``face_only`` (N,) bool: the box is a face, paint a head-and-shoulders silhouette.
    """
    h, w = shape_hw
    boxes = check_array("boxes_xyxy", boxes_xyxy, (None, 4), np.float64)
    dist = check_array("distances_m", distances_m, (boxes.shape[0],), np.float64)
    if masks is not None:
        masks = check_array("masks", masks, (boxes.shape[0], h, w)).astype(bool)
    out = np.full((h, w), background_m, np.float32)
    for i in np.argsort(-np.nan_to_num(dist, nan=-1.0)):
        if not (np.isfinite(dist[i]) and dist[i] > 0 and np.isfinite(boxes[i]).all()):
            continue
        if masks is not None and masks[i].any():
            region = masks[i]
        elif face_only is not None and face_only[i]:
            region = head_and_shoulders(shape_hw, boxes[i])
        else:
            region = _ellipse(shape_hw, boxes[i])
        out[region] = dist[i]
    return out


def head_and_shoulders(shape_hw: tuple[int, int], face_xyxy: np.ndarray) -> np.ndarray:
    """(h, w) bool silhouette of a person from the face box: head (with hair) and torso below."""
    x0, y0, x1, y1 = face_xyxy
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2.0
    head = np.array([cx - 0.65 * fw, y0 - 0.35 * fh, cx + 0.65 * fw, y1 + 0.1 * fh])
    torso = np.array([cx - 1.4 * fw, y1 + 0.2 * fh, cx + 1.4 * fw, y1 + 5.0 * fh])
    neck = np.array([cx - 0.35 * fw, y1 - 0.2 * fh, cx + 0.35 * fw, y1 + 0.6 * fh])
    return _ellipse(shape_hw, head) | _ellipse(shape_hw, torso) | _ellipse(shape_hw, neck)


def _ellipse(shape_hw: tuple[int, int], box: np.ndarray) -> np.ndarray:
    canvas = np.zeros(shape_hw, np.uint8)
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    ax, ay = max(0.5, (box[2] - box[0]) / 2.0), max(0.5, (box[3] - box[1]) / 2.0)
    cv2.ellipse(canvas, (round(cx), round(cy)), (round(ax), round(ay)), 0.0, 0.0, 360.0, 1, -1)
    return canvas.astype(bool)


class HeuristicDepth:
    """Fallback depth with the estimator interface, given subjects instead of a network.

    ``predict(images, boxes_xyxy=..., distances_m=..., masks=...)`` returns (B, H, W) float32
    metres at the images' size. ``kind`` is ``"metric_m"``.
    """

    kind: DepthKind = "metric_m"

    def __init__(self, *, background_m: float = DEFAULT_BACKGROUND_M, reason: str = "") -> None:
        self.background_m = background_m
        self.reason = reason
        self.source = HEURISTIC_SOURCE
        self.note = HEURISTIC_NOTE + (f" ({reason})" if reason else "")
        self._warned = False

    def warn_once(self) -> None:
        if not self._warned:
            log.warning("!!! %s", self.note)
            self._warned = True

    def predict(
        self,
        images: Sequence[np.ndarray],
        boxes_xyxy: Sequence[np.ndarray] | None = None,
        distances_m: Sequence[np.ndarray] | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """(B, H, W) float32 metres; per image (N_i, 4) boxes, (N_i,) distances, (N_i, H, W) masks."""
        self.warn_once()
        out = []
        for i, im in enumerate(images):
            hw = check_array(f"images[{i}]", im, (None, None, 3)).shape[:2]
            boxes = np.zeros((0, 4)) if boxes_xyxy is None else boxes_xyxy[i]
            dist = np.full(len(boxes), DEFAULT_SUBJECT_M) if distances_m is None else distances_m[i]
            mask = None if masks is None else masks[i]
            out.append(heuristic_depth_map(hw, boxes, dist, mask, background_m=self.background_m))
        return np.stack(out) if out else np.zeros((0, 0, 0), np.float32)


class HeuristicDepthSource:
    """Per-frame heuristic metres for a tracked clip: ``depth_m_at(index) -> (h, w)``.

    Distances: the tracks' ``distance_m`` where finite, else size priors (``focal_px`` defaults
    to :func:`focal_length_px` of the frame width), else :data:`DEFAULT_SUBJECT_M`.
    ``mask_fn(index)`` may return (S, H, W) bool person masks at frame size (or None).
    """

    kind: DepthKind = "metric_m"

    def __init__(
        self,
        tracks: SubjectTracks,
        frame_size_hw: tuple[int, int],
        shape_hw: tuple[int, int],
        *,
        focal_px: float | None = None,
        mask_fn: MaskFn | None = None,
        background_m: float = DEFAULT_BACKGROUND_M,
        reason: str = "",
    ) -> None:
        self.tracks = tracks
        self.frame_size_hw = frame_size_hw
        self.shape_hw = shape_hw
        self.n_frames = tracks.n_frames
        self.mask_fn = mask_fn
        self.heuristic = HeuristicDepth(background_m=background_m, reason=reason)
        self.source = self.heuristic.source
        self.note = self.heuristic.note
        f_px = focal_px if focal_px is not None else focal_length_px(frame_size_hw[1])
        prior = prior_distances_from_tracks(tracks, frame_size_hw, f_px)
        given = tracks.distance_m
        self.distances_m = np.where(
            np.isfinite(given), given, np.where(np.isfinite(prior), prior, DEFAULT_SUBJECT_M)
        )

    def depth_m_at(self, index: int) -> np.ndarray:
        """(h, w) float32 metres of frame ``index`` at ``shape_hw``."""
        self.heuristic.warn_once()
        h, w = self.shape_hw
        sy, sx = h / self.frame_size_hw[0], w / self.frame_size_hw[1]
        boxes = self.tracks.xyxy[:, index].astype(np.float64) * np.array([sx, sy, sx, sy])
        dist = np.where(self.tracks.present[:, index], self.distances_m[:, index], np.nan)
        masks = self.mask_fn(index) if self.mask_fn is not None else None
        if masks is not None:
            masks = _resize_masks(masks, self.shape_hw)
        face = self.tracks.face_xyxy[:, index]
        face_only = np.isfinite(face).all(axis=1) & np.all(
            np.abs(np.nan_to_num(self.tracks.xyxy[:, index] - face, nan=1.0)) < 0.5, axis=1
        )
        return heuristic_depth_map(
            self.shape_hw, boxes, dist, masks, background_m=self.heuristic.background_m, face_only=face_only
        )


def _resize_masks(masks: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    m = check_array("masks", masks, (None, None, None)).astype(np.uint8)
    out = [cv2.resize(x, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_NEAREST) for x in m]
    return np.stack(out).astype(bool) if out else np.zeros((0, *shape_hw), bool)
