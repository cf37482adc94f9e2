"""End-to-end speed of ``rack``: per stage, on real footage, with the real-size depth network.

A clip of ``--seconds`` (default 3; the issue's figure is 10) is cut from a real interview with
speech (``../shared/footage/dev/talking_head_guardian_interview.mp4``, 1280x720) and scaled to each
``--sizes`` entry (640x360, 1080p, 4K: down- or upscaled with area / bicubic filtering, audio
kept) in a temp folder. Depth Anything V2 Small is built from its config with random weights,
``save_pretrained`` to a folder and loaded through ``--depth-model DIR`` exactly as a downloaded
checkpoint (the architecture fixes the cost; the weights don't). Every run starts from a cold
cache (a fresh cache folder) and the shared detector weights.

For each size it runs, in this process and one after the other:

* ``ours``: ``autofocuspull rack`` with the default settings;
* ``naive`` (``--naive``): the pipeline a user would write first: the depth network on every frame
  at its full inference size (518 px), one frame per forward pass, the per-pixel Gaussian blur by
  circle of confusion (:func:`autofocuspull.render.render_naive_torch`), no caching, faces detected
  on every frame and person masks on every 3rd (the project's settings before the speed work).
  Tracking, cues and planning are the same code.

and prints seconds per frame, wall time over the clip's duration, each stage's share (exclusive
time, see :mod:`autofocuspull.core.timing`), peak resident memory, user and system CPU seconds,
minor page faults, the load average, and the speed ratio naive / ours. ``--fidelity`` adds the
project's render fidelity benchmark (``eval/bench_render_fidelity.py``) for both renderers.
``--profile FILE`` writes a cProfile of the ``ours`` run of the first size.

    python eval/bench_e2e.py                                   # 3 s at 640x360, ours only
    python eval/bench_e2e.py --seconds 10 --naive --fidelity   # the issue's 640x360 figure
    python eval/bench_e2e.py --seconds 10 --sizes 640x360,1080p,4K --json out.json

The runs use the CLI's OpenMP setting (``OMP_WAIT_POLICY=PASSIVE`` with a short
``GOMP_SPINCOUNT=30000`` spin, see ``autofocuspull/cli.py``) unless the environment sets them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SOURCE = SHARED / "footage" / "dev" / "talking_head_guardian_interview.mp4"
SIZES = {"640x360": (640, 360), "1080p": (1920, 1080), "4K": (3840, 2160)}
STAGES = (
    "decode", "depth", "depth-other", "detection", "segmentation", "tracking", "distances", "cues",
    "planning", "rendering", "encode", "other",
)  # fmt: skip


def make_clip(src: Path, dst: Path, seconds: float, size_wh: tuple[int, int]) -> Path:
    """The first ``seconds`` of ``src`` scaled to ``size_wh`` (H.264 crf 16, AAC audio) at ``dst``."""
    from autofocuspull.io import iter_frames, probe, read_audio
    from autofocuspull.io.synth import AudioSpec, write_clip

    info = probe(src)
    n = min(info.n_frames, round(seconds * float(info.frame_rate)))
    w, h = size_wh
    interp = cv2.INTER_AREA if w < info.width else cv2.INTER_CUBIC

    def frames():
        for f in iter_frames(src, info):
            if f.index >= n:
                return
            yield cv2.resize(f.rgb, (w, h), interpolation=interp)

    audio = read_audio(src, 48000) if info.has_audio else None
    tracks = [AudioSpec(audio[: int(n / float(info.frame_rate) * 48000)], 48000)] if audio is not None else []
    write_clip(dst, frames(), rate=info.frame_rate, audio=tracks, options={"crf": "16", "preset": "fast"})
    return dst


def depth_model_dir(folder: Path) -> Path:
    """Depth Anything V2 Small with random weights, saved the way a downloaded one is."""
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    if not (folder / "model.safetensors").exists():
        save_random_depth_anything(folder, size="small")
    return folder


def model_cache(folder: Path) -> Path:
    """A cache folder whose ``models/`` links the shared detector weights (as a user's would hold)."""
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    for f in (SHARED / "models").iterdir():
        link = models / f.name
        if not link.exists():
            link.symlink_to(f)
    return folder


# The naive pipeline, as config overrides (``--set`` keys).
NAIVE = [
    "depth.keyframe_interval=1", "depth.input_size=518", "depth.batch_size=1", "stages.renderer=naive",
    "perception.perceiver.mask_every=3",
]  # fmt: skip


def _child(argv: list[str], cache: Path, out_json: Path, profile: Path | None) -> None:
    """Body of one run: ``rack`` as the CLI runs it (argv, ``--set`` overrides included, parsed by
    the CLI's own parser; its heap and thread setup) with stage timing on."""
    os.environ["AUTOFOCUSPULL_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from autofocuspull import cli, pipeline
    from autofocuspull.core.timing import recording

    args = cli.build_parser().parse_args(argv)
    cli._setup_logging(args)
    cli._bound_heap()
    cfg = cli.config_from_args(args)
    # CPU time, not wall: on a loaded machine wall time lands on whatever ran when we were descheduled
    prof = cProfile.Profile(time.process_time) if profile is not None else None
    t0 = time.perf_counter()
    with recording() as times:
        if prof is not None:
            prof.enable()
        plan = pipeline.rack(args.input, args.output, cfg, plan_out=args.plan_out)
        if prof is not None:
            prof.disable()
    wall = time.perf_counter() - t0
    if prof is not None:
        prof.dump_stats(str(profile))
    out_json.write_text(
        json.dumps({"wall_s": wall, "stages": times.as_dict(), "n_frames": plan.n_frames, "cfg": str(cfg)})
    )


def run_case(
    argv: list[str], work: Path, name: str, overrides: list[str] | None = None, profile: Path | None = None
) -> dict:
    """Run ``autofocuspull argv`` in a fresh Python process (spawned, not forked: a fork of a process
    whose torch thread pool has started can hang) with a fresh cache; its stages and rusage."""
    cache = model_cache(work / f"cache-{name}")
    out_json = work / f"{name}.json"
    argv = [*argv, *(a for o in overrides or [] for a in ("--set", o))]
    spec = {"argv": argv, "cache": str(cache), "out": str(out_json)}
    spec["profile"] = str(profile) if profile is not None else None
    load = os.getloadavg()
    sys.stdout.flush()
    proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)])
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = status
    if status != 0 or not out_json.exists():
        raise RuntimeError(f"{name}: the run failed (status {status}); see its log above")
    res = json.loads(out_json.read_text())
    res.update(
        user_s=ru.ru_utime, sys_s=ru.ru_stime, peak_rss_mib=ru.ru_maxrss / 1024, minor_faults=ru.ru_minflt,
        load_before=load[0], load_after=os.getloadavg()[0],
    )  # fmt: skip
    return res


