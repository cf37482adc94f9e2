"""Seconds per frame of each perception stage on CPU, as ratios to the depth network's time.

Stages: cut detection, YuNet faces, CenterFace faces (fallback), YOLOX-nano objects, DeepLabv3
person mask, ByteTrack update, and Depth Anything V2 Small (the real-size architecture with random
weights: the timing does not depend on the weights). Each stage runs on a real frame (from
``tears_of_steel_10s.mp4``, the first frame with a face) resized to 640x360 and 1920x1080.
Prints one table per resolution (median seconds per frame over ``--repeats`` runs after one
warm-up, and the ratio to depth).

Usage: ``python eval/bench_perception.py [--repeats 5] [--threads 2] [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESOLUTIONS: dict[str, tuple[int, int]] = {"640x360": (640, 360), "1920x1080": (1920, 1080)}


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def source_frame(footage: Path) -> np.ndarray:
    """A real RGB frame with a person in it (frame 30 of tears_of_steel_10s.mp4)."""
    from autofocuspull.io import iter_frames

    for f in iter_frames(footage / "tears_of_steel_10s.mp4"):
        if f.index == 30:
            return f.rgb
    raise RuntimeError("tears_of_steel_10s.mp4 has fewer than 31 frames")


def build_stages(models: Path, threads: int, depth_dir: Path) -> dict[str, Callable[[np.ndarray], object]]:
    """Name -> callable(rgb) for every stage (depth included), all on CPU."""
    import torch

    from autofocuspull.core.types import Frame
    from autofocuspull.perception.cuts import CutDetector
    from autofocuspull.perception.depth import build_depth_estimator
    from autofocuspull.perception.detect import (
        build_face_detector,
        build_object_detector,
        build_person_segmenter,
    )
    from autofocuspull.perception.reid import appearance
    from autofocuspull.perception.salient import salient_proposals, small_lab
    from autofocuspull.perception.track import ByteTracker

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    yunet = build_face_detector("yunet", models / "yunet_n_320_320.onnx")
    centerface = build_face_detector("centerface")
    yolox = build_object_detector(model_path=models / "yolox_nano.onnx", intra_op_threads=threads)
    deeplab = build_person_segmenter(model_path=models / "deeplab_v3.onnx", intra_op_threads=threads)
    depth = build_depth_estimator(str(depth_dir), device="cpu", dtype=torch.float32, input_size=518)
    cuts = CutDetector(24.0)
    counter = iter(range(10**9))

    def cut_stage(rgb: np.ndarray) -> object:
        return cuts.update(Frame(next(counter), 0.0, rgb))

    def track_stage(rgb: np.ndarray) -> object:
        dets = yolox_cache.setdefault(rgb.shape, yolox(rgb))
        tracker = ByteTracker(24.0)
        for k in range(10):  # ten updates on the same detections: per-update time is /10 below
            tracker.update(dets, k)
        return None

    def salient_prev(rgb: np.ndarray) -> np.ndarray:  # the previous frame's grey: the same frame, shifted
        return small_lab(np.roll(rgb, 4, axis=1), 64)

    def five_boxes(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        return np.array([[w * k / 6, h / 4, w * (k + 1) / 6, 3 * h / 4] for k in range(5)], np.float32)

    yolox_cache: dict[tuple[int, ...], object] = {}
    return {
        "cuts (PySceneDetect adaptive + vetoes)": cut_stage,
        "salient proposals": lambda rgb: salient_proposals(rgb, salient_prev(rgb), np.zeros((0, 4))),
        "appearance (5 boxes)": lambda rgb: appearance(rgb, five_boxes(rgb)),
        "faces: YuNet": yunet,
        "faces: CenterFace": centerface,
        "objects: YOLOX-nano": yolox,
        "person mask: DeepLabv3": deeplab,
        "tracking: ByteTrack x10": track_stage,
        "depth: DA-V2 Small 518": lambda rgb: depth.predict([rgb]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args(argv)
    models, footage = args.shared / "models", args.shared / "footage"
    if not (models / "yolox_nano.onnx").is_file() or not footage.is_dir():
        print(f"{args.shared}: needs models/ and footage/ (see ../shared/README)", file=sys.stderr)
        return 2
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    frame = source_frame(footage)
    with tempfile.TemporaryDirectory() as tmp:
        save_random_depth_anything(tmp, size="small")
        stages = build_stages(models, args.threads, Path(tmp))
        for res, (w, h) in RESOLUTIONS.items():
            rgb = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            secs = {n: median_seconds(lambda fn=fn, x=rgb: fn(x), args.repeats) for n, fn in stages.items()}
            secs["tracking: ByteTrack x10"] /= 10.0
            ref = secs["depth: DA-V2 Small 518"]
            print(f"\n{res}, CPU, {args.threads} threads, median of {args.repeats}")
            print(f"{'stage':30s} {'s/frame':>10s} {'x depth':>9s}")
            for n, s in secs.items():
                print(f"{n.replace(' x10', ''):30s} {s:10.4f} {s / ref:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
