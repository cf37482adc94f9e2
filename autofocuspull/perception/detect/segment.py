"""Person segmentation with DeepLabv3 (MobileNetV2, PASCAL VOC, ONNX).

Preprocessing travels with the card: RGB, resized (no aspect keeping) to (257, 257), scaled to
[-1, 1], NHWC. The output (1, 257, 257, 21) are class logits; the person probability is the
softmax's channel 15, resized back to the input image size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.core.hub import MODEL_CARDS, resolve_model_file
from autofocuspull.perception.detect._common import check_rgb, make_onnx_session

VOC_PERSON = 15


@dataclass(frozen=True)
class SegmenterConfig:
    """Which VOC class is "person"; ``model_path``: a local model file (None: the download cache)."""

    person_class: int = VOC_PERSON
    model_path: str | None = None


def softmax_channel(logits: np.ndarray, channel: int) -> np.ndarray:
    """Softmax over the last axis of ``logits`` (..., C), returning channel ``channel`` float32."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e[..., channel] / e.sum(axis=-1)).astype(np.float32)


class DeepLabPersonSegmenter:
    """DeepLabv3; ``__call__(rgb uint8 (H, W, 3)) -> (H, W) float32`` person probability."""

    card = MODEL_CARDS["deeplabv3"]

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        config: SegmenterConfig = SegmenterConfig(),
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        self.config = config
        self.model_path = Path(model_path)
        self._sess = make_onnx_session(model_path, providers, intra_op_threads)
        self._input = self._sess.get_inputs()[0].name
        self._size_hw = self.card.input_size or (257, 257)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        rgb = check_rgb(rgb)  # card.colour_order == "RGB": no conversion
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, self._size_hw[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / 127.5 - 1.0)[None]
        logits = self._sess.run(None, {self._input: x})[0][0]
        prob = softmax_channel(logits, self.config.person_class)
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def build_person_segmenter(
    name: str = "deeplabv3",
    model_path: str | os.PathLike[str] | None = None,
    config: SegmenterConfig | None = None,
    *,
    providers: Sequence[str] | None = None,
    intra_op_threads: int | None = None,
) -> DeepLabPersonSegmenter:
    """DeepLabv3 person segmenter from ``model_path`` or cache/download (ModelUnavailableError)."""
    if name != "deeplabv3":
        raise ValueError(f"person segmenter: expected 'deeplabv3', got {name!r}")
    path = resolve_model_file("deeplabv3", model_path, flag="--segment-model")
    return DeepLabPersonSegmenter(path, config or SegmenterConfig(), providers, intra_op_threads)
