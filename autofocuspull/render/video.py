"""The video path: frames + depth + per-frame focus and aperture -> rendered frames, streamed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as nnf
from tqdm.auto import tqdm

from autofocuspull.core.arrays import batches
from autofocuspull.core.types import Frame, Lens, check_array
from autofocuspull.render.api import check_depth, check_focus, default_dtype, render_batch_u8, upload
from autofocuspull.render.layered import (
    DEFAULT_CONFIG,
    RENDERERS,
    RenderConfig,
    Renderer,
    _resize,
    box_mean,
)

DepthUpsample = Literal["guided", "bilinear"]


def luma_u8(rgb_u8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 (or uint16) RGB -> (B, 1, H, W) float32 Rec.601 luma in [0, 1] (the
    depth guide)."""
    top = 65535.0 if rgb_u8.dtype == torch.uint16 else 255.0
    weights = torch.tensor([0.299, 0.587, 0.114], device=rgb_u8.device) / top
    return (rgb_u8.float() @ weights)[:, None]


def upsample_depth(
    depth_m: torch.Tensor,
    size: tuple[int, int],
    guide_luma: torch.Tensor | None = None,
    *,
    method: DepthUpsample = "guided",
    radius_px: int = 2,
    eps: float = 1e-3,
) -> torch.Tensor:
    """Upsample (B, 1, h, w) metres to (B, 1, H, W) float32 metres, interpolating inverse depth.

    ``method="guided"`` is a fast guided filter (He & Sun 2015): the linear model disparity ≈ a·I + b
    is fitted on the low-res grid against the image luma ``guide_luma`` ((B, 1, H, W) in [0, 1], see
    :func:`luma_u8`) and applied at full resolution, so depth edges snap to image edges.
    ``radius_px`` is the box radius on the low-res grid, ``eps`` the regulariser (normalised units).
    Without a guide, or with ``method="bilinear"``, disparity is interpolated bilinearly.
    """
    if method not in ("guided", "bilinear"):
        raise ValueError(f"upsample_depth: method must be 'guided' or 'bilinear', got {method!r}")
    disp = 1.0 / depth_m.float().clamp_min(1e-3)
    if tuple(disp.shape[-2:]) == tuple(size):
        return depth_m.float()
    if method == "bilinear" or guide_luma is None:
        return 1.0 / nnf.interpolate(disp, size=size, mode="bilinear", align_corners=False)
    scale = disp.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    p = disp / scale
    i_lo = nnf.interpolate(guide_luma, size=tuple(p.shape[-2:]), mode="area")
    mean_i, mean_p = box_mean(i_lo, radius_px), box_mean(p, radius_px)
    cov_ip = box_mean(i_lo * p, radius_px) - mean_i * mean_p
    var_i = box_mean(i_lo * i_lo, radius_px) - mean_i**2
    a = cov_ip / (var_i + eps)
    ab = torch.cat([box_mean(a, radius_px), box_mean(mean_p - a * mean_i, radius_px)], dim=1)
    ab = _resize(ab, size)
    q = ab[:, 1:2].addcmul_(ab[:, 0:1], guide_luma)  # in place: no new full-resolution planes
    q = q.clamp_(p.amin(dim=(1, 2, 3), keepdim=True), p.amax(dim=(1, 2, 3), keepdim=True))
    return q.mul_(scale).reciprocal_()


