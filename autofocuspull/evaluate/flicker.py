"""Temporal stability of a render: frame-to-frame flicker in static regions, output beside input.

A shallow-depth-of-field render must not shimmer where the scene does not move: blur can only
*reduce* the frame-to-frame change of a static region (it averages sensor noise), so output
flicker above the input's is the renderer's own (depth jitter turned into layer changes, a
highlight detector switching on and off, a seam moving). Static pixels are found in the INPUT:
pixels whose blurred grey level changes by less than :data:`STATIC_THRESHOLD` code values between
consecutive frames (and that stay so across the pair's neighbourhood), at most ``max_side`` px.

Figure per clip (both for the input and the output, on the same pixels): the mean over frame
pairs of the mean absolute change of luma (8-bit code values) over static pixels. ``ratio`` =
output / input (< 1: steadier than the footage; > 1: the render adds shimmer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import cv2
import numpy as np

#: Blurred grey change (8-bit codes) below which a pixel counts as static between two frames:
#: about twice the noise of a clean 8-bit encode after a 5x5 Gaussian, far below any motion.
STATIC_THRESHOLD = 3.0


def _grey(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    scale = 255.0 / 65535.0 if rgb.dtype == np.uint16 else 1.0
    return cv2.cvtColor(rgb.astype(np.float32) * scale, cv2.COLOR_RGB2GRAY)


def _static(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    a = cv2.GaussianBlur(prev, (5, 5), 1.0)
    b = cv2.GaussianBlur(cur, (5, 5), 1.0)
    m = (np.abs(a - b) < STATIC_THRESHOLD).astype(np.uint8)
    return cv2.erode(m, np.ones((5, 5), np.uint8)) > 0  # away from moving edges


def frame_flicker(frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray]) -> dict[str, Any]:
    """Flicker of static regions: ``{"input", "output", "ratio", "static_share", "pairs"}``.

    ``frames_in`` / ``frames_out``: RGB (H, W, 3) uint8 (or uint16) frames in display order, the
    same count and size (the source and its render). Static pixels come from the input.
    """
    d_in, d_out, share = [], [], []
    prev = None
    for a, b in zip(frames_in, frames_out, strict=True):
        if np.asarray(a).shape != np.asarray(b).shape:
            raise ValueError(f"frame_flicker: input frame {np.shape(a)} and output {np.shape(b)} differ")
        cur = (_grey(a), _grey(b))
        if prev is not None:
            m = _static(prev[0], cur[0])
            share.append(float(m.mean()))
            if m.any():
                d_in.append(float(np.abs(cur[0] - prev[0])[m].mean()))
                d_out.append(float(np.abs(cur[1] - prev[1])[m].mean()))
        prev = cur
    if not d_in:
        return {"input": None, "output": None, "ratio": None, "static_share": 0.0, "pairs": 0}
    fin, fout = float(np.mean(d_in)), float(np.mean(d_out))
    return {
        "input": fin,
        "output": fout,
        "ratio": fout / fin if fin > 0 else None,
        "static_share": float(np.mean(share)),
        "pairs": len(d_in),
    }


def _frames(path: str | os.PathLike[str], max_side: int, max_frames: int | None) -> Iterator[np.ndarray]:
    from autofocuspull.io import iter_frames

    for i, fr in enumerate(iter_frames(path, max_side=max_side)):
        if max_frames is not None and i >= max_frames:
            return
        yield fr.rgb


def video_flicker(
    input_path: str | os.PathLike[str],
    rendered_path: str | os.PathLike[str],
    *,
    max_side: int = 480,
    max_frames: int | None = None,
) -> dict[str, Any]:
    """:func:`frame_flicker` of a clip and its render, both decoded (colour-correct) at
    ``max_side``; raises a one-line error when their frame counts or sizes differ."""
    from autofocuspull.core.errors import UsageError
    from autofocuspull.io import probe

    a, b = probe(input_path), probe(rendered_path)
    if a.n_frames != b.n_frames or (a.width, a.height) != (b.width, b.height):
        raise UsageError(
            f"{rendered_path}: {b.n_frames} frames {b.width}x{b.height}, but {input_path} has "
            f"{a.n_frames} frames {a.width}x{a.height}: not a render of it"
        )
    frames_in = _frames(input_path, max_side, max_frames)
    result = frame_flicker(frames_in, _frames(rendered_path, max_side, max_frames))
    return {"input_path": str(input_path), "rendered_path": str(rendered_path), **result}


def format_flicker(result: dict[str, Any]) -> str:
    """Two lines for the terminal."""
    if result["input"] is None:
        return "flicker: no static region found (the whole shot moves)"
    ratio = "n/a (static input)" if result["ratio"] is None else f"{result['ratio']:.2f}"
    return (
        f"flicker of static regions (mean |delta luma|, 8-bit codes, {result['pairs']} frame pairs, "
        f"{100 * result['static_share']:.0f}% of pixels static)\n"
        f"  input {result['input']:.3f}   rendered {result['output']:.3f}   ratio {ratio}"
    )


__all__ = ["STATIC_THRESHOLD", "format_flicker", "frame_flicker", "video_flicker"]
