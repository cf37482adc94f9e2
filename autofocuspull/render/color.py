"""sRGB transfer functions (IEC 61966-2-1) in torch: uint8 sRGB <-> float linear light."""

from __future__ import annotations

import cv2
import numpy as np
import torch

_SRGB_LUT_CACHE: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB values in [0, 1] to linear light in [0, 1] (same shape, dtype)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light to sRGB in [0, 1]; values outside [0, 1] are clipped (a sensor clips)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _lut(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (device, dtype)
    if key not in _SRGB_LUT_CACHE:
        codes = torch.arange(256, dtype=torch.float64) / 255.0
        _SRGB_LUT_CACHE[key] = srgb_to_linear(codes).to(device=device, dtype=dtype)
    return _SRGB_LUT_CACHE[key]


def decode_uint8(rgb_u8: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W, 3) uint8 sRGB -> (B, 3, H, W) linear light of ``dtype`` (exact 256-entry table).

    On CUDA the result is a channels-last view (no copy); on the CPU it is planar (contiguous).
    torch ops accept either like any (B, 3, H, W) tensor."""
    if rgb_u8.dtype != torch.uint8 or rgb_u8.ndim != 4 or rgb_u8.shape[-1] != 3:
        raise ValueError(
            f"decode_uint8: expected uint8 (B, H, W, 3), got {rgb_u8.dtype} {tuple(rgb_u8.shape)}"
        )
    lut = _lut(rgb_u8.device, dtype)
    if rgb_u8.device.type == "cpu" and dtype == torch.float32:
        # OpenCV's table lookup, per plane (10x faster); planar (B, 3, H, W) out, which the
        # renderer's CPU path works in.
        table = lut.numpy()
        b, h, w, _ = rgb_u8.shape
        out = torch.empty((b, 3, h, w), dtype=dtype)
        dst = out.numpy()
        for i, frame in enumerate(rgb_u8.contiguous().numpy()):
            for ch, plane in enumerate(cv2.split(frame)):
                cv2.LUT(plane, table, dst=dst[i, ch])
        return out
    return torch.take(lut, rgb_u8.long()).permute(0, 3, 1, 2)


_ENCODE_STEPS = 65535
_ENCODE_LUT_CACHE: dict[torch.device, torch.Tensor] = {}


def _encode_lut(device: torch.device) -> torch.Tensor:
    if device not in _ENCODE_LUT_CACHE:
        lin = torch.arange(_ENCODE_STEPS + 1, dtype=torch.float64) / _ENCODE_STEPS
        codes = (linear_to_srgb(lin) * 255.0 + 0.5).floor().to(torch.uint8)
        _ENCODE_LUT_CACHE[device] = codes.to(device)
    return _ENCODE_LUT_CACHE[device]


def encode_uint8(lin: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) linear light -> (B, H, W, 3) uint8 sRGB, nearest code.

    Uses a 65536-entry table over linear [0, 1] (step 1.5e-5, finer than the smallest sRGB code
    step), so decoding a uint8 image and encoding it again is the identity.
    """
    if lin.ndim != 4 or lin.shape[1] != 3:
        raise ValueError(f"encode_uint8: expected (B, 3, H, W), got {tuple(lin.shape)}")
    if lin.device.type == "cpu":  # per plane: OpenCV scales, rounds and saturates to uint16
        table = _encode_lut(lin.device).numpy()
        planes = lin.float().contiguous().numpy()
        codes = [
            cv2.merge([table[cv2.multiply(p, float(_ENCODE_STEPS), dtype=cv2.CV_16U)] for p in frame])
            for frame in planes
        ]
        return torch.from_numpy(np.stack(codes) if len(codes) > 1 else codes[0][None])
    idx = (lin.permute(0, 2, 3, 1).float().clamp(0.0, 1.0) * _ENCODE_STEPS + 0.5).long()
    return torch.take(_encode_lut(lin.device), idx)
