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


# ------------------------------------------------------------------------------------------------
# Transfers of video: which curve turns a clip's code values into linear light
# ------------------------------------------------------------------------------------------------

#: Transfer curves the renderer linearises with: "srgb" (every SDR curve: BT.709, BT.601, sRGB,
#: BT.2020 10/12-bit; decoded with the sRGB curve, the display light these clips are graded for
#: within a few percent), "pq" (SMPTE ST 2084, linear 1.0 = 10 000 cd/m²) and "hlg" (ARIB STD-B67,
#: inverse OETF: scene light, 1.0 = the curve's peak).
TRANSFERS = ("srgb", "pq", "hlg")
_TRC_PQ, _TRC_HLG = 16, 18


def transfer_of(trc: int) -> str:
    """Renderer transfer name for an FFmpeg ``AVColorTransferCharacteristic`` code."""
    return {_TRC_PQ: "pq", _TRC_HLG: "hlg"}.get(int(trc), "srgb")


_PQ_M1, _PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
_PQ_C1, _PQ_C2, _PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
_HLG_A = 0.17883277
_HLG_B = 1 - 4 * _HLG_A
_HLG_C = 0.5 - _HLG_A * np.log(4 * _HLG_A)


def to_linear(x: torch.Tensor, transfer: str) -> torch.Tensor:
    """Code values in [0, 1] -> linear light in [0, 1] for ``transfer`` (see :data:`TRANSFERS`)."""
    x = x.clamp(0.0, 1.0)
    if transfer == "srgb":
        return srgb_to_linear(x)
    if transfer == "pq":
        p = x ** (1 / _PQ_M2)
        return ((p - _PQ_C1).clamp_min(0.0) / (_PQ_C2 - _PQ_C3 * p)) ** (1 / _PQ_M1)
    if transfer == "hlg":
        return torch.where(x <= 0.5, x * x / 3.0, (torch.exp((x - _HLG_C) / _HLG_A) + _HLG_B) / 12.0)
    raise ValueError(f"transfer: expected one of {TRANSFERS}, got {transfer!r}")


def from_linear(x: torch.Tensor, transfer: str) -> torch.Tensor:
    """Linear light -> code values in [0, 1] (inverse of :func:`to_linear`; clipped to [0, 1])."""
    x = x.clamp(0.0, 1.0)
    if transfer == "srgb":
        return linear_to_srgb(x)
    if transfer == "pq":
        y = x**_PQ_M1
        return ((_PQ_C1 + _PQ_C2 * y) / (1 + _PQ_C3 * y)) ** _PQ_M2
    if transfer == "hlg":
        log_part = _HLG_A * torch.log((12.0 * x - _HLG_B).clamp_min(1e-12)) + _HLG_C
        return torch.where(x <= 1 / 12, torch.sqrt(3.0 * x), log_part)
    raise ValueError(f"transfer: expected one of {TRANSFERS}, got {transfer!r}")


_U16_LUT_CACHE: dict[tuple[str, torch.device, torch.dtype], torch.Tensor] = {}


def decode_codes(
    rgb: torch.Tensor, transfer: str = "srgb", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(B, H, W, 3) uint8 or uint16 (full 16-bit scale) codes -> (B, 3, H, W) linear light.

    uint8 sRGB takes :func:`decode_uint8` (the exact 256-entry table); everything else a
    per-transfer table over all 2^bits codes."""
    if rgb.dtype == torch.uint8 and transfer == "srgb":
        return decode_uint8(rgb, dtype)
    if rgb.dtype not in (torch.uint8, torch.uint16) or rgb.ndim != 4 or rgb.shape[-1] != 3:
        got = f"{rgb.dtype} {tuple(rgb.shape)}"
        raise ValueError(f"decode_codes: expected uint8/uint16 (B, H, W, 3), got {got}")
    n = 256 if rgb.dtype == torch.uint8 else 65536
    key = (f"{transfer}{n}", rgb.device, dtype)
    if key not in _U16_LUT_CACHE:
        codes = torch.arange(n, dtype=torch.float64) / (n - 1)
        _U16_LUT_CACHE[key] = to_linear(codes, transfer).to(device=rgb.device, dtype=dtype)
    idx = rgb.to(torch.int32) if rgb.dtype == torch.uint16 else rgb.long()
    return torch.take(_U16_LUT_CACHE[key], idx.long()).permute(0, 3, 1, 2).contiguous()


def encode_codes(lin: torch.Tensor, transfer: str = "srgb", bits: int = 8) -> torch.Tensor:
    """(B, 3, H, W) linear light -> (B, H, W, 3) codes: uint8 (``bits=8``) or uint16 (``bits=16``,
    full 16-bit scale, what ``rgb48le`` frames hold), nearest code."""
    if bits == 8 and transfer == "srgb":
        return encode_uint8(lin)
    if bits not in (8, 16):
        raise ValueError(f"encode_codes: bits must be 8 or 16, got {bits}")
    top = 255.0 if bits == 8 else 65535.0
    codes = (from_linear(lin.permute(0, 2, 3, 1).float(), transfer) * top + 0.5).floor()
    return codes.to(torch.uint8) if bits == 8 else codes.to(torch.int32).to(torch.uint16)