def format_case(name: str, res: dict, duration_s: float) -> str:
    """One case as a Markdown table: per stage wall, share, CPU, faults; then the totals."""
    st = res["stages"]
    total = sum(v["wall_s"] for v in st.values())
    lines = [
        f"**{name}**: {res['wall_s']:.1f} s wall, {res['wall_s'] / res['n_frames']:.3f} s/frame, "
        f"{res['wall_s'] / duration_s:.1f}x the clip's duration; CPU user {res['user_s']:.1f} s + system "
        f"{res['sys_s']:.1f} s (system {100 * res['sys_s'] / max(1e-9, res['user_s'] + res['sys_s']):.1f} %),"
        " "
        f"{res['minor_faults'] / 1e6:.2f} M minor faults, peak RSS {res['peak_rss_mib']:.0f} MiB, "
        f"load average {res['load_before']:.1f} -> {res['load_after']:.1f}",
        "",
        "| stage | wall s | share | s/frame | CPU s | system s | minor faults |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in [*STAGES, *sorted(set(st) - set(STAGES))]:
        if k in st:
            v = st[k]
            lines.append(
                f"| {k} | {v['wall_s']:.2f} | {100 * v['wall_s'] / total:.1f} % | "
                f"{v['wall_s'] / res['n_frames']:.4f} | {v['user_s'] + v['sys_s']:.2f} | {v['sys_s']:.2f} | "
                f"{v['minor_faults']} |"
            )
    depth = st.get("depth", {}).get("wall_s", 0.0)
    rest = total - depth - st.get("other", {}).get("wall_s", 0.0)
    if depth:
        lines.append(f"\nnon-depth stages / depth network: {rest / depth:.2f} (target <= 0.5)")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[str, list[str]]:
    """``name:key=value,key=value`` (config keys, as for ``--set``) -> (name, ["key=value", ...])."""
    name, _, body = text.partition(":")
    return name, [item for item in body.split(",") if item]


def fidelity_rows() -> dict:
    """Mean PSNR / SSIM / edge RMSE of both renderers on the project's fidelity benchmark."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_render_fidelity as fid

    rows = fid.run(480, 320, None)
    means = {
        r: {
            m: float(np.mean([x[m] for x in rows if x["renderer"] == r]))
            for m in ("psnr_db", "ssim", "edge_rmse")
        }
        for r in ("layered", "naive")
    }
    return {"means": means, "layered_beats_naive_everywhere": fid.checks(rows)["beats_naive_every_scene"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="clip length (the issue's figure: 10)")
    ap.add_argument("--sizes", default="640x360", help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument(
        "--naive", action="store_true", help="also run the naive pipeline (slow: depth every frame)"
    )
    ap.add_argument(
        "--variant", action="append", default=[], metavar="NAME:FIELD=V,...",
        help="also run with these config keys set, e.g. k16:depth.keyframe_interval=16 (repeatable)",
    )  # fmt: skip
    ap.add_argument(
        "--fidelity", action="store_true", help="run eval/bench_render_fidelity.py for both renderers"
    )
    ap.add_argument("--source", type=Path, default=SOURCE, help="footage to cut the clip from")
    ap.add_argument(
        "--work", type=Path, default=None, help="keep clips and outputs here (default: a temp dir)"
    )
    ap.add_argument("--profile", type=Path, default=None, help="cProfile of the first 'ours' run")
    ap.add_argument("--json", type=Path, default=None, help="write every figure as JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one run, spawned by run_case
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        profile = Path(spec["profile"]) if spec["profile"] else None
        _child(spec["argv"], Path(spec["cache"]), Path(spec["out"]), profile)
        return 0
    if not args.source.exists():
        print(f"bench_e2e: {args.source} not found (the shared footage is needed)", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="afp-bench-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    model = depth_model_dir(work / "depth-anything-v2-small-random")
    results: dict = {"seconds": args.seconds, "cores": os.cpu_count(), "sizes": {}}
    for size in args.sizes.split(","):
        clip = work / f"clip_{size}.mp4"
        if not clip.exists():
            make_clip(args.source, clip, args.seconds, SIZES[size])
        cases: list[tuple[str, list[str]]] = [("ours", [])]
        if args.naive:
            cases.append(("naive", [*NAIVE, "run.use_cache=false"]))
        cases += [parse_override(v) for v in args.variant]
        out: dict = {}
        for i, (name, overrides) in enumerate(cases):
            argv_ = ["rack", str(clip), "-o", str(work / f"{size}_{name}.mp4"), "--depth-model", str(model),
                     "--plan-out", str(work / f"{size}_{name}.plan.json"), "-q", "-y"]  # fmt: skip
            prof = args.profile if (args.profile and i == 0 and not results["sizes"]) else None
            out[name] = run_case(argv_, work, f"{size}_{name}", overrides, prof)
            print(
                f"\n### {size}, {args.seconds:g} s\n\n{format_case(name, out[name], args.seconds)}",
                flush=True,
            )
        if "naive" in out:
            ratio = out["naive"]["wall_s"] / out["ours"]["wall_s"]
            cpu = (out["naive"]["user_s"] + out["naive"]["sys_s"]) / (
                out["ours"]["user_s"] + out["ours"]["sys_s"]
            )
            out["naive_over_ours"] = {"wall": ratio, "cpu": cpu}
            print(f"\nnaive / ours at {size}: {ratio:.1f}x wall, {cpu:.1f}x CPU time")
        results["sizes"][size] = out
    if args.fidelity:
        results["fidelity"] = fidelity_rows()
        f = results["fidelity"]
        print("\nrender fidelity (eval/bench_render_fidelity.py, 480x320, mean of its scenes):")
        for r, m in f["means"].items():
            print(
                f"  {r:8s} PSNR {m['psnr_db']:.2f} dB  SSIM {m['ssim']:.4f}  edge RMSE {m['edge_rmse']:.2f}"
            )
        print(f"  layered beats naive on every scene and figure: {f['layered_beats_naive_everywhere']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
