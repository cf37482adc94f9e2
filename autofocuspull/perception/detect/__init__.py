"""Detectors: faces with landmarks, COCO objects, person masks.

Each detector is a callable ``rgb uint8 (H, W, 3) -> Detections`` in pixel xyxy of the image given
(the segmenter returns an (H, W) float32 person probability). Builders are looked up by name in
:data:`DETECTORS`, like segment-anything's ``sam_model_registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autofocuspull.perception.detect._common import iou_xyxy, make_onnx_session, nms_xyxy
from autofocuspull.perception.detect.faces import (
    CENTERFACE_CARD,
    CenterFaceDetector,
    FaceDetectorConfig,
    YuNetFaceDetector,
    build_centerface,
    build_face_detector,
    build_yunet,
)
from autofocuspull.perception.detect.objects import ObjectDetectorConfig, YoloxDetector, build_object_detector
from autofocuspull.perception.detect.segment import DeepLabPersonSegmenter, build_person_segmenter

Detector = Callable[..., Any]

DETECTORS: dict[str, Callable[..., Detector]] = {
    "yunet": build_yunet,
    "centerface": build_centerface,
    "yolox-nano": lambda model_path=None, **kw: build_object_detector("yolox-nano", model_path, **kw),
    "deeplabv3": lambda model_path=None, **kw: build_person_segmenter("deeplabv3", model_path, **kw),
}

__all__ = [
    "CENTERFACE_CARD",
    "DETECTORS",
    "CenterFaceDetector",
    "DeepLabPersonSegmenter",
    "Detector",
    "FaceDetectorConfig",
    "ObjectDetectorConfig",
    "YoloxDetector",
    "YuNetFaceDetector",
    "build_centerface",
    "build_face_detector",
    "build_object_detector",
    "build_person_segmenter",
    "build_yunet",
    "iou_xyxy",
    "make_onnx_session",
    "nms_xyxy",
]
