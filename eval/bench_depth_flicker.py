"""Flicker of static regions in per-frame depth: raw vs per-frame min-max vs aligned vs keyframed.

For each clip (real footage from ``../shared/footage``) the first ``--frames`` frames go through a
depth network; the flicker figure (:func:`autofocuspull.perception.depth.flicker_figure`) is the
median, over consecutive frame pairs, of the median |change| of *static* pixels (blurred grey level
changed by < 3 of 255) divided by the frame's 10-90 % depth range; pairs across a shot cut are
left out. Variants:

* ``raw``: the network's relative inverse depth as it comes;
* ``minmax``: each frame min-max normalised (what many tools do);
* ``aligned``: :func:`align_depth_sequence` (Huber/Tukey scale-shift fit to a running reference on
  static pixels, reset at cuts);
* ``key k=K``: :func:`run_depth` with the network on every K-th frame (and on large motion),
  flow propagation in between, aligned; also its share of frames that ran the network;
* ``jit raw`` / ``jit aligned``: the raw maps with a seeded per-frame affine jitter (gain
  1 + N(0, ``--jitter``), offset N(0, ``--jitter`` / 2) x the clip's median value), the kind of
  scale/shift wobble an affine-invariant network shows between frames, before and after
  alignment. (Min-max normalisation is affine invariant, so its figure is the ``minmax`` one.)

Without ``--depth-model`` the network is Depth Anything V2 Small's architecture with RANDOM
weights (no real depth weights are reachable here): then the figures show what the alignment does
to an unstable per-frame output, not the real network's flicker. With ``--depth-model DIR`` (or a
hub id on a machine that has it) the real model is measured.

Usage: ``python eval/bench_depth_flicker.py [--frames 48] [--input-size 266] [--depth-model DIR]
[--clips carphone bikes_real_dof tears_of_steel_10s] [--keyframe-interval 4] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autofocuspull.core.types import Frame  # noqa: E402
from autofocuspull.io import iter_frames  # noqa: E402
from autofocuspull.perception.depth import (  # noqa: E402
    DepthRunConfig,
    align_depth_sequence,
    build_depth_estimator,
    flicker_figure,
    minmax_normalise,
    run_depth,
    static_mask,
)
from autofocuspull.perception.depth.random_model import save_random_depth_anything  # noqa: E402
from autofocuspull.perception.depth.run import mean_abs_change  # noqa: E402

CLIPS = ("carphone", "bikes_real_dof", "tears_of_steel_10s")
STATIC_THRESHOLD = 3.0
CUT_THRESHOLD = 30.0


class LookupEstimator:
    """Serves precomputed maps for known frames (so the keyframed run costs no second inference)."""

    kind = "relative_inverse"

    def __init__(self, frames: list[Frame], raw: np.ndarray, source: str) -> None:
        self.by_id = {id(f.rgb): raw[i] for i, f in enumerate(frames)}
        self.source = source
        self.frames = 0

    def predict(self, images):
        self.frames += len(images)
        return np.stack([self.by_id[id(im)] for im in images])


def decode(path: Path, n: int, max_side: int) -> list[Frame]:
    out = []
    for f in iter_frames(path, max_side=max_side):
        if f.index >= n:
            break
        out.append(f)
    return out


def greys_at(frames: list[Frame], hw: tuple[int, int]) -> list[np.ndarray]:
    return [
        cv2.resize(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        for f in frames
    ]


def static_masks(greys: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """Static masks per frame (vs the previous frame) and the frames that start a new shot."""
    masks, cuts = [np.zeros_like(greys[0], bool)], []
    for t in range(1, len(greys)):
        if mean_abs_change(greys[t - 1], greys[t]) > CUT_THRESHOLD:
            cuts.append(t)
            masks.append(np.zeros_like(greys[t], bool))
        else:
            masks.append(static_mask(greys[t - 1], greys[t], STATIC_THRESHOLD))
    return masks, cuts


def affine_jitter(raw: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """(T, h, w) maps with a per-frame gain 1 + N(0, amount) and offset N(0, amount / 2) x median."""
    rng = np.random.default_rng(seed)
    gain = np.clip(1.0 + rng.normal(0.0, amount, len(raw)), 0.2, None)
    offset = rng.normal(0.0, amount / 2.0, len(raw)) * float(np.median(raw))
    return (raw * gain[:, None, None] + offset[:, None, None]).astype(np.float32)


def bench_clip(path: Path, est, args) -> dict[str, float | str]:
    frames = decode(path, args.frames, args.max_side)
    t0 = time.perf_counter()
    raw = est.predict([f.rgb for f in frames])
    net_s = (time.perf_counter() - t0) / len(frames)
    greys = greys_at(frames, raw.shape[1:])
    masks, cuts = static_masks(greys)
    aligned, _, _ = align_depth_sequence(raw, np.stack(masks), reset_at=cuts)
    jittered = affine_jitter(raw, args.jitter, seed=0)
    jit_aligned, _, _ = align_depth_sequence(jittered, np.stack(masks), reset_at=cuts)
    cfg = DepthRunConfig(keyframe_interval=args.keyframe_interval, cut_threshold=CUT_THRESHOLD)
    lookup = LookupEstimator(frames, raw, est.source)
    t0 = time.perf_counter()
    keyed = [d.values for d in run_depth(frames, lookup, config=cfg, cuts=cuts)]
    run_s = (time.perf_counter() - t0) / len(frames)
    return {
        "clip": path.stem,
        "frames": len(frames),
        "map": f"{raw.shape[1]}x{raw.shape[2]}",
        "static": float(np.mean([m.mean() for m in masks[1:]])),
        "cuts": len(cuts),
        "raw": flicker_figure(list(raw), masks),
        "minmax": flicker_figure([minmax_normalise(r) for r in raw], masks),
        "aligned": flicker_figure(list(aligned), masks),
        "keyed": flicker_figure(keyed, masks),
        "jit_raw": flicker_figure(list(jittered), masks),
        "jit_aligned": flicker_figure(list(jit_aligned), masks),
        "key_share": lookup.frames / len(frames),
        "net_s": net_s,
        "run_s": run_s,
    }


def print_table(rows: list[dict[str, float | str]], k: int, source: str) -> None:
    print(f"\ndepth source: {source}")
    print("flicker figure = median |delta| of static pixels / 10-90 % depth range (lower is steadier)\n")
    head = (
        f"{'clip':<20}{'frames':>7}{'map':>9}{'static':>8}{'cuts':>6}{'raw':>9}{'minmax':>9}"
        f"{'aligned':>9}{f'key k={k}':>9}{'jit raw':>9}{'jit algn':>9}{'net share':>10}{'net s/f':>9}"
        f"{'other s/f':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['clip']:<20}{r['frames']:>7}{r['map']:>9}{r['static']:>8.2f}{r['cuts']:>6}{r['raw']:>9.4f}"
            f"{r['minmax']:>9.4f}{r['aligned']:>9.4f}{r['keyed']:>9.4f}{r['jit_raw']:>9.4f}"
            f"{r['jit_aligned']:>9.4f}{r['key_share']:>10.2f}"
            f"{r['net_s']:>9.3f}{r['run_s']:>10.3f}"
        )
    print(
        "\nstatic: mean share of static pixels; net share: frames that ran the network in the keyframed run;"
        "\nnet s/f: network seconds per frame; other s/f: keyframing + flow + alignment seconds per frame."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", nargs="+", default=list(CLIPS))
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--input-size", type=int, default=266)
    p.add_argument("--max-side", type=int, default=640)
    p.add_argument("--keyframe-interval", type=int, default=4)
    p.add_argument("--jitter", type=float, default=0.1, help="std of the simulated per-frame gain")
    p.add_argument(
        "--depth-model", default=None, help="model dir or hub id (default: random-weight V2 Small)"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    footage = args.shared / "footage"
    if not footage.is_dir():
        print(f"{footage} absent: no real footage to measure", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        if args.depth_model is None:
            save_random_depth_anything(tmp, size="small", seed=0)
            source = "Depth Anything V2 Small architecture with RANDOM weights (no real weights here)"
            est = build_depth_estimator(tmp, device=args.device, input_size=args.input_size)
        else:
            est = build_depth_estimator(args.depth_model, device=args.device, input_size=args.input_size)
            source = args.depth_model
        rows = [bench_clip(footage / f"{c}.mp4", est, args) for c in args.clips]
    print_table(rows, args.keyframe_interval, f"{source}, input short side {args.input_size} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
