"""Layered (depth-sliced) depth-of-field renderer: the functional core.

Method. The signed circle of confusion (positive behind the focus plane, negative in front) is
quantised into layers of signed blur radius ``s_j`` (0 = the focus layer). Each pixel belongs to the
two layers around its own radius with *cumulative* alphas: the farther layer takes it with alpha 1,
the nearer one with the linear weight, so "over" compositing of un-blurred layers gives the input
back exactly and blurred layers interpolate between two blur sizes. Each layer's premultiplied
colour and alpha are blurred with the aperture kernel of its radius, at a resolution reduced by the
largest power of two that keeps the kernel radius >= ``lowres_min_radius_px`` (a large blur has no
high frequencies, so this is exact up to the down/up-sampling filters).

Occlusion, the part viewers notice:

* Background layers (behind focus) are composited back to front and then *renormalised by their own
  coverage*: holes left by the subject and by foreground objects are filled from the background
  around them, never from the subject, so a blurred background cannot bleed over an in-focus edge
  (no halo) and thin in-focus structures (hair) stay crisp against it.
* The focus layer is the untouched input, composited over that background.
* Where nothing is known behind a foreground object, a push-pull fill (coarse-to-fine normalised
  pyramid) inpaints the hidden surface from what surrounds it.
* Foreground layers (in front of focus) are composited front to back over the result, so a
  blurred foreground spreads, semi-transparently, over whatever is behind it, in-focus subject
  edges included (partial occlusion). Their colour comes from "over" of the layers, their
  coverage from the additive sum of the blurred hat weights, so a blurred silhouette is exactly
  as wide as its circle of confusion (see :func:`_composite_front`).

Each side (background: c > 0; foreground: c < 0, weighted by a ramp to the focus layer) is pooled
to half resolution from the full-resolution pixels *of that side only*, then to coarser levels,
so colour and CoC never mix across the focus plane. Only the focus layer, the final
composite and colour conversion run at full resolution.

Light that clipped in the camera (small, near-saturated local maxima, :func:`clipped_light_gain`)
is given a radiance above 1 before blurring, so it blooms into aperture-shaped discs and then
clips, as a sensor would; large saturated surfaces keep their radiance, and the focus layer is
never boosted.

One functional core runs on every device. Tensors stay planar (contiguous (B, C, H, W)); on the
CPU in float32 the pooling, bilinear resizing, padding and aperture filtering go through OpenCV
plane by plane (:data:`USE_OPENCV_ON_CPU`), everywhere else through torch; both give the same
image to float rounding. Full-resolution work writes into preallocated stacks (``out=``,
in-place ops): on the CPU a fresh full-resolution tensor costs about as much as the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from autofocuspull.core.registry import Registry
from autofocuspull.core.types import Lens
from autofocuspull.render.kernels import aperture_kernel, cat_eye_kernel
from autofocuspull.render.optics import MIN_DISTANCE_FOCAL_MULT, coc_px


@dataclass(frozen=True)
class RenderConfig:
    """Hyperparameters of the layered renderer (all pixel sizes refer to the rendered frame)."""

    max_coc_frac: float = 0.05  # largest CoC diameter, as a fraction of the image width
    first_layer_radius_px: float = 1.5  # blur radius of the layers next to the focus layer
    layer_ratio: float = 1.5  # geometric spacing of layer radii ...
    min_layer_step_px: float = 1.5  # ... but at least this many pixels apart
    base_downsample_log2: int = 1  # layers are sliced at 1/2^this resolution (focus layer: full)
    max_downsample_log2: int = 4
    lowres_radius_frac: float = 0.25  # kernel radius at its level ~ this x the full-res radius ...
    lowres_min_radius_px: float = 1.5  # ... clamped to [min, max] px at that level
    lowres_max_radius_px: float = 6.0
    blades: int = 0  # 0 = circular aperture, >= 3 = polygon with that many blades
    blade_rotation_deg: float = 0.0
    # Highlights: only light that clipped in the camera blooms (see :func:`clipped_light_gain`).
    # A clipped point light's true radiance is unknown; 6x diffuse white (~2.6 stops) is the
    # middle of what practical lights (lamps, bulbs, specular glints) exceed white by in
    # ordinary exposures, so their discs stay visible without turning into flat white plates.
    highlight_peak: float = 6.0  # radiance given to a clipped light's pixels; 1.0 disables
    # Near-saturated = max channel above lo (full weight at hi), linear light: sRGB codes ~243 and
    # ~252; codec noise and chroma subsampling pull a clipped 255 down a few codes.
    highlight_clip_lo: float = 0.9
    highlight_clip_hi: float = 0.98
    # Small = a clipped blob at most this wide (fraction of the width, at least ..._min_px):
    # street lamps, fairy lights and glints are a few pixels; a window, a white wall or a
    # saturated car body is far larger and must not glow.
    highlight_max_diameter_frac: float = 0.006
    highlight_max_diameter_min_px: float = 4.0
    # Local maximum = the non-clipped pixels around it are darker than this (linear): a light
    # against the night or a dim interior, not a bright textured surface that clips in patches.
    highlight_surround_max: float = 0.35
    # Cat's-eye bokeh (mechanical vignetting): toward the frame corners the lens barrel cuts the
    # aperture, by this fraction of its radius at the corner (growing with the squared distance
    # from the centre). 0 = off (the default: it costs 5 blurs per layer instead of 1);
    # fast primes wide open show about 0.3-0.6.
    cat_eye: float = 0.0
    hole_min_alpha: float = 0.05  # background coverage below which the push-pull fill takes over
    fill_downsample_log2: int = 3  # resolution of the push-pull fill (1/2^L)


DEFAULT_CONFIG = RenderConfig()


def layer_radii_px(max_radius_px: float, config: RenderConfig) -> list[float]:
    """Ascending positive blur radii (px) of the layers on one side of focus; last = max radius."""
    if max_radius_px <= 0:
        return []
    radii: list[float] = []
    r = config.first_layer_radius_px
    while r < max_radius_px * 0.999:
        radii.append(r)
        r = max(r + config.min_layer_step_px, r * config.layer_ratio)
    radii.append(float(max_radius_px))
    return radii


def layer_level(radius_px: float, config: RenderConfig) -> int:
    """Downsampling level L (factor 2^L) at which a blur of ``radius_px`` is computed."""
    target = min(
        config.lowres_max_radius_px,
        max(config.lowres_min_radius_px, radius_px * config.lowres_radius_frac),
    )
    level = math.floor(math.log2(max(radius_px / target, 1.0)))
    return max(config.base_downsample_log2, min(config.max_downsample_log2, level))


def lowres_kernel_radius(radius_px: float, level: int) -> float:
    """Kernel radius on the 1/2^level grid whose result, after the 2^level box pooling and the
    bilinear upsampling (together about d² / 4 px² of extra variance per axis, d = 2^level), has
    the variance of a full-resolution disc of ``radius_px`` (r² / 4)."""
    d = 2.0**level
    if level == 0:
        return radius_px
    return math.sqrt(max(radius_px**2 - d**2, 0.25 * radius_px**2)) / d


def box_mean(x: Tensor, radius_px: int) -> Tensor:
    """Mean over the (2r+1)² window clipped to the image (B, C, h, w) -> same shape."""
    k = 2 * radius_px + 1
    if _opencv(x):  # sum over the zero-padded window / number of pixels inside: 5x faster
        zero = cv2.BORDER_CONSTANT
        count = cv2.boxFilter(np.ones(x.shape[-2:], np.float32), -1, (k, k), normalize=False, borderType=zero)

        def box(a: np.ndarray, d: np.ndarray) -> None:
            cv2.divide(cv2.boxFilter(a, -1, (k, k), normalize=False, borderType=zero), count, dst=d)

        return _cv_map(x, box, tuple(x.shape[-2:]))
    return nnf.avg_pool2d(x, k, stride=1, padding=radius_px, count_include_pad=False)


def clipped_light_gain(lin: Tensor, config: RenderConfig, factor: int = 1) -> Tensor | None:
    """(B, 1, ⌈H/f⌉, ⌈W/f⌉) factor by which to scale linear light before blurring, on the grid
    pooled by ``factor`` f (the renderer's base grid), or None (no clipped light).

    Only *likely clipped light* is boosted: a cell whose brightest pixel's max channel is near
    saturation (soft ramp ``highlight_clip_lo`` -> ``_hi``; a one-pixel light survives the pooling
    as a maximum), in a blob no wider than the maximum diameter (the clipped share of a window
    twice that wide stays below a disc's), whose non-clipped surroundings are dark (mean below
    ``highlight_surround_max``). Such light's radiance is unknown above 1; it becomes
    ``highlight_peak``. Large saturated surfaces (a red car, a white wall, a bright sky) fail the
    size or surround test and keep their radiance, so they blur without glowing. The factor
    multiplies all three channels, keeping the light's hue.
    """
    if config.highlight_peak <= 1.0:
        return None
    lo, hi = config.highlight_clip_lo, config.highlight_clip_hi
    v = lin.amax(dim=1, keepdim=True).float()
    if factor > 1:
        v = nnf.max_pool2d(v, factor, ceil_mode=True)
    clip = ((v - lo) * (1.0 / max(hi - lo, 1e-6))).clamp_(0.0, 1.0)
    if not bool((clip > 0).any()):  # most frames: nothing near saturation, nothing to do
        return None
    d = max(config.highlight_max_diameter_min_px, config.highlight_max_diameter_frac * lin.shape[-1])
    d = d / factor + (1.0 if factor > 1 else 0.0)  # the max pooling widens a blob by up to a cell
    r = max(1, math.ceil(d))  # window (2r+1)² ~ twice the blob's diameter
    disc_share = math.pi * (d / 2) ** 2 / (2 * r + 1) ** 2
    means = box_mean(torch.cat([clip, v * (1.0 - clip), 1.0 - clip], dim=1), r)
    share, dark_sum, dark_n = means[:, 0:1], means[:, 1:2], means[:, 2:3]
    small = ((1.5 * disc_share - share) * (1.0 / (0.5 * disc_share))).clamp_(0.0, 1.0)
    surround = dark_sum / dark_n.clamp_min(1e-3)
    smax = config.highlight_surround_max
    weight = small.mul_(((smax - surround) * (2.0 / smax)).clamp_(0.0, 1.0)).mul_(clip)
    if not bool((weight > 0).any()):
        return None
    return weight.mul_(config.highlight_peak - 1.0).add_(1.0).to(lin.dtype)


def _layer_alpha(c: Tensor, s: list[float], j: int) -> Tensor:
    """Cumulative alpha of layer j: 1 on (s[j-1], s[j]], linear ramp to 0 on (s[j], s[j+1])."""
    if j + 1 < len(s):
        a = (c - s[j + 1]).mul_(-1.0 / (s[j + 1] - s[j])).clamp_(0.0, 1.0)
    else:
        a = torch.ones_like(c)
    if j > 0:
        a = a.masked_fill_(c <= s[j - 1], 0.0)
    return a


def _hat(c: Tensor, s: list[float], j: int) -> Tensor:
    """Hat weight of layer j: linear rise on (s[j-1], s[j]], linear fall on (s[j], s[j+1]); the
    end layers are flat outwards. Over all j the hats sum to 1."""
    up = (c - s[j - 1]).mul_(1.0 / (s[j] - s[j - 1])) if j > 0 else None
    down = (c - s[j + 1]).mul_(-1.0 / (s[j + 1] - s[j])) if j + 1 < len(s) else None
    if up is None and down is None:
        return torch.ones_like(c)
    hat = down if up is None else (up if down is None else torch.minimum(up, down))
    return hat.clamp_(0.0, 1.0)


#: Pool, resize, pad and filter CPU float32 tensors with OpenCV (3-10x faster than torch's CPU
#: kernels, same results to float rounding); False keeps every op in torch (tests compare the two).
USE_OPENCV_ON_CPU = True


def _opencv(x: Tensor) -> bool:
    """Whether ``x`` takes the OpenCV path (CPU float32 with :data:`USE_OPENCV_ON_CPU`)."""
    return USE_OPENCV_ON_CPU and x.device.type == "cpu" and x.dtype == torch.float32


def _cv_map(x: Tensor, fn: Callable[[np.ndarray, np.ndarray], object], size: tuple[int, int]) -> Tensor:
    """Contiguous (B, C, *size) tensor with ``fn(src, dst)`` applied to every (B, C) plane: ``src``
    the (h, w) float32 plane of ``x`` (a view when ``x`` is contiguous), ``dst`` the output plane.

    Planar layout throughout: OpenCV's one-channel kernels are as fast per value as its
    multi-channel ones, and torch's elementwise ops vectorise over W whatever the broadcasting."""
    b, ch = x.shape[:2]
    src = x.reshape(b * ch, *x.shape[-2:]).contiguous().numpy()
    out = torch.empty((b, ch, *size), dtype=x.dtype)
    dst = out.numpy().reshape(b * ch, *size)
    for i in range(b * ch):
        fn(src[i], dst[i])
    return out


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (half-pixel centres) of (B, C, h, w) to ``size`` (H, W)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if _opencv(x):
        hw = (size[1], size[0])
        return _cv_map(x, lambda a, d: cv2.resize(a, hw, dst=d, interpolation=cv2.INTER_LINEAR), size)
    return nnf.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _pool(x: Tensor, factor: int) -> Tensor:
    """``factor`` x ``factor`` box average (a partial last window averages what it covers)."""
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    ph, pw = -h % factor, -w % factor
    if _opencv(x) and (factor == 2 or ph == pw == 0):
        # A partial window of a 2x2 pool holds one pixel per short side: replicating it once
        # averages exactly what the window covers.
        hw = (-(-w // factor), -(-h // factor))
        border = cv2.BORDER_REPLICATE

        def pool(a: np.ndarray, d: np.ndarray) -> None:
            a = cv2.copyMakeBorder(a, 0, ph, 0, pw, border) if ph or pw else a
            cv2.resize(a, hw, dst=d, interpolation=cv2.INTER_AREA)

        return _cv_map(x, pool, hw[::-1])
    return nnf.avg_pool2d(x, factor, ceil_mode=True)


def _pad_replicate(x: Tensor, pads: tuple[int, int, int]) -> Tensor:
    """Replicate-pad (B, C, h, w) by ``pads`` = (top and left, bottom, right) pixels."""
    top, bottom, right = pads
    if _opencv(x):
        size = (x.shape[-2] + top + bottom, x.shape[-1] + top + right)
        border = cv2.BORDER_REPLICATE
        return _cv_map(x, lambda a, d: cv2.copyMakeBorder(a, top, bottom, top, right, border, dst=d), size)
    return nnf.pad(x, (top, right, top, bottom), mode="replicate")


# OpenCV's filter2D switches to a DFT from this many float32 taps on; on the small grids used
# here that is slower than direct summation up to about _DIRECT_MAX_TAPS taps (19 x 19), so such
# kernels are split into bands below the threshold.
_DFT_MIN_TAPS = 130
_DIRECT_MAX_TAPS = 400


def _filter2d_direct(a: np.ndarray, kernel: np.ndarray, dst: np.ndarray) -> None:
    """``dst`` = zero-padded 'same' correlation of (h, w) float32 ``a`` with an odd (k, k) ``kernel``,
    always by direct summation: bands of rows (zero columns trimmed) each under the DFT threshold,
    filtered on a zero-padded copy with a corner anchor and summed at their offsets."""
    kh, kw = kernel.shape
    if not _DFT_MIN_TAPS <= kh * kw <= _DIRECT_MAX_TAPS:
        cv2.filter2D(a, -1, kernel, dst=dst, borderType=cv2.BORDER_CONSTANT)
        return
    h, w = a.shape
    padded = cv2.copyMakeBorder(a, kh // 2, kh // 2, kw // 2, kw // 2, cv2.BORDER_CONSTANT, value=0.0)
    first = True
    r0 = 0
    while r0 < kh:
        r1, cols = r0, np.zeros(kw, bool)
        while r1 < kh:
            grown = cols | (kernel[r1] != 0)
            nz = np.flatnonzero(grown)
            width = nz[-1] + 1 - nz[0] if nz.size else 0
            if r1 > r0 and (r1 + 1 - r0) * width >= _DFT_MIN_TAPS:
                break
            cols, r1 = grown, r1 + 1
        if cols.any():
            c0, c1 = np.flatnonzero(cols)[[0, -1]]
            band = np.ascontiguousarray(kernel[r0:r1, c0 : c1 + 1])
            y = cv2.filter2D(padded, -1, band, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            part = y[r0 : r0 + h, c0 : c0 + w]
            if first:
                dst[...] = part
            else:
                np.add(dst, part, out=dst)
            first = False
        r0 = r1
    if first:
        dst[...] = 0.0


def conv_same(x: Tensor, kernel: Tensor) -> Tensor:
    """Zero-padded 'same' 2-D correlation of every (B, C) plane of ``x`` with a (1, 1, k, k) kernel.

    CPU float32 goes through OpenCV's filter2D (several times faster than torch's CPU conv);
    everything else through ``nnf.conv2d``. Both compute the same correlation.
    """
    if _opencv(x):
        k = kernel[0, 0].numpy()
        return _cv_map(x, lambda a, d: _filter2d_direct(a, k, d), tuple(x.shape[-2:]))
    # Depthwise (grouped) form: cuDNN runs it 10-50x faster than a batch of 1-channel images.
    b, ch, h, w = x.shape
    weight = kernel.expand(b * ch, 1, *kernel.shape[-2:])
    y = nnf.conv2d(x.reshape(1, b * ch, h, w), weight, padding=kernel.shape[-1] // 2, groups=b * ch)
    return y.reshape(b, ch, h, w)


def _layer_stack(colour: Tensor, c: Tensor, cov: Tensor, s: list[float], j: int) -> Tensor:
    """Premultiplied (B, 4, h, w) [colour·α, α] of layer j, α = cumulative alpha · ``cov``, laid
    out for :func:`conv_same`, products written in place."""
    x = _new_stack(colour, 4)
    alpha = torch.mul(_layer_alpha(c, s, j), cov, out=x[:, 3:4])
    torch.mul(colour, alpha, out=x[:, :3])
    return x


def _blur(x: Tensor, radius_px: float, config: RenderConfig, vignette: Tensor | None = None) -> Tensor:
    """``x`` blurred with the aperture kernel of ``radius_px`` (pixels of ``x``'s grid).

    With ``vignette`` ((1, 1 + D, h, w) weights, :func:`_cat_eye_weights`) each pixel blends the
    full aperture with the barrel-cut kernels of the D radial directions."""
    k = aperture_kernel(radius_px, config.blades, config.blade_rotation_deg, x.device, x.dtype)
    if vignette is None:
        return conv_same(x, k)
    out = conv_same(x, k).mul_(vignette[:, :1])
    for i in range(CAT_EYE_DIRECTIONS):
        ki = cat_eye_kernel(
            radius_px, config.blades, config.blade_rotation_deg, 180.0 * i / CAT_EYE_DIRECTIONS,
            config.cat_eye, x.device, x.dtype,
        )  # fmt: skip
        out.addcmul_(conv_same(x, ki), vignette[:, 1 + i : 2 + i])
    return out


#: Radial directions of the cat's-eye kernels over [0°, 180°) (the cut is symmetric under 180°).
CAT_EYE_DIRECTIONS = 4


def _cat_eye_weights(
    shape: tuple[int, int], frame_hw: tuple[int, int], pad: int, scale: int, like: Tensor
) -> Tensor:
    """(1, 1 + D, h, w) blend weights on a padded grid of ``shape`` whose cell (i, j) is frame
    pixel ((i − pad + ½)·scale, (j − pad + ½)·scale): the full aperture takes 1 − ρ², the
    direction kernels share ρ² by angular interpolation, ρ = distance from the frame centre /
    half-diagonal (clamped to 1)."""
    h, w = shape
    fh, fw = frame_hw
    ys = (torch.arange(h, dtype=torch.float32) - pad + 0.5) * scale - fh / 2
    xs = (torch.arange(w, dtype=torch.float32) - pad + 0.5) * scale - fw / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    rho2 = ((xx**2 + yy**2) / ((fh / 2) ** 2 + (fw / 2) ** 2)).clamp_(max=1.0)
    theta = torch.remainder(torch.atan2(yy, xx), math.pi) * (CAT_EYE_DIRECTIONS / math.pi)
    maps = [1.0 - rho2]
    for i in range(CAT_EYE_DIRECTIONS):
        n = CAT_EYE_DIRECTIONS
        dist = torch.remainder(theta - i + n / 2, n) - n / 2
        maps.append(rho2 * (1.0 - dist.abs()).clamp_(min=0.0))
    return torch.stack(maps)[None].to(device=like.device, dtype=like.dtype).contiguous()


def _new_stack(like: Tensor, channels: int) -> Tensor:
    """Uninitialised contiguous (B, ``channels``, h, w) tensor of ``like``'s dtype and device."""
    b, _, h, w = like.shape
    return torch.empty((b, channels, h, w), dtype=like.dtype, device=like.device)


def _pool_sides(
    image: Tensor,
    c: Tensor,
    first_radius_px: float,
    with_front: bool,
    factor: int,
    pads: tuple[int, int, int],
) -> list[tuple[Tensor, Tensor]]:
    """Each side of focus pooled from full resolution to the base grid and replicate-padded:
    (B, 4, h, w) [image·w, c·w] and (B, 1, h, w) w, for the background weight w = [c > 0] and,
    ``with_front``, the foreground ramp w = clamp(−c / ``first_radius_px``, 0, 1).

    Both sides reuse one full-resolution stack and one weight plane: fresh full-resolution
    allocations cost as much as the arithmetic on the CPU (page faults)."""
    x = _new_stack(image, 4)
    weight = torch.sign(c).clamp_(0.0, 1.0)  # [c > 0]
    sides = []
    for front in [False, True] if with_front else [False]:
        if front:
            torch.mul(c, -1.0 / first_radius_px, out=weight).clamp_(0.0, 1.0)
        torch.mul(image, weight, out=x[:, :3])
        torch.mul(c, weight, out=x[:, 3:])
        sides.append((_pad_replicate(_pool(x, factor), pads), _pad_replicate(_pool(weight, factor), pads)))
    return sides


def _push_pull_fill(colour: Tensor, alpha: Tensor) -> Tensor:
    """Opaque colour (B, 3, h, w) that inpaints low-alpha regions from a normalised pyramid."""
    if min(colour.shape[-2:]) <= 2:
        return colour / alpha.clamp_min(1e-4)
    size = (max(1, (colour.shape[-2] + 1) // 2), max(1, (colour.shape[-1] + 1) // 2))
    coarse = _push_pull_fill(nnf.adaptive_avg_pool2d(colour, size), nnf.adaptive_avg_pool2d(alpha, size))
    return colour + (1.0 - alpha) * _resize(coarse, tuple(colour.shape[-2:]))


@dataclass(frozen=True)
class _Side:
    """One side of focus, pooled: per level L (from base), colour, signed radius and coverage."""

    colour: dict[int, Tensor]  # (B, 3, h_L, w_L) un-premultiplied linear colour (clipped light boosted)
    coc: dict[int, Tensor]  # (B, 1, h_L, w_L) signed CoC radius in full-res pixels
    coverage: dict[int, Tensor]  # (B, 1, h_L, w_L) share of the level's pixel on this side, [0, 1]
    vignette: dict[int, Tensor] | None = None  # (1, 1 + D, h_L, w_L) cat's-eye blend weights


def _side(
    p: Tensor, weight: Tensor, levels: set[int], base: int, config: RenderConfig, vig: Tensor | None = None
) -> _Side:
    """Pyramid of one side from its base-grid premultiplied stack ``p`` = [colour·w, coc·w] and
    coverage ``weight`` = w.

    Colour and CoC are averaged over this side's pixels only, so a depth edge never mixes the
    subject into the background (or vice versa).
    """
    colour, coc, cov, vigs = {}, {}, {}, {}
    level = base
    while True:
        if level == base or level in levels:
            u = p * torch.reciprocal(weight.clamp_min(1e-3))  # [colour, coc], un-premultiplied
            colour[level], coc[level], cov[level] = u[:, :3], u[:, 3:4], weight
            if vig is not None:
                vigs[level] = vig
        if level >= max(levels):
            break
        p, weight, level = _pool(p, 2), _pool(weight, 2), level + 1
        vig = None if vig is None else _pool(vig, 2)
    return _Side(colour, coc, cov, vigs if vigs else None)


def _composite_side(
    side: _Side, s: list[float], order: list[int], config: RenderConfig, front_to_back: bool
) -> Tensor | None:
    """Blur and composite the layers ``order`` of one side (coarsest first).

    Returns premultiplied (B, 4, h, w) on the base grid, or None when no layer is occupied.
    """
    if front_to_back:
        return _composite_front(side, s, order, config)
    acc: Tensor | None = None
    for j in order:
        r = abs(s[j])
        level = layer_level(r, config)
        x = _layer_stack(side.colour[level], side.coc[level], side.coverage[level], s, j)
        vig = None if side.vignette is None else side.vignette[level]
        y = _blur(x, lowres_kernel_radius(r, level), config, vig)
        if acc is not None:
            acc = _resize(acc, tuple(y.shape[-2:]))
            # The farther layers continue behind this nearer one (a wall behind a parked car):
            # make them opaque wherever they have support (coverage >= hole_min_alpha), so a
            # nearer layer's blurred, semi-transparent rim mixes with the extended far surface
            # instead of being renormalised towards its own colour.
            acc.mul_(torch.reciprocal(acc[:, 3:4].clamp(config.hole_min_alpha, 1.0)))
            acc.mul_(1.0 - y[:, 3:4]).add_(y)
        else:
            acc = y
    if acc is None:
        return None
    return _resize(acc, tuple(side.coc[min(side.coc)].shape[-2:]))


_SEAM_FILL_POWER = 16


def _composite_front(side: _Side, s: list[float], order: list[int], config: RenderConfig) -> Tensor | None:
    """Front-to-back composite of the foreground layers ``order`` (nearest first).

    Colour comes from "over" compositing of the cumulative-alpha layers (nearer occludes farther),
    normalised by its own alpha. Coverage is the *additive* sum of the blurred hat weights (a
    partition of unity before blurring), clamped to 1: a blurred silhouette gets exactly the
    interpolated coverage of its two layers, without the fattening that "over" of two blurred
    copies of one surface causes (up to +0.25 alpha at the edge). Where adjacent layers of
    different radii meet inside one surface the additive sum dips by a few percent; there the
    "over" alpha is ~1, and ``cover += (1 - cover) * over_alpha ** 16`` closes most of the dip while
    moving silhouettes (over alpha <= 0.75) by at most 1 % of (1 - cover).
    """
    acc: Tensor | None = None  # (B, 4, h, w) premultiplied "over" colour and alpha
    cover: Tensor | None = None  # (B, 1, h, w) additive coverage
    for j in order:
        r = abs(s[j])
        level = layer_level(r, config)
        c, cov = side.coc[level], side.coverage[level]
        radius = lowres_kernel_radius(r, level)
        vig = None if side.vignette is None else side.vignette[level]
        y = _blur(_layer_stack(side.colour[level], c, cov, s, j), radius, config, vig)
        y_cover = _blur(_hat(c, s, j).mul_(cov), radius, config, vig)
        if acc is None or cover is None:
            acc, cover = y, y_cover
            continue
        size = tuple(y.shape[-2:])
        acc, cover = _resize(acc, size), _resize(cover, size)
        acc.addcmul_(1.0 - acc[:, 3:4], y)
        cover.add_(y_cover)
    if acc is None or cover is None:
        return None
    over_a = acc[:, 3:4]
    cover = cover.clamp(0.0, 1.0)
    cover = cover + (1.0 - cover) * over_a.clamp(0.0, 1.0) ** _SEAM_FILL_POWER
    out = torch.cat([acc[:, :3] * (cover / over_a.clamp_min(1e-3)), cover], dim=1)
    return _resize(out, tuple(side.coc[min(side.coc)].shape[-2:]))


def _occupied_layers(c: Tensor, s: list[float]) -> set[int]:
    """Indices of layers that may have nonzero alpha somewhere (a superset; one device sync).

    A fine histogram of ``c`` (bins <= 0.25 px, over the clamped range ``[s[0], s[-1]]``) is
    cheaper than bucketizing every pixel; layer j is kept when a nonempty bin meets its support
    (s[j-1], s[j+1]).
    """
    r_max = s[-1]
    n_bins = max(64, math.ceil(8 * r_max))
    step = 2 * r_max / n_bins
    if c.device.type == "cpu" and c.dtype == torch.float32:  # OpenCV's histogram: 2-3x faster
        # One more bin on top: calcHist's range is half-open and c reaches r_max (clamped).
        src = c.reshape(1, -1).numpy()
        counts = cv2.calcHist([src], [0], None, [n_bins + 1], [-r_max, r_max + step]).reshape(-1)
    else:
        counts = torch.histc(c.float(), bins=n_bins, min=-r_max, max=r_max).cpu().numpy()
    edges = -r_max + step * np.arange(len(counts) + 1)
    # Bins widened by 1e-3 px, so that float rounding of a bin index cannot drop a layer.
    lo, hi = edges[:-1][counts > 0] - 1e-3, edges[1:][counts > 0] + 1e-3
    occupied: set[int] = set()
    for j in range(len(s)):
        lo_j = s[j - 1] if j > 0 else -math.inf
        hi_j = s[j + 1] if j + 1 < len(s) else math.inf
        if np.any((hi >= lo_j) & (lo <= hi_j)):
            occupied.add(j)
    return occupied


def signed_coc_radius_px(
    depth_m: Tensor, focus_m: Tensor, f_number: Tensor, lens: Lens, config: RenderConfig
) -> Tensor:
    """(B, 1, H, W) float32 signed CoC radius in pixels (positive behind focus), clamped to the max.

    Reference implementation through :func:`coc_px`; the renderer uses the fused
    :func:`_signed_radius_fast` (same values, fewer passes).
    """
    w = depth_m.shape[-1]
    bshape = (-1, 1, 1, 1)
    d = coc_px(
        depth_m.float(),
        focus_m.float().reshape(bshape),
        lens,
        w,
        f_number.float().reshape(bshape),
        signed=True,
    )
    r_max = config.max_coc_frac * w / 2
    return (d / 2).clamp(-r_max, r_max)


def _signed_radius_fast(
    depth_m: Tensor, focus_m: Tensor, f_number: Tensor, lens: Lens, config: RenderConfig, dtype: torch.dtype
) -> Tensor:
    """Signed radius r(z) = K·(1 − s/z), K = A·f/(s − f)·px_per_m / 2, in four in-place passes.

    Computed in float32 and returned as ``dtype``."""
    w = depth_m.shape[-1]
    f_m = lens.focal_length_mm / 1000.0
    s = focus_m.float().clamp_min(MIN_DISTANCE_FOCAL_MULT * f_m)
    k = (f_m / f_number.float()) * f_m / (s - f_m) * (1000.0 * w / lens.sensor_width_mm) / 2
    r_max = config.max_coc_frac * w / 2
    # float32 whatever ``dtype``: in bf16 a plane at the focus distance would get |r| ~ 0.05 px.
    c = torch.reciprocal(depth_m.float().clamp_min(MIN_DISTANCE_FOCAL_MULT * f_m))
    c.mul_((-k * s).reshape(-1, 1, 1, 1)).add_(k.reshape(-1, 1, 1, 1))
    return c.clamp_(-r_max, r_max).to(dtype)


def _base_padding(h: int, w: int, radii: list[float], config: RenderConfig) -> tuple[int, ...]:
    """Base-grid size (hb, wb) and replicate padding (top/left, bottom, right) in base pixels.

    The padding covers the largest blur and makes the padded grid divisible by every level's pool.
    """
    base = config.base_downsample_log2
    hb, wb = -(-h // 2**base), -(-w // 2**base)
    top = max([layer_level(r, config) for r in radii] + [config.fill_downsample_log2, base])
    mult = 2 ** (top - base)
    pad = math.ceil(radii[-1] / 2**base) + 2
    return hb, wb, pad, pad + (-(hb + 2 * pad)) % mult, pad + (-(wb + 2 * pad)) % mult


def render_frame_torch(
    image_lin: Tensor,
    depth_m: Tensor,
    focus_m: Tensor,
    f_number: Tensor,
    lens: Lens,
    config: RenderConfig = DEFAULT_CONFIG,
) -> Tensor:
    """Shallow depth of field in linear light.

    ``image_lin`` (B, 3, H, W) float linear all-in-focus image; ``depth_m`` (B, 1, H, W) metres;
    ``focus_m`` (B,) metres and ``f_number`` (B,) per frame (``lens.f_number`` is ignored here: the
    plan's aperture wins). Returns (B, 3, H, W) linear light of ``image_lin``'s dtype and device.
    """
    b, ch, h, w = image_lin.shape
    if ch != 3 or depth_m.shape != (b, 1, h, w):
        raise ValueError(
            f"render_frame_torch: expected image (B, 3, H, W) and depth (B, 1, H, W), "
            f"got {tuple(image_lin.shape)} and {tuple(depth_m.shape)}"
        )
    if focus_m.shape != (b,) or f_number.shape != (b,):
        raise ValueError(
            f"render_frame_torch: expected focus_m and f_number of shape ({b},), "
            f"got {tuple(focus_m.shape)} and {tuple(f_number.shape)}"
        )
    c = _signed_radius_fast(depth_m, focus_m, f_number, lens, config, image_lin.dtype)
    radii = layer_radii_px(config.max_coc_frac * w / 2, config)
    if not radii:
        return image_lin.clone()
    s = [-r for r in reversed(radii)] + [0.0] + radii
    m = len(radii)
    occupied = _occupied_layers(c, s)
    base = config.base_downsample_log2
    hb, wb, *pads = _base_padding(h, w, radii, config)
    pad = pads[0]
    bg_order = [i for i in range(m - 1, -1, -1) if m + 1 + i in occupied]
    fg_order = [j for j in range(m) if j in occupied]

    # Each side's premultiplied stack [colour, coc]·weight and weight, pooled to the base grid.
    pads = tuple(pads)
    sides = _pool_sides(image_lin, c, radii[0], bool(fg_order), 2**base, pads)
    # Clipped light, boosted on the base grid (what the blurred layers see; the focus layer
    # below is the untouched input).
    gain = clipped_light_gain(image_lin, config, 2**base)
    gain = None if gain is None else _pad_replicate(gain, pads)
    if gain is not None:
        for p_side, _ in sides:
            p_side[:, :3].mul_(gain)
    p_bg, w_bg = sides[0]
    if fg_order:
        p_fg, w_fg = sides[1]
        # Hidden surfaces behind foreground objects are inpainted from the focus part of the
        # image too: focus part = whole image minus both sides (premultiplied, base grid).
        whole = _pad_replicate(_pool(image_lin, 2**base), pads)
        if gain is not None:
            whole[:, :3].mul_(gain)
        f_col = (whole - p_bg[:, :3] - p_fg[:, :3]).clamp_min_(0.0)
        f_a = (1.0 - w_bg - w_fg).clamp_(0.0, 1.0)

    vig = None
    if config.cat_eye > 0:
        vig = _cat_eye_weights(tuple(w_bg.shape[-2:]), (h, w), pad, 2**base, c)
    bg_levels = {base} | {layer_level(radii[i], config) for i in bg_order}
    bg_side = _side(p_bg, w_bg, bg_levels, base, config, vig)
    bg = _composite_side(bg_side, s[m + 1 :], bg_order, config, False)
    if bg is None:
        bg = torch.zeros((b, 4, *w_bg.shape[-2:]), dtype=c.dtype, device=c.device)
    b_col = bg[:, :3] / bg[:, 3:4].clamp_min(config.hole_min_alpha)
    b_a = (bg[:, 3:4] / config.hole_min_alpha).clamp_max(1.0)
    src_col, src_a = b_col * b_a, b_a
    if fg_order:
        src_col, src_a = f_col + (1.0 - f_a) * src_col, f_a + (1.0 - f_a) * src_a
    fl = 2 ** max(0, config.fill_downsample_log2 - base)
    fill = _resize(_push_pull_fill(_pool(src_col, fl), _pool(src_a, fl)), tuple(b_a.shape[-2:]))
    crop = (slice(None), slice(None), slice(pad, pad + hb), slice(pad, pad + wb))
    out = _resize(torch.lerp(fill, b_col, b_a)[crop], (h, w)).lerp_(image_lin, _layer_alpha(c, s, m))
    if fg_order:
        fg_levels = {base} | {layer_level(abs(s[j]), config) for j in fg_order}
        fg_side = _side(p_fg, w_fg, fg_levels, base, config, vig)
        fg = _composite_side(fg_side, s[:m], fg_order, config, True)[crop]
        fg[:, 3:4].neg_().add_(1.0)  # bilinear interpolation commutes with 1 − x: upsample 1 − alpha
        fg = _resize(fg, (h, w))
        out = out.mul_(fg[:, 3:4]).add_(fg[:, :3])
    return out


def render_naive_torch(
    image_lin: Tensor,
    depth_m: Tensor,
    focus_m: Tensor,
    f_number: Tensor,
    lens: Lens,
    config: RenderConfig = DEFAULT_CONFIG,
) -> Tensor:
    """Naive baseline: per-pixel Gaussian blur by CoC (sigma = radius / 2), no occlusion handling.

    The image is blurred at every layer radius; each pixel interpolates between the two blurs
    around its own |CoC|. Same shapes and units as :func:`render_frame_torch`.
    """
    w = image_lin.shape[-1]
    r = signed_coc_radius_px(depth_m, focus_m, f_number, lens, config).abs().to(image_lin.dtype)
    radii = [0.0, *layer_radii_px(config.max_coc_frac * w / 2, config)]
    out = torch.zeros_like(image_lin)
    for i, ri in enumerate(radii):
        inf = torch.full_like(r, float("inf"))
        left = (r - radii[i - 1]) / (ri - radii[i - 1]) if i > 0 else inf
        right = (radii[i + 1] - r) / (radii[i + 1] - ri) if i + 1 < len(radii) else inf
        weight = torch.minimum(left, right).clamp(0.0, 1.0)
        out = out + weight * (image_lin if ri == 0 else _gaussian_blur(image_lin, ri / 2))
    return out


def _gaussian_blur(x: Tensor, sigma_px: float) -> Tensor:
    half = max(1, math.ceil(3 * sigma_px))
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma_px) ** 2)
    g = g / g.sum()
    b, ch, h, w = x.shape
    y = nnf.pad(x.reshape(b * ch, 1, h, w), (half, half, half, half), mode="replicate")
    y = nnf.conv2d(y, g.reshape(1, 1, 1, -1))
    y = nnf.conv2d(y, g.reshape(1, 1, -1, 1))
    return y.reshape(b, ch, h, w)


class LayeredBokehRenderer(nn.Module):
    """Thin module around :func:`render_frame_torch` (lens and config fixed at construction)."""

    def __init__(self, lens: Lens | None = None, config: RenderConfig = DEFAULT_CONFIG) -> None:
        super().__init__()
        self.lens = Lens() if lens is None else lens
        self.config = config

    def forward(self, image_lin: Tensor, depth_m: Tensor, focus_m: Tensor, f_number: Tensor) -> Tensor:
        return render_frame_torch(image_lin, depth_m, focus_m, f_number, self.lens, self.config)


class Renderer(Protocol):
    """A renderer core: ``(image_lin (B, 3, H, W) linear light, depth_m (B, 1, H, W) metres,
    focus_m (B,) metres, f_number (B,), lens, config: RenderConfig) -> (B, 3, H, W)`` linear light,
    same dtype and device as the image (see :func:`render_frame_torch`)."""

    def __call__(
        self, image_lin: Tensor, depth_m: Tensor, focus_m: Tensor, f_number: Tensor, lens: Lens,
        config: RenderConfig, /,
    ) -> Tensor: ...  # fmt: skip


# The only way a renderer is found by name (``[stages] renderer``); plug-ins register through the
# ``autofocuspull.renderers`` entry points.
RENDERERS: Registry[Renderer] = Registry("renderer", "autofocuspull.renderers")
RENDERERS.register("layered", render_frame_torch)
RENDERERS.register("naive", render_naive_torch)
