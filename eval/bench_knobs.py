"""What each speed knob costs and what it changes: plan scores on the graded clips, agreement with
the slow path, CPU time.

For every variant (the slow path, the defaults, and one knob moved at a time) this plans each
graded clip of a folder built by ``eval/build_dataset.py`` (``autofocuspull eval --dataset``'s
runner and metrics) and prints, per variant: the mean of the plan metrics against the grades, the
plan's agreement with the slow path's plan of the same clip (same subject in focus, fraction of
frames; focus distance error in dioptres, median and 95th percentile), and the CPU seconds it took
(``resource.getrusage``, this process). Variants share one cache folder, so a variant that only
changes depth reuses the perception and cues of the first run; CPU seconds are what that variant
computed itself (run order: slow first).

Depth: ``--depth-model DIR`` (e.g. the real-size random Depth Anything V2 Small written by
``eval/bench_e2e.py``), or ``--depth-size tiny|small`` to write a random one. Random weights make
the depth *values* meaningless, so the agreement figures measure how far the fast path departs
from the slow path for the same network, which is what a speed-up must keep small.

    python eval/bench_knobs.py /tmp/afp-eval --depth-size small
    python eval/bench_knobs.py /tmp/afp-eval --variants slow,default,k16,s266   # a subset
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

from autofocuspull.evaluate.compare import plan_agreement

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

SLOW = {
    "depth.keyframe_interval": 1,
    "depth.input_size": 518,
    "perception.perceiver.mask_every": 3,
}
# name -> config overrides (dotted keys, as for ``--set``) applied to the defaults, one knob at a time.
VARIANTS: dict[str, dict] = {
    "slow": SLOW,
    "default": {},
    "k4": {"depth.keyframe_interval": 4},
    "k16": {"depth.keyframe_interval": 16},
    "s266": {"depth.input_size": 266},
    "s392": {"depth.input_size": 392},
    "s518": {"depth.input_size": 518},
    "masks3": {"perception.perceiver.mask_every": 3},
    "masks12": {"perception.perceiver.mask_every": 12},
}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_variant(
    dataset: Path, base, overrides: dict, name: str = "", plans_dir: Path | None = None
) -> tuple[dict, dict, float]:
    """(eval result, {stem: plan}, CPU seconds) of one variant over the dataset."""
    from autofocuspull import evaluate, pipeline
    from autofocuspull.config import apply_overrides

    cfg = apply_overrides(base, overrides)
    plans: dict = {}

    def plan_fn(video: Path):
        plan = pipeline.plan_clip(video, cfg)[0]
        plans[video.stem] = plan
        if plans_dir is not None:
            from autofocuspull.plan import save_plan

            save_plan(plan, plans_dir / f"{name}.{video.stem}.plan.json")
        return plan

    t0 = cpu_s()
    result = evaluate.evaluate_dataset(dataset, evaluate.confined_to(dataset, plan_fn), "default")
    return result, plans, cpu_s() - t0


def render_knobs(ratios: tuple[float, ...] = (1.5, 2.0, 2.5, 3.0)) -> list[dict]:
    """Renderer layer spacing (``RenderConfig.layer_ratio``: fewer layers as it grows): layers per
    side at the fidelity scenes' largest blur, fidelity against the physical reference
    (``eval/bench_render_fidelity.py``) and CPU seconds per frame (``render_batch_u8``, the
    benchmark's worst-case frame whose depth spans every layer) at 640x360 and 1080p."""
    import time

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import bench_render_fidelity as fid
    import bench_render_speed as spd

    from autofocuspull.render.api import render_batch_u8
    from autofocuspull.render.layered import layer_radii_px

    base = fid.CONFIG
    rows = []
    for ratio in ratios:
        fid.CONFIG = dataclasses.replace(base, layer_ratio=ratio)
        got = [r for r in fid.run(480, 320, None) if r["renderer"] == "layered"]
        row = {
            "layer_ratio": ratio,
            "layers_per_side": len(layer_radii_px(base.max_coc_frac * 480 / 2, fid.CONFIG)),
            **{m: float(np.mean([r[m] for r in got])) for m in ("psnr_db", "ssim", "edge_rmse")},
        }
        cfg = dataclasses.replace(spd.RenderConfig(), layer_ratio=ratio)
        for name, (h, w) in (("640x360", (360, 640)), ("1080p", (1080, 1920))):
            img, depth = spd.make_frame(h, w)
            d = torch.from_numpy(depth)[None, None]
            args = ([img], d, np.array([2.0], np.float32), np.array([1.4], np.float32), spd.LENS, cfg)
            render_batch_u8(*args, torch.device("cpu"), torch.float32)  # warm-up
            t0, n = time.process_time(), 3
            for _ in range(n):
                render_batch_u8(*args, torch.device("cpu"), torch.float32)
            row[f"cpu_s_{name}"] = (time.process_time() - t0) / n
        rows.append(row)
        print(
            f"| {ratio:g} | {row['layers_per_side']} | {row['psnr_db']:.2f} | {row['ssim']:.4f} | "
            f"{row['edge_rmse']:.2f} | {row['cpu_s_640x360']:.3f} | {row['cpu_s_1080p']:.3f} |",
            flush=True,
        )
    fid.CONFIG = base
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="folder from eval/build_dataset.py")
    ap.add_argument("--depth-model", default=None, help="depth model folder (default: write a random one)")
    ap.add_argument("--depth-size", default="small", choices=["tiny", "small"], help="random model size")
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: a fresh temp dir)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plans-dir", type=Path, default=None, help="also save every plan here")
    ap.add_argument("--render", action="store_true", help="only the renderer's layer-spacing knob")
    args = ap.parse_args(argv)
    if args.render:
        print("| layer_ratio | layers per side | PSNR dB | SSIM | edge RMSE | CPU s/frame 640x360 | 1080p |")
        print("|---|---|---|---|---|---|---|")
        rows = render_knobs()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return 0
    from autofocuspull.config import RackConfig, apply_overrides
    from autofocuspull.core.heap import configure_heap

    configure_heap()
    work = Path(tempfile.mkdtemp(prefix="afp-knobs-"))
    cache = args.cache or work / "cache"
    models = cache / "models"
    models.mkdir(parents=True, exist_ok=True)
    for f in (SHARED / "models").iterdir():
        if not (models / f.name).exists():
            (models / f.name).symlink_to(f)
    os.environ["AUTOFOCUSPULL_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.plans_dir is not None:
        args.plans_dir.mkdir(parents=True, exist_ok=True)
    depth = args.depth_model
    if depth is None:
        from autofocuspull.perception.depth.random_model import save_random_depth_anything

        depth = str(work / f"depth-{args.depth_size}")
        save_random_depth_anything(depth, size=args.depth_size)
    base = apply_overrides(RackConfig(), {"depth.model": depth, "run.cache_dir": str(cache)})
    names = args.variants.split(",")
    if names[0] != "slow":
        names = ["slow", *[n for n in names if n != "slow"]]
    rows, slow_plans = {}, {}
    print(
        "| variant | CPU s | target_accuracy | pull_f1 | onset_mae_s | pulls/min | same subject "
        "| dioptre err med / p95 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        result, plans, cpu = run_variant(args.dataset, base, VARIANTS[name], name, args.plans_dir)
        if name == "slow":
            slow_plans = plans
        agree = [plan_agreement(plans[s], slow_plans[s]) for s in plans if s in slow_plans]
        m = result["mean"]
        row = {
            "cpu_s": cpu,
            "mean": m,
            "clips": result["clips"],
            "same_subject": float(np.mean([a["same_subject"] for a in agree])),
            "dioptre_med": float(np.mean([a["dioptre_median"] for a in agree])),
            "dioptre_p95": float(np.max([a["dioptre_p95"] for a in agree])),
        }
        rows[name] = row
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        print(
            f"| {name} | {cpu:.0f} | {f(m['target_accuracy'])} | {f(m['pull_f1'])} | {f(m['onset_mae_s'])} | "
            f"{f(m['pulls_per_min'])} | {row['same_subject']:.3f} | {row['dioptre_med']:.4f} / "
            f"{row['dioptre_p95']:.4f} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
