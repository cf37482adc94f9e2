"""Core: typed containers, errors, model cards, caches. No stage logic lives here."""

from autofocuspull.core.errors import (
    AutofocusError,
    InputError,
    ModelUnavailableError,
    UsageError,
    ValidationError,
)
from autofocuspull.core.types import (
    COCO_NAMES,
    FACE_CLASS_ID,
    PERSON_CLASS_ID,
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
    class_name,
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
