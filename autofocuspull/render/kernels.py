"""Aperture (bokeh) kernels: anti-aliased disc or n-blade polygon, normalised to unit sum."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

_SUPERSAMPLE = 8


@lru_cache(maxsize=512)
def aperture_kernel_np(radius_px: float, blades: int = 0, rotation_deg: float = 0.0) -> np.ndarray:
    """(k, k) float64 kernel, k = 2·ceil(radius_px)+1, summing to 1.

    ``blades=0`` gives a disc of radius ``radius_px``; ``blades>=3`` a regular polygon with that
    circumradius, rotated by ``rotation_deg``. Pixel coverage is computed by 8x8 supersampling, so
    fractional radii grow the kernel smoothly. ``radius_px <= 0`` gives the identity (1x1).
    """
    if radius_px <= 0:
        return np.ones((1, 1))
    if blades and blades < 3:
        raise ValueError(f"aperture_kernel_np: blades must be 0 (circle) or >= 3, got {blades}")
    half, x, y = _subpixel_grid(radius_px)
    return _coverage(_inside_aperture(x, y, radius_px, blades, rotation_deg), half)


def _subpixel_grid(radius_px: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Half-size of a (2·half+1)² kernel and its sample offsets x (1, k, 1, s), y (k, 1, s, 1)
    in pixels: ``_SUPERSAMPLE``² samples per pixel."""
    half = math.ceil(radius_px)
    ss = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - 0.5
    grid = np.arange(-half, half + 1)
    y = (grid[:, None, None, None] + ss[None, None, :, None]).astype(np.float64)
    x = (grid[None, :, None, None] + ss[None, None, None, :]).astype(np.float64)
    return half, x, y


def _inside_aperture(
    x: np.ndarray, y: np.ndarray, radius_px: float, blades: int, rotation_deg: float
) -> np.ndarray:
    """Whether offsets (x, y) lie in the aperture: a disc of ``radius_px``, or a regular polygon of
    ``blades`` sides with that circumradius rotated by ``rotation_deg``."""
    if not blades:
        return x**2 + y**2 <= radius_px**2
    inside = np.ones(np.broadcast_shapes(y.shape, x.shape), bool)
    apothem = radius_px * math.cos(math.pi / blades)
    for i in range(blades):
        a = math.radians(rotation_deg) + (i + 0.5) * 2 * math.pi / blades
        inside &= x * math.cos(a) + y * math.sin(a) <= apothem
    return inside


def _coverage(inside: np.ndarray, half: int) -> np.ndarray:
    """Per-pixel coverage of the supersampled ``inside`` mask, normalised to unit sum (the centre
    pixel alone when nothing is covered)."""
    k = inside.mean(axis=(2, 3))
    if k.sum() == 0:
        k[half, half] = 1.0
    return k / k.sum()


_TORCH_CACHE: dict[tuple, torch.Tensor] = {}


def aperture_kernel(
    radius_px: float, blades: int, rotation_deg: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """(1, 1, k, k) torch kernel of :func:`aperture_kernel_np`, cached per device and dtype."""
    key = (round(float(radius_px), 4), blades, float(rotation_deg), device, dtype)
    if key not in _TORCH_CACHE:
        k = aperture_kernel_np(key[0], blades, rotation_deg)
        _TORCH_CACHE[key] = torch.as_tensor(k, dtype=dtype, device=device)[None, None]
    return _TORCH_CACHE[key]


@lru_cache(maxsize=512)
def cat_eye_kernel_np(
    radius_px: float, blades: int, rotation_deg: float, direction_deg: float, cut: float
) -> np.ndarray:
    """(k, k) kernel of an aperture cut by the lens barrel (mechanical vignetting, "cat's eye").

    Off axis, the exit pupil is the intersection of the aperture (disc or polygon, circumradius
    ``radius_px``) with the barrel's opening, a disc of the same radius shifted by
    ``cut · radius_px`` along ``direction_deg`` (the radial direction from the frame centre).
    The intersection is narrow radially and long tangentially, centred on the kernel. ``cut`` 0
    gives :func:`aperture_kernel_np`; 1 halves the radial width. Sums to 1.
    """
    if radius_px <= 0 or cut <= 0:
        return aperture_kernel_np(radius_px, blades, rotation_deg)
    half, x, y = _subpixel_grid(radius_px)
    d = cut * radius_px / 2
    ux, uy = math.cos(math.radians(direction_deg)), math.sin(math.radians(direction_deg))
    # aperture centred at +d·u, barrel disc at −d·u
    inside = _inside_aperture(x - d * ux, y - d * uy, radius_px, blades, rotation_deg)
    inside &= (x + d * ux) ** 2 + (y + d * uy) ** 2 <= radius_px**2
    return _coverage(inside, half)


def cat_eye_kernel(
    radius_px: float, blades: int, rotation_deg: float, direction_deg: float, cut: float,
    device: torch.device, dtype: torch.dtype,
) -> torch.Tensor:  # fmt: skip
    """(1, 1, k, k) torch kernel of :func:`cat_eye_kernel_np`, cached per device and dtype."""
    key = ("cat", round(float(radius_px), 4), blades, float(rotation_deg), float(direction_deg), float(cut),
           device, dtype)  # fmt: skip
    if key not in _TORCH_CACHE:
        k = cat_eye_kernel_np(key[1], blades, rotation_deg, direction_deg, cut)
        _TORCH_CACHE[key] = torch.as_tensor(k, dtype=dtype, device=device)[None, None]
    return _TORCH_CACHE[key]