def render_video(
    frames: Iterable[Frame],
    depth_at: Callable[[Frame], np.ndarray],
    focus_m: np.ndarray,
    f_number: np.ndarray,
    lens: Lens,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    batch_size: int = 4,
    config: RenderConfig = DEFAULT_CONFIG,
    depth_upsample: DepthUpsample = "guided",
    progress: bool | None = None,
    renderer: str | Renderer = "layered",
    transfer: str = "srgb",
    workers: int = 1,
) -> Iterator[np.ndarray]:
    """Render frames in order, ``batch_size`` at a time (memory bounded by ``workers + 1`` batches).

    ``depth_at(frame)`` gives float32 (h, w) metres at any resolution (upsampled to the frame,
    edge-aware with ``depth_upsample="guided"``); ``focus_m`` and ``f_number`` are (T,) per frame,
    indexed by ``Frame.index``. Yields (H, W, 3) RGB of the frames' dtype (uint8, or uint16 for
    deep sources) in the frames' ``transfer`` ("srgb", "pq", "hlg"; rendering is in the linear
    light of that curve). ``progress=None`` shows a bar on a tty.
    ``renderer``: a :data:`RENDERERS` name or a :class:`Renderer` object.

    ``workers`` > 1 renders that many batches at once in threads (torch releases the GIL inside its
    operators), while the caller goes on with the frames already yielded (encoding them, say). On a
    CPU the renderer's operators are too small for torch's intra-op threads to keep two cores busy
    (one batch at a time used 1.2 of 2 cores), two batches at once keep both busy. Frames, their
    depth and the order of the output are the serial path's: each batch is rendered on its own, so
    the output is identical for any ``workers``. Frames are read and ``depth_at`` is called on the
    calling thread only.
    """
    if workers < 1:
        raise ValueError(f"render_video: workers must be >= 1, got {workers}")
    core = RENDERERS.get(renderer)
    focus_m = check_array("focus_m", focus_m, (None,), np.float32)
    f_number = check_array("f_number", f_number, (len(focus_m),), np.float32)
    check_focus(focus_m, f_number, lens)
    dev = torch.device("cpu" if device is None else device)
    dt = default_dtype(dev) if dtype is None else dtype
    bar = tqdm(total=len(focus_m), unit="frame", disable=True if progress is False else None)

    def render(batch: list[Frame], depths: list[np.ndarray]) -> list[np.ndarray]:
        return _render_frames(
            batch, depths, focus_m, f_number, lens, config, dev, dt, depth_upsample, core, transfer
        )

    prepared = ((b, _batch_depths(b, depth_at, len(focus_m))) for b in batches(frames, batch_size))
    try:
        if workers == 1:
            for batch, depths in prepared:
                yield from render(batch, depths)
                bar.update(len(batch))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="render") as pool:
            pending: deque[Future[list[np.ndarray]]] = deque()
            try:
                for batch, depths in prepared:
                    pending.append(pool.submit(render, batch, depths))
                    if len(pending) > workers:  # one batch queued behind the ones being rendered
                        yield from _finished(pending.popleft(), bar)
                while pending:
                    yield from _finished(pending.popleft(), bar)
            finally:  # the consumer stopped early or a batch failed: drop what was not started
                for fut in pending:
                    fut.cancel()
    finally:
        bar.close()


def _finished(fut: Future[list[np.ndarray]], bar: tqdm) -> list[np.ndarray]:
    out = fut.result()
    bar.update(len(out))
    return out


def _batch_depths(
    batch: list[Frame], depth_at: Callable[[Frame], np.ndarray], n_frames: int
) -> list[np.ndarray]:
    """The checked depth of every frame of a batch (one resolution), read on the calling thread."""
    h, w = batch[0].rgb.shape[:2]
    idx = np.array([fr.index for fr in batch])
    if np.any(idx < 0) or np.any(idx >= n_frames):
        raise ValueError(f"render_video: frame index out of range 0..{n_frames - 1}: {idx.tolist()}")
    depths = []
    for fr in batch:
        if fr.rgb.shape[:2] != (h, w):
            raise ValueError(f"render_video: frame {fr.index} is {fr.rgb.shape[:2]}, expected {(h, w)}")
        d = check_array(f"depth_at(frame {fr.index})", depth_at(fr), (None, None), np.float32)
        check_depth(f"depth_at(frame {fr.index})", d)
        depths.append(d)
    if len({d.shape for d in depths}) != 1:
        shapes = [d.shape for d in depths]
        raise ValueError(f"depth_at: expected one depth resolution per batch, got {shapes}")
    return depths


def _render_frames(
    batch: list[Frame],
    depths: list[np.ndarray],
    focus_m: np.ndarray,
    f_number: np.ndarray,
    lens: Lens,
    config: RenderConfig,
    device: torch.device,
    dtype: torch.dtype,
    depth_upsample: DepthUpsample,
    renderer: Renderer,
    transfer: str = "srgb",
) -> list[np.ndarray]:
    h, w = batch[0].rgb.shape[:2]
    idx = np.array([fr.index for fr in batch])
    depth_lo = upload([d[None] for d in depths], device)
    rgb = upload([fr.rgb for fr in batch], device)
    guide = luma_u8(rgb) if depth_upsample == "guided" and depths[0].shape != (h, w) else None
    depth = upsample_depth(depth_lo, (h, w), guide, method=depth_upsample)
    out = render_batch_u8(
        rgb, depth, focus_m[idx], f_number[idx], lens, config, device, dtype, renderer, transfer
    )
    return list(out)
