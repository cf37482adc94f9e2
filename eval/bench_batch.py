"""Batch throughput: frames per second of ``autofocuspull batch`` with 1 and 2 Ray workers and the
local process pool, on the same short real clips, each run from an empty analysis cache.

    python eval/bench_batch.py [--clips 4] [--frames 48] [--max-side 640] [--json OUT.json]

Prints a table (wall frames/s, and the CPU seconds per frame of each stage measured inside the
workers), ``uptime`` before each run (the development machines are shared: a loaded machine divides
every wall-clock figure), and, with ``--depth``, the CPU cost per frame of the real-size Depth
Anything V2 Small at 518 px (random weights: no weights are reachable here), the one stage the
heuristic depth of these runs skips. eval/README.md turns the figures into a hardware estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from batch_helpers import trim_clip  # noqa: E402

from autofocuspull.batch import BatchConfig, LocalPool, RayExecutor, run_batch  # noqa: E402
from autofocuspull.core.hub import MODEL_CARDS  # noqa: E402
from autofocuspull.io import EncodeConfig  # noqa: E402
from autofocuspull.pipeline import RackConfig  # noqa: E402

SHARED = REPO.parent / "shared"
SOURCES = [  # (clip, start s): dialogue/cuts, product with audio, people walking, street
    ("tears_of_steel_10s.mp4", 0.5),
    ("box_in_hand.mp4", 1.0),
    ("people_one_by_one.mp4", 20.0),
    ("bikes_real_dof.mp4", 0.0),
]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def make_clips(folder: Path, n: int, frames: int, max_side: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        name, start = SOURCES[k % len(SOURCES)]
        trim_clip(
            SHARED / "footage" / name, folder / f"{k:02d}_{Path(name).stem}.mp4", start, frames, max_side
        )
    return folder


def link_models(cache: Path) -> None:
    models = cache / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("yunet", "yolox-nano", "deeplabv3", "light-asd", "light-asd-head"):
        target = models / MODEL_CARDS[name].filename
        if not target.exists():
            target.symlink_to(SHARED / "models" / MODEL_CARDS[name].filename)


def per_frame(result, stage: str) -> float:
    cpu = sum(
        c.get("stage_cpu_s", {}).get(stage, 0.0) for c in result.clips.values() if c["status"] == "done"
    )
    return cpu / max(result.frames, 1)


def run_mode(name: str, executor, clips: Path, work: Path, cfg: RackConfig) -> dict:
    load = uptime()
    t0 = time.perf_counter()
    result = run_batch(clips, work / name, cfg, BatchConfig(), executor, show_progress=False)
    wall = time.perf_counter() - t0
    row = {
        "mode": name,
        "executor": result.executor,
        "uptime_before": load,
        "clips_done": len(result.done),
        "failed": len(result.failed),
        "frames": result.frames,
        "wall_s": round(wall, 2),
        "frames_per_s": round(result.frames / wall, 3),
        "plan_cpu_s_per_frame": round(per_frame(result, "plan"), 4),
        "render_cpu_s_per_frame": round(per_frame(result, "render"), 4),
        "finish_cpu_s_per_frame": round(per_frame(result, "finish"), 5),
        "workers_seen": len(result.summary()["workers"]),
    }
    print(json.dumps(row), flush=True)
    return row


def depth_cpu_s_per_frame(frames: int = 6) -> float:
    """Seconds per frame of the real-size Depth Anything V2 Small (random weights) on 1 CPU thread."""
    import numpy as np
    import torch

    from autofocuspull.perception.depth.estimator import build_depth_estimator
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        save_random_depth_anything(d, size="small")
        est = build_depth_estimator(d, device=torch.device("cpu"), dtype=torch.float32, input_size=518)
        img = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
        est.predict([img])  # warm-up
        t0 = time.process_time()
        for _ in range(frames):
            est.predict([img])
        return (time.process_time() - t0) / frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--modes", default="ray-1,ray-2,pool-2")
    ap.add_argument("--depth", action="store_true", help="also time the depth model on the CPU")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ["AUTOFOCUSPULL_CACHE"] = str(work / "cache")
    os.environ.setdefault("AUTOFOCUSPULL_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["AUTOFOCUSPULL_PROGRESS"] = "0"
    link_models(work / "cache")
    clips = make_clips(work / "clips", args.clips, args.frames, args.max_side)
    cfg = RackConfig(encode=EncodeConfig(preset="medium"))
    rows = []
    modes = args.modes.split(",")
    ray_ex = None
    for mode in modes:
        kind, n = mode.split("-")
        if kind == "ray":
            ray_ex = ray_ex or RayExecutor(None, num_cpus=os.cpu_count())
            ray_ex.workers = int(n)
            rows.append(run_mode(mode, ray_ex, clips, work, cfg))
        else:
            with LocalPool(int(n)) as pool:
                rows.append(run_mode(mode, pool, clips, work, cfg))
    if ray_ex is not None:
        ray_ex.close()
    out = {"rows": rows, "clips": args.clips, "frames_per_clip": args.frames, "max_side": args.max_side,
           "cpus": os.cpu_count(), "uptime_after": uptime()}  # fmt: skip
    if args.depth:
        out["depth_small_518_cpu_s_per_frame_1thread"] = round(depth_cpu_s_per_frame(), 3)
    print("| mode | frames | wall s | frames/s | plan CPU s/frame | render CPU s/frame | load before |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        load = r["uptime_before"].split("load average:")[-1].strip()
        print(f"| {r['mode']} | {r['frames']} | {r['wall_s']} | {r['frames_per_s']} | "
              f"{r['plan_cpu_s_per_frame']} | {r['render_cpu_s_per_frame']} | {load} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}))


if __name__ == "__main__":
    main()
