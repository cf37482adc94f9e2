"""Speed of the depth-of-field renderer: seconds (CPU) or milliseconds (GPU) per frame.

Times the whole numpy-in / numpy-out path (:func:`autofocuspull.render.api.render_batch_u8`:
upload, sRGB decode, render, encode, download; depth given at full resolution) and the video path
(:func:`autofocuspull.render.render_video`: depth at a quarter of the resolution, guided upsampling
on the device), on a worst-case frame whose depth spans every layer in front of and behind focus.
A baseline measured in the same process (``cv2.GaussianBlur`` of the frame, sigma 5 px, on the
CPU) makes CPU figures comparable across loaded machines.

    python eval/bench_render_speed.py --device cpu --threads 2
    python eval/bench_render_speed.py --device cuda --dtype float16 --batch 8

On a shared (oversubscribed) CPU, torch's OpenMP threads spin while waiting for each other and
several threads run 5x slower than one; run with ``OMP_WAIT_POLICY=PASSIVE`` in the environment
(it must be set before torch starts) to measure what two cores give. ``--torch-kernels`` times
the CPU with torch's own pooling / resizing / filtering instead of OpenCV's, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from autofocuspull.core.types import Frame, Lens
from autofocuspull.render import RenderConfig, layered, render_video
from autofocuspull.render.api import render_batch_u8

LENS = Lens(focal_length_mm=50.0, f_number=1.4)
SIZES = {"640x360": (360, 640), "1080p": (1080, 1920), "4K": (2160, 3840)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def make_frame(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (h, w, 3) textured frame and float32 (h, w) depth: a far-to-near ramp (every layer),
    a subject at the focus distance and a near foreground bar."""
    rng = np.random.default_rng(seed)
    small = (rng.random((h // 8 + 1, w // 8 + 1, 3)) * 255).astype(np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = cv2.add(img, (rng.random((h, w, 3)) * 40).astype(np.uint8))
    depth = np.tile(np.geomspace(0.4, 30.0, w, dtype=np.float32), (h, 1))
    depth[h // 4 : h, w // 3 : w // 2] = 2.0  # subject at focus
    depth[:, w // 10 : w // 7] = 0.6  # foreground
    return img, depth


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_render(
    h: int, w: int, device: torch.device, dtype: torch.dtype, batch: int, repeats: int, config: RenderConfig
) -> float:
    """Best seconds per frame of :func:`render_batch_u8` with full-resolution float32 depth."""
    img, depth = make_frame(h, w)
    depth_t = torch.from_numpy(depth)[None, None].expand(batch, 1, h, w).contiguous()
    focus = np.full(batch, 2.0, np.float32)
    fnum = np.full(batch, LENS.f_number, np.float32)
    best = float("inf")
    for i in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        render_batch_u8([img] * batch, depth_t, focus, fnum, LENS, config, device, dtype)
        _sync(device)
        if i:
            best = min(best, (time.perf_counter() - t0) / batch)
    return best


def time_video(
    h: int, w: int, device: torch.device, dtype: torch.dtype, batch: int, repeats: int, config: RenderConfig
) -> float:
    """Seconds per frame through :func:`render_video` (uint8 frames and quarter-resolution depth
    in, guided depth upsampling on the device, uint8 out), first batch excluded as warm-up."""
    img, depth = make_frame(h, w)
    depth_lo = cv2.resize(depth, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    n = batch * (max(repeats, 1) + 1)
    frames = (Frame(i, i / 25, img) for i in range(n))
    focus = np.full(n, 2.0, np.float32)
    fnum = np.full(n, LENS.f_number, np.float32)
    stream = render_video(
        frames, lambda fr: depth_lo, focus, fnum, LENS, device=device, dtype=dtype,
        batch_size=batch, config=config, progress=False,
    )  # fmt: skip
    t0 = 0.0
    for i, _ in enumerate(stream):
        if i == batch - 1:
            _sync(device)
            t0 = time.perf_counter()
    _sync(device)
    return (time.perf_counter() - t0) / (n - batch)


def time_gaussian_baseline(h: int, w: int, repeats: int) -> float:
    """Best seconds of cv2.GaussianBlur (sigma 5 px) of one uint8 frame."""
    img, _ = make_frame(h, w)
    best = float("inf")
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        cv2.GaussianBlur(img, (0, 0), 5.0)
        best = min(best, time.perf_counter() - t0)
    return best


def print_profile(
    h: int, w: int, device: torch.device, dtype: torch.dtype, batch: int, config: RenderConfig
) -> None:
    """Top operators of one batch by self time on the device (CUDA) or the CPU."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    time_render(h, w, device, dtype, batch, 0, config)
    with profile(activities=acts) as prof:
        time_render(h, w, device, dtype, batch, 0, config)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=14, max_name_column_width=60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, choices=sorted(DTYPES), help="default: fp32 CPU, fp16 CUDA")
    ap.add_argument("--sizes", default="640x360,1080p,4K", help=f"comma list of {sorted(SIZES)}")
    ap.add_argument("--batch", type=int, default=None, help="frames per call (default: 1 CPU, 8 CUDA)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch / OpenCV CPU threads")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's top ops per size")
    ap.add_argument("--torch-kernels", action="store_true", help="CPU: torch ops instead of OpenCV's")
    args = ap.parse_args()
    if args.torch_kernels:
        layered.USE_OPENCV_ON_CPU = False
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype] if args.dtype else (torch.float16 if device.type == "cuda" else torch.float32)
    batch = args.batch or (8 if device.type == "cuda" else 1)
    config = RenderConfig()
    rows = []
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    wait = os.environ.get("OMP_WAIT_POLICY", "default")
    kernels = "torch" if args.torch_kernels else "OpenCV (CPU float32)"
    print(f"device: {name}, dtype {str(dtype).removeprefix('torch.')}, batch {batch}, kernels {kernels}, "
          f"OMP_WAIT_POLICY {wait}")  # fmt: skip
    print("| size | frame s | frame ms | video-path ms | cv2.GaussianBlur ms | frame / Gaussian |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        h, w = SIZES[size]
        spf = time_render(h, w, device, dtype, batch, args.repeats, config)
        vid = time_video(h, w, device, dtype, batch, args.repeats, config)
        base = time_gaussian_baseline(h, w, args.repeats)
        if args.profile:
            print_profile(h, w, device, dtype, batch, config)
        rows.append(
            {"size": size, "s_per_frame": spf, "video_s_per_frame": vid, "gaussian_s": base,
             "device": name, "dtype": str(dtype), "batch": batch}
        )  # fmt: skip
        print(
            f"| {size} | {spf:.4f} | {spf * 1000:.2f} | {vid * 1000:.2f} | {base * 1000:.2f} | "
            f"{spf / base:.1f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
