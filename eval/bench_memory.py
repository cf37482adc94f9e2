"""Peak resident memory of a whole ``rack`` run: a long clip must cost no more than a short one.

Generates the demo scene (two people from ``skimage.data.astronaut()`` in front of a textured,
lamp-lit wall, the near one walking out and back; a stereo AAC soundtrack) at 1080p for a short
and a long duration, racks each in a fresh ``python -m autofocuspull.cli rack`` subprocess with the
default analysis settings and a fresh cache, and reads that child's peak RSS from ``os.wait4``.
Prints a table and exits 1 when long/short exceeds ``--max-ratio`` (1.2): every stage must
stream, nothing may hold a clip's frames.

Depth: ``--depth heuristic`` (offline default: no network, heuristic depth), ``--depth tiny``
(a random-weight 4-layer Depth Anything saved locally, which exercises the depth network, the
chunked depth cache and the chunk store on the render path), or ``both``.

    python eval/bench_memory.py                        # 10 s vs 60 s, 1080p, both depth paths
    python eval/bench_memory.py --short-s 2 --long-s 8 --depth tiny   # quick check

On 2 loaded CPU cores the 60 s 1080p run takes minutes per depth path: ``--preset ultrafast``
(the default here) keeps the encoder from dominating; analysis settings are the defaults.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, duration_s: float, width: int, height: int) -> None:
    """Write the demo scene at ``width`` x ``height``, ``duration_s`` seconds, 25 fps, with audio."""
    from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip

    make_demo_clip(path, DemoClipConfig(width=width, height=height, duration_s=duration_s))


def rack_peak_rss(args: list[str], env: dict[str, str], log_path: Path) -> tuple[int, float, int]:
    """Run ``args`` as a child; return (its exit status, wall seconds, its peak RSS in MiB)."""
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, round(usage.ru_maxrss / 1024)  # KiB on Linux


def run_case(work: Path, clip: Path, depth: str, tiny_dir: Path | None, preset: str) -> dict:
    """Rack ``clip`` with a fresh cache; return its measurements."""
    out = work / f"{clip.stem}-{depth}-racked.mp4"
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{clip.stem}-{depth}-", dir=work))
    args = [sys.executable, "-m", "autofocuspull.cli", "rack", str(clip), "-o", str(out), "-q"]
    args += ["--cache-dir", str(cache), "--device", "cpu", "--preset", preset]
    if depth == "tiny":
        args += ["--depth-model", str(tiny_dir)]
    env = {**os.environ, "AUTOFOCUSPULL_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "AUTOFOCUSPULL_PROGRESS": "0"}
    rc, wall_s, rss_mib = rack_peak_rss(args, env, work / f"{out.stem}.log")
    if rc != 0:
        tail = (work / f"{out.stem}.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"rack failed on {clip.name} ({depth}), exit {rc}:\n{tail}")
    print(f"  {clip.name} ({depth} depth): peak RSS {rss_mib} MiB, {wall_s:.0f} s", flush=True)
    return {"clip": clip.name, "depth": depth, "wall_s": wall_s, "peak_rss_mib": rss_mib}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--short-s", type=float, default=10.0)
    p.add_argument("--long-s", type=float, default=60.0)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--depth", choices=["heuristic", "tiny", "both"], default="both")
    p.add_argument("--preset", default="ultrafast", help="x264 preset of the racked output")
    p.add_argument("--max-ratio", type=float, default=1.2)
    p.add_argument("--work-dir", type=Path, default=None, help="keep clips and logs here")
    a = p.parse_args(argv)
    work = a.work_dir or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    clips = {}
    for name, dur in (("short", a.short_s), ("long", a.long_s)):
        clips[name] = work / f"{name}_{dur:g}s_{a.height}p.mp4"
        if not clips[name].exists():
            print(f"generating {clips[name].name} ...", flush=True)
            make_clip(clips[name], dur, a.width, a.height)
    tiny = None
    depths = ["heuristic", "tiny"] if a.depth == "both" else [a.depth]
    if "tiny" in depths:
        from autofocuspull.perception.depth.random_model import save_random_depth_anything

        tiny = work / "tiny-depth-anything"
        save_random_depth_anything(tiny, size="tiny")
    rows, worst = [], 0.0
    for depth in depths:
        res = {name: run_case(work, clip, depth, tiny, a.preset) for name, clip in clips.items()}
        ratio = res["long"]["peak_rss_mib"] / res["short"]["peak_rss_mib"]
        worst = max(worst, ratio)
        rows.append((depth, res["short"], res["long"], ratio))
    print(f"\npeak RSS of `rack` at {a.width}x{a.height}, 25 fps (preset {a.preset}); work dir {work}")
    head = (
        f"{'depth':<10} {'short':>7} {'RSS MiB':>8} {'wall s':>7}   {'long':>6} {'RSS MiB':>8} {'wall s':>7}"
    )
    print(head + f"  {'long/short':>10}")
    for depth, s, lg, ratio in rows:
        print(
            f"{depth:<10} {a.short_s:>6g}s {s['peak_rss_mib']:>8} {s['wall_s']:>7.0f}   "
            f"{a.long_s:>5g}s {lg['peak_rss_mib']:>8} {lg['wall_s']:>7.0f}  {ratio:>10.3f}"
        )
    ok = worst <= a.max_ratio
    print(f"worst ratio {worst:.3f} {'<=' if ok else '>'} {a.max_ratio}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
