"""Numpy-in / numpy-out entry points around the torch core."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from autofocuspull.core.types import Lens, check_array
from autofocuspull.render.color import decode_codes, encode_codes
from autofocuspull.render.layered import DEFAULT_CONFIG, RENDERERS, RenderConfig, Renderer
from autofocuspull.render.optics import MIN_DISTANCE_FOCAL_MULT

log = logging.getLogger(__name__)


def check_focus(focus_m: np.ndarray, f_number: np.ndarray, lens: Lens) -> None:
    """Raise ``ValueError`` on non-finite or non-positive focus / f-number; warn when clamped."""
    if not (np.all(np.isfinite(focus_m)) and np.all(focus_m > 0)):
        raise ValueError(f"focus_m: expected finite positive metres, got {focus_m}")
    if not (np.all(np.isfinite(f_number)) and np.all(f_number > 0)):
        raise ValueError(f"f_number: expected finite positive values, got {f_number}")
    near_m = MIN_DISTANCE_FOCAL_MULT * lens.focal_length_mm / 1000.0
    if np.any(focus_m < near_m):
        log.warning("focus_m below %.3f m (2x focal length) is clamped to it (thin-lens limit)", near_m)


def check_depth(name: str, depth_m: np.ndarray) -> None:
    """Raise ``ValueError`` unless every depth is finite and positive (metres)."""
    if not (np.all(np.isfinite(depth_m)) and np.all(depth_m > 0)):
        raise ValueError(f"{name}: expected finite positive metres everywhere")


def default_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA, float32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


def upload(x: Sequence[np.ndarray] | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Stack / move to ``device``; to CUDA through a pinned staging buffer (4x faster uploads;
    torch's caching host allocator reuses the buffer across calls)."""
    if isinstance(x, torch.Tensor) and (x.device == device or device.type != "cuda" or x.is_cuda):
        return x.to(device)
    if device.type != "cuda":
        return torch.from_numpy(np.ascontiguousarray(np.stack(list(x))))
    first = x[0]
    shape = (len(x), *first.shape)
    staging = torch.empty(shape, dtype=torch.as_tensor(first).dtype, pin_memory=True)
    for i, item in enumerate(x):
        staging[i].copy_(torch.as_tensor(item))
    return staging.to(device, non_blocking=True)


def download(x: torch.Tensor) -> np.ndarray:
    """Copy a device tensor to a numpy array; from CUDA into pinned memory (10x faster than
    pageable). The array keeps its pinned block alive; torch's caching host allocator reuses the
    block once the array is dropped."""
    if not x.is_cuda:
        return x.numpy()
    staging = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
    staging.copy_(x)
    return staging.numpy()


def render_batch_u8(
    images: Sequence[np.ndarray] | np.ndarray | torch.Tensor,
    depths_m: torch.Tensor,
    focus_m: np.ndarray,
    f_number: np.ndarray,
    lens: Lens,
    config: RenderConfig,
    device: torch.device,
    dtype: torch.dtype,
    renderer: str | Renderer = "layered",
    transfer: str = "srgb",
) -> np.ndarray:
    """Render B (H, W, 3) RGB frames (numpy, or a (B, H, W, 3) tensor) with depth (B, 1, H, W)
    metres on ``device``. Codes are uint8, or uint16 on the 16-bit scale (sources deeper than 8
    bits); ``transfer`` ("srgb", "pq", "hlg") is the curve that linearises them.

    Returns codes of the input's dtype, (B, H, W, 3) RGB, in the same transfer. Only codes travel
    between host and device; colour is decoded and re-encoded on the device.
    """
    rgb = upload(images, device)
    bits = 16 if rgb.dtype == torch.uint16 else 8
    lin = decode_codes(rgb, transfer, dtype)
    focus = torch.as_tensor(np.asarray(focus_m, np.float32), device=device)
    fnum = torch.as_tensor(np.asarray(f_number, np.float32), device=device)
    with torch.inference_mode():
        out = RENDERERS.get(renderer)(lin, upload(depths_m, device), focus, fnum, lens, config)
        return download(encode_codes(out, transfer, bits))


def render_frame(
    image: np.ndarray,
    depth_m: np.ndarray,
    focus_m: float,
    lens: Lens,
    *,
    f_number: float | None = None,
    config: RenderConfig = DEFAULT_CONFIG,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Render one frame with a shallow depth of field.

    ``image`` uint8 (H, W, 3) RGB all-in-focus; ``depth_m`` float32 (H, W) metres; ``focus_m``
    metres; ``f_number`` defaults to ``lens.f_number``. ``device`` defaults to CPU, ``dtype`` to
    float32 on CPU and float16 on CUDA. Returns uint8 (H, W, 3) RGB.
    """
    image = check_array("image", image, (None, None, 3))
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected dtype uint8, got {image.dtype}")
    h, w = image.shape[:2]
    depth = check_array("depth_m", depth_m, (h, w), np.float32)
    check_depth("depth_m", depth)
    n = lens.f_number if f_number is None else f_number
    focus_arr, fnum_arr = np.array([focus_m], np.float32), np.array([n], np.float32)
    check_focus(focus_arr, fnum_arr, lens)
    dev = torch.device("cpu" if device is None else device)
    dt = default_dtype(dev) if dtype is None else dtype
    depth_t = torch.from_numpy(np.ascontiguousarray(depth))[None, None]
    return render_batch_u8([image], depth_t, focus_arr, fnum_arr, lens, config, dev, dt)[0]
