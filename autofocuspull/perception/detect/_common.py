"""Shared helpers of the detectors: ONNX sessions, input checks, NMS."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from autofocuspull.core.types import check_array


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an RGB uint8 (H, W, 3) image; raise ``ValueError`` saying expected vs actual."""
    a = check_array("rgb", rgb, (None, None, 3))
    if a.dtype != np.uint8:
        raise ValueError(f"rgb: expected dtype uint8, got {a.dtype}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"rgb: expected a non-empty image, got shape {a.shape}")
    return a


def make_onnx_session(
    path: str | os.PathLike[str],
    providers: Sequence[str] | None = None,
    intra_op_threads: int | None = None,
):
    """An onnxruntime ``InferenceSession`` on ``providers`` (CPU by default), quiet logging."""
    import onnxruntime as ort

    from autofocuspull.core.threads import onnx_session_options

    opts = onnx_session_options(intra_op_threads)  # the run's thread count, no spinning
    opts.log_severity_level = 3
    prov = list(providers) if providers is not None else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), sess_options=opts, providers=prov)


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4) in xyxy -> (N, M) float32."""
    a = check_array("a", a, (None, 4), np.float32)
    b = check_array("b", b, (None, 4), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms_xyxy(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices (K,) int64 sorted by score."""
    xyxy = check_array("xyxy", xyxy, (None, 4), np.float32)
    scores = check_array("scores", scores, (len(xyxy),), np.float32)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_xyxy(xyxy[i : i + 1], xyxy[order[1:]])[0]
        order = order[1:][ious < iou_threshold]
    return np.asarray(keep, np.int64)


def batched_nms_xyxy(
    xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Per-class NMS (boxes of different classes never suppress each other) -> kept indices."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    offset = (np.asarray(class_id, np.float32) * (float(np.max(xyxy)) + 1.0))[:, None]
    keep = nms_xyxy(np.asarray(xyxy, np.float32) + offset, scores, iou_threshold)
    return keep
