"""COCO object detection with YOLOX-nano (ONNX): people and products (cup, bottle, phone, book...).

Preprocessing travels with the model card: letterbox into (416, 416) anchored top-left, pad value
114, BGR (explicit RGB->BGR here), raw 0..255 floats, NCHW. The ONNX output is the raw head
(1, 3549, 85): (dx, dy, log w, log h) per grid cell at strides 8/16/32, then objectness and 80
class scores (already sigmoid).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.core.hub import MODEL_CARDS, resolve_model_file
from autofocuspull.core.labels import COCO_NAMES
from autofocuspull.core.types import Detections, check_array
from autofocuspull.perception.detect._common import batched_nms_xyxy, check_rgb, make_onnx_session

YOLOX_STRIDES: tuple[int, ...] = (8, 16, 32)


@dataclass(frozen=True)
class ObjectDetectorConfig:
    """Thresholds and class filter (COCO ids; ``None`` keeps all 80 classes); ``model_path``: a
    local model file (None: the download cache)."""

    score_threshold: float = 0.35
    nms_threshold: float = 0.45
    classes: tuple[int, ...] | None = None
    pad_value: int = 114
    model_path: str | None = None


def letterbox(rgb: np.ndarray, size_hw: tuple[int, int], pad_value: int) -> tuple[np.ndarray, float]:
    """Resize keeping aspect into ``size_hw``, anchored top-left, padded; returns (img, scale)."""
    h, w = rgb.shape[:2]
    r = min(size_hw[0] / h, size_hw[1] / w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    out = np.full((size_hw[0], size_hw[1], 3), pad_value, np.uint8)
    out[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def yolox_grid(
    size_hw: tuple[int, int], strides: Sequence[int] = YOLOX_STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell offsets (A, 2) float32 (x, y) and their strides (A, 1) float32, in head order."""
    grids, strs = [], []
    for s in strides:
        gh, gw = size_hw[0] // s, size_hw[1] // s
        yy, xx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xx, yy], -1).reshape(-1, 2))
        strs.append(np.full((gh * gw, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strs).astype(np.float32)


def decode_yolox(
    raw: np.ndarray, grid: np.ndarray, strides: np.ndarray, config: ObjectDetectorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw head (A, 85) -> ``xyxy`` (N, 4) in network pixels, ``score`` (N,), ``class_id`` (N,)."""
    raw = check_array("raw", raw, (len(grid), 5 + len(COCO_NAMES)), np.float32)
    cxcy = (raw[:, :2] + grid) * strides
    wh = np.exp(np.minimum(raw[:, 2:4], 20.0)) * strides
    cls_scores = raw[:, 4:5] * raw[:, 5:]
    if config.classes is not None:
        mask = np.zeros(cls_scores.shape[1], bool)
        mask[list(config.classes)] = True
        cls_scores = np.where(mask[None, :], cls_scores, 0.0)
    class_id = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(raw)), class_id]
    ok = score > config.score_threshold
    xyxy = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1)[ok].astype(np.float32)
    score, class_id = score[ok].astype(np.float32), class_id[ok].astype(np.int32)
    keep = batched_nms_xyxy(xyxy, score, class_id, config.nms_threshold)
    return xyxy[keep], score[keep], class_id[keep]


class YoloxDetector:
    """YOLOX-nano; ``__call__(rgb uint8 (H, W, 3)) -> Detections`` (COCO ids, 0 = person)."""

    card = MODEL_CARDS["yolox-nano"]

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        config: ObjectDetectorConfig,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        self.config = config
        self.model_path = Path(model_path)
        self._sess = make_onnx_session(model_path, providers, intra_op_threads)
        self._input = self._sess.get_inputs()[0].name
        self._size_hw: tuple[int, int] = self.card.input_size or (416, 416)
        self._grid, self._strides = yolox_grid(self._size_hw)

    def __call__(self, rgb: np.ndarray) -> Detections:
        rgb = check_rgb(rgb)
        boxed, r = letterbox(rgb, self._size_hw, self.config.pad_value)
        bgr = cv2.cvtColor(boxed, cv2.COLOR_RGB2BGR)  # card.colour_order == "BGR"
        x = np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)
        raw = self._sess.run(None, {self._input: x})[0][0]
        xyxy, score, cls = decode_yolox(raw, self._grid, self._strides, self.config)
        h, w = rgb.shape[:2]
        xyxy = np.clip(xyxy / r, 0, [w, h, w, h]).astype(np.float32)
        return Detections(xyxy, score, cls)


def build_object_detector(
    name: str = "yolox-nano",
    model_path: str | os.PathLike[str] | None = None,
    config: ObjectDetectorConfig | None = None,
    *,
    providers: Sequence[str] | None = None,
    intra_op_threads: int | None = None,
) -> YoloxDetector:
    """YOLOX-nano from ``model_path`` or cache/download; raises ModelUnavailableError if unavailable."""
    if name != "yolox-nano":
        raise ValueError(f"object detector: expected 'yolox-nano', got {name!r}")
    path = resolve_model_file("yolox-nano", model_path, flag="--object-model")
    return YoloxDetector(path, config or ObjectDetectorConfig(), providers, intra_op_threads)
