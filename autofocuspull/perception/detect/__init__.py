"""Detectors: faces with landmarks, COCO objects, person masks.

Each detector is a callable ``rgb uint8 (H, W, 3) -> Detections`` in pixel xyxy of the image given
(the segmenter returns an (H, W) float32 person probability). Builders are looked up by name in
:data:`DETECTORS` (a :class:`~autofocuspull.core.registry.Registry`, like segment-anything's
``sam_model_registry``; plug-ins register through the ``autofocuspull.detectors`` entry points),
each ``builder(model_path, config)``. The run chooses them in ``[stages]`` (faces, objects, masks).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from autofocuspull.core.registry import Registry
from autofocuspull.perception.detect._common import iou_xyxy, make_onnx_session, nms_xyxy
from autofocuspull.perception.detect.faces import (
    CENTERFACE_CARD,
    CenterFaceDetector,
    FaceDetectorConfig,
    NoFaces,
    YuNetFaceDetector,
    build_centerface,
    build_face_detector,
    build_no_faces,
    build_yunet,
)
from autofocuspull.perception.detect.objects import ObjectDetectorConfig, YoloxDetector, build_object_detector
from autofocuspull.perception.detect.segment import DeepLabPersonSegmenter, build_person_segmenter


class Detector(Protocol):
    """A detector: RGB uint8 (H, W, 3) -> :class:`~autofocuspull.core.types.Detections` in pixel
    xyxy of the image given (a person segmenter returns an (H, W) float32 person probability)."""

    def __call__(self, rgb: np.ndarray, /) -> Any: ...


class DetectorBuilder(Protocol):
    """Builds a :class:`Detector`: ``(model_path or None, config section or None) -> Detector``;
    raises :class:`~autofocuspull.core.errors.ModelUnavailableError` when its model can't be had."""

    def __call__(self, model_path: str | None, config: Any, /) -> Detector: ...


DETECTORS: Registry[DetectorBuilder] = Registry("detector", "autofocuspull.detectors")
DETECTORS.register("yunet", build_yunet, task="faces", fallback="centerface")
DETECTORS.register("centerface", build_centerface, task="faces", fallback="no-faces")
DETECTORS.register("no-faces", build_no_faces, task="faces")
DETECTORS.register(
    "yolox-nano", lambda path, config: build_object_detector("yolox-nano", path, config), task="objects"
)
DETECTORS.register(
    "deeplabv3", lambda path, config: build_person_segmenter("deeplabv3", path, config), task="masks"
)

__all__ = [
    "CENTERFACE_CARD",
    "DETECTORS",
    "CenterFaceDetector",
    "DeepLabPersonSegmenter",
    "Detector",
    "DetectorBuilder",
    "FaceDetectorConfig",
    "NoFaces",
    "ObjectDetectorConfig",
    "YoloxDetector",
    "YuNetFaceDetector",
    "build_centerface",
    "build_face_detector",
    "build_no_faces",
    "build_object_detector",
    "build_person_segmenter",
    "build_yunet",
    "iou_xyxy",
    "make_onnx_session",
    "nms_xyxy",
]
