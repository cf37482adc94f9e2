"""Thin-lens circle of confusion, in numpy and torch."""

from __future__ import annotations

import numpy as np
import torch

from autofocuspull.core.types import Lens

# Depth and focus are clamped to at least this multiple of the focal length: nearer than that the
# thin-lens formula diverges (macro range), which no footage this tool handles reaches.
MIN_DISTANCE_FOCAL_MULT = 2.0


def coc_px(
    depth_m: np.ndarray | torch.Tensor,
    focus_m: float | np.ndarray | torch.Tensor,
    lens: Lens,
    image_width_px: int,
    f_number: float | np.ndarray | torch.Tensor | None = None,
    *,
    signed: bool = False,
) -> np.ndarray | torch.Tensor:
    """Circle-of-confusion diameter in pixels, c = A·|z − s|/z · f/(s − f), A = f/N.

    ``depth_m`` z (any shape, metres), ``focus_m`` s (scalar or broadcastable), ``f_number`` N
    (defaults to ``lens.f_number``). Sensor millimetres become pixels by
    ``image_width_px / lens.sensor_width_mm``. With ``signed=True`` the result is positive behind the
    focus plane and negative in front of it. Numpy in -> numpy (float32) out; torch in -> torch out.
    """
    is_torch = isinstance(depth_m, torch.Tensor)
    xp_min = torch.clamp_min if is_torch else np.maximum
    f_m = lens.focal_length_mm / 1000.0
    n = lens.f_number if f_number is None else f_number
    if is_torch:
        ref = depth_m
        s = torch.as_tensor(focus_m, dtype=ref.dtype, device=ref.device)
        n = torch.as_tensor(n, dtype=ref.dtype, device=ref.device)
    else:
        ref = np.asarray(depth_m, np.float32)
        s = np.asarray(focus_m, np.float32)
        n = np.asarray(n, np.float32)
    z = xp_min(ref, MIN_DISTANCE_FOCAL_MULT * f_m)
    s = xp_min(s, MIN_DISTANCE_FOCAL_MULT * f_m)
    aperture_m = f_m / n
    c_m = aperture_m * (z - s) / z * f_m / (s - f_m)
    c_px = c_m * 1000.0 * (image_width_px / lens.sensor_width_mm)
    if not signed:
        c_px = c_px.abs() if is_torch else np.abs(c_px)
    return c_px if is_torch else np.asarray(c_px, np.float32)
