"""Core: typed containers, errors, model cards, caches. No stage logic lives here."""

from autofocuspull.core.errors import (
    AutofocusError,
    InputError,
    ModelUnavailableError,
    UsageError,
    ValidationError,
)
from autofocuspull.core.labels import COCO_NAMES, FACE_CLASS_ID, PERSON_CLASS_ID, class_name
from autofocuspull.core.types import (
    CueSeries,
    DepthFrame,
    Detections,
    FocusPlan,
    Frame,
    Lens,
    PlanInputs,
    Pull,
    SubjectTracks,
    VideoInfo,
    check_array,
)

__all__ = [
    "COCO_NAMES",
    "FACE_CLASS_ID",
    "PERSON_CLASS_ID",
    "AutofocusError",
    "CueSeries",
    "DepthFrame",
    "Detections",
    "FocusPlan",
    "Frame",
    "InputError",
    "Lens",
    "ModelUnavailableError",
    "PlanInputs",
    "Pull",
    "SubjectTracks",
    "UsageError",
    "ValidationError",
    "VideoInfo",
    "check_array",
    "class_name",
]
