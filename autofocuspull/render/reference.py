"""Physical reference for layered 2.5D scenes: accumulate pinhole views over the aperture.

A scene is a stack of fronto-parallel planes, each an RGBA image in the centre view's pixel grid
(with a margin so that shifted views stay covered). Seen from aperture point p (in units of the
aperture radius), a plane at depth z shifts by p·r(z) pixels, r the signed CoC radius; averaging
the over-composited pinhole views over the aperture is exactly the thin-lens image (occlusion,
partial occlusion and highlight blooms included), up to the aperture sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from autofocuspull.core.types import Lens, check_array
from autofocuspull.render.optics import coc_px


@dataclass(frozen=True)
class ScenePlane:
    """One plane: ``rgba`` float32 (H + 2·margin, W + 2·margin, 4) linear colour (may exceed 1 for
    highlights) and alpha, not premultiplied; ``depth_m`` its distance in metres."""

    rgba: np.ndarray
    depth_m: float

    def __post_init__(self) -> None:
        check_array("ScenePlane.rgba", self.rgba, (None, None, 4), np.float32)


def aperture_samples(n_across: int, blades: int = 0, rotation_deg: float = 0.0) -> np.ndarray:
    """(N, 2) float64 points (x, y) on a square lattice inside the unit disc (or polygon)."""
    t = (np.arange(n_across) + 0.5) / n_across * 2 - 1
    x, y = np.meshgrid(t, t)
    if blades:
        inside = np.ones_like(x, bool)
        for i in range(blades):
            a = math.radians(rotation_deg) + (i + 0.5) * 2 * math.pi / blades
            inside &= x * math.cos(a) + y * math.sin(a) <= math.cos(math.pi / blades)
    else:
        inside = x**2 + y**2 <= 1.0
    return np.stack([x[inside], y[inside]], axis=1)


def _composite(planes: torch.Tensor) -> torch.Tensor:
    """Back-to-front 'over' of (P, 4, H, W) planes sorted far to near -> (3, H, W)."""
    out = torch.zeros_like(planes[0, :3])
    for p in planes:
        a = p[3:4]
        out = p[:3] * a + (1 - a) * out
    return out


def centre_view(planes: list[ScenePlane], margin_px: int) -> tuple[np.ndarray, np.ndarray]:
    """All-in-focus linear image (H, W, 3) float32 and its depth map (H, W) float32 metres."""
    order = sorted(planes, key=lambda p: -p.depth_m)
    stack = torch.from_numpy(np.stack([p.rgba for p in order])).permute(0, 3, 1, 2)
    img = _composite(stack)
    depth = np.full(stack.shape[-2:], order[0].depth_m, np.float32)
    for p in order:
        depth[p.rgba[..., 3] > 0.5] = p.depth_m
    sl = slice(margin_px, -margin_px) if margin_px else slice(None)
    return img.permute(1, 2, 0).numpy()[sl, sl], depth[sl, sl]


def render_reference(
    planes: list[ScenePlane],
    focus_m: float,
    lens: Lens,
    margin_px: int,
    *,
    samples_per_radius_px: float = 1.0,
    blades: int = 0,
) -> np.ndarray:
    """Thin-lens image (H, W, 3) float32 linear of the planes, cropped by ``margin_px``.

    The aperture lattice is spaced so that the plane with the largest blur moves at most
    1 / ``samples_per_radius_px`` pixel between neighbouring samples.
    """
    order = sorted(planes, key=lambda p: -p.depth_m)
    full_h, full_w = order[0].rgba.shape[:2]
    w = full_w - 2 * margin_px
    radii = [float(coc_px(np.float32(p.depth_m), focus_m, lens, w, signed=True)) / 2 for p in order]
    if max(abs(r) for r in radii) + 1 > margin_px:
        raise ValueError(f"render_reference: margin {margin_px}px smaller than blur radius {radii}")
    n_across = max(1, math.ceil(2 * max(abs(r) for r in radii) * samples_per_radius_px))
    pts = aperture_samples(n_across, blades)
    rgba = [np.ascontiguousarray(p.rgba) for p in order]
    h = full_h - 2 * margin_px
    acc = np.zeros((h, w, 3), np.float64)
    for px, py in pts:
        view = np.zeros((h, w, 3), np.float32)
        for plane, r in zip(rgba, radii, strict=True):
            # Output pixel x shows the plane's texture at x + margin − p·r (shift by +p·r).
            m = np.float32([[1, 0, margin_px - px * r], [0, 1, margin_px - py * r]])
            shifted = cv2.warpAffine(
                plane, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )  # fmt: skip
            a = shifted[..., 3:4]
            view = shifted[..., :3] * a + (1 - a) * view
        acc += view
    return (acc / len(pts)).astype(np.float32)
