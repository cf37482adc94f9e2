"""The ``autofocuspull`` command line. It parses arguments and calls :mod:`autofocuspull.pipeline`.

Exit codes: 0 success, 1 failure (bad input file, model missing, ...), 2 usage error, 130 interrupted.
Errors print one line naming the file and the problem; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

# Before torch is imported: idle OpenMP threads sleep instead of spinning for long, which otherwise
# makes two torch threads slower than one on a busy 2-core machine (eval/bench_render_speed.py). GNU
# OpenMP (torch's on Linux) takes GOMP_SPINCOUNT over the policy: a short spin before sleeping saves
# the futex round trip between the depth network's many small parallel regions. On the 10 s 640x360
# clip of eval/bench_e2e.py, idle 2 cores: 26.2-27.9 s wall with 30000 spins, 28.4-30.4 s passive
# (no spin); with two busy processes competing for the cores, 60.7 s and 60.6 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "30000")
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autofocuspull import __version__
from autofocuspull.core.errors import AutofocusError

if TYPE_CHECKING:
    from autofocuspull.config import RackConfig

log = logging.getLogger("autofocuspull")

EPILOG = "Docs: README.md. Models are cached under $AUTOFOCUSPULL_CACHE (default ~/.cache/autofocuspull)."


# Every option that sets a configuration key, and the key it sets (None: the option is not given).
# Options not listed here are the commands' own (files, logging). ``--config FILE`` and repeatable
# ``--set section.key=value`` reach every key; these are shorthands for the common ones.
OPTION_KEYS: dict[str, str] = {
    "device": "run.device",
    "cache_dir": "run.cache_dir",
    "keyframes": "run.keyframes",
    "planner": "stages.planner",
    "depth_model": "depth.model",
    "depth_every": "depth.keyframe_interval",
    "subject_distance": "depth.subject_distance_m",
    "face_model": "perception.faces.model_path",
    "object_model": "perception.objects.model_path",
    "segment_model": "perception.masks.model_path",
    "asd_model": "cues.speaker.model_path",
    "asd_head": "cues.speaker.head_path",
    "transcript": "cues.transcript.path",
    "cue": "planner.mode",
    "focal_length": "lens.focal_length_mm",
    "f_number": "lens.f_number",
    "sensor_width": "lens.sensor_width_mm",
    "aperture_shape": "render.blades",
    "codec": "encode.codec",
    "crf": "encode.crf",
    "preset": "encode.preset",
    "overwrite": "encode.overwrite",
    "depth_near": "export.depth_near_m",
    "ray": "batch.ray",
    "ray_address": "batch.ray_address",
    "workers": "batch.workers",
    "max_retries": "batch.max_retries",
    "gpu_per_worker": "batch.gpu_per_worker",
    "segment_s": "batch.segment_s",
    "analysis_piece_s": "batch.analysis_piece_s",
    "plan_only": "batch.plan_only",
    "verify": "batch.verify_hashes",
    "format": "batch.output_suffix",
}


def _config_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (see `autofocuspull config`)")
    g.add_argument(
        "--config", type=Path, default=None, metavar="FILE.toml", help="a run configuration (TOML)"
    )
    g.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change one configuration value, e.g. --set planner.lead_s=0.75 (repeatable; wins over "
        "--config and the shorthand options)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run options")
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="where models and the renderer run (default: auto = cuda if available)",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="analysis and model cache (default: $AUTOFOCUSPULL_CACHE or ~/.cache/autofocuspull)",
    )
    g.add_argument("--no-cache", action="store_true", help="recompute the analysis instead of reusing it")
    _logging_opts(p)


def _logging_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    g.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _depth_opts(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--depth-model",
        default=None,
        help="Hugging Face id or local folder of a depth model (default [depth] model)",
    )
    g.add_argument(
        "--depth-every",
        type=int,
        default=None,
        metavar="K",
        help="run the depth model on every K-th frame (and on big motion), propagate between",
    )


def _analysis(p: argparse.ArgumentParser, planner: bool = True) -> None:
    g = p.add_argument_group("analysis (who and when)")
    _depth_opts(g)
    g.add_argument("--face-model", default=None, metavar="PATH", help="YuNet ONNX file (default: downloaded)")
    g.add_argument("--object-model", default=None, metavar="PATH", help="YOLOX-nano ONNX file")
    g.add_argument("--segment-model", default=None, metavar="PATH", help="DeepLabv3 ONNX file (person masks)")
    g.add_argument("--asd-model", default=None, metavar="PATH", help="Light-ASD ONNX file")
    g.add_argument("--asd-head", default=None, metavar="PATH", help="Light-ASD scoring head ONNX file")
    g.add_argument(
        "--cue",
        choices=["auto", "dialogue", "saliency"],
        default=None,
        help="what drives focus: dialogue (who speaks), saliency, or auto (dialogue where there is speech)",
    )
    if planner:
        g.add_argument("--planner", default=None, help="planner name (default, largest-face, center, ...)")
    g.add_argument(
        "--keyframes",
        type=Path,
        default=None,
        help="JSON of user focus decisions that override the automatic ones",
    )
    g.add_argument("--transcript", type=Path, default=None, help="SRT/WebVTT/ASS/JSON speaker turns")
    g.add_argument(
        "--subject-distance",
        type=float,
        default=None,
        metavar="M",
        help="known distance (m) of the main subject, to put depth in metres",
    )
    _lens(g)


def _lens(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--focal-length", type=float, default=None, metavar="MM", help="virtual lens focal length")
    g.add_argument("--f-number", type=float, default=None, metavar="N", help="virtual aperture")
    g.add_argument("--sensor-width", type=float, default=None, metavar="MM", help="virtual sensor width")


def _render_opts(p: argparse.ArgumentParser) -> None:
    from autofocuspull.io.writer import CODEC_CHOICES

    g = p.add_argument_group("render")
    g.add_argument(
        "--aperture-shape",
        type=_blades,
        default=None,
        help="circle or an n-blade polygon such as 'blades:7'",
    )
    g.add_argument(
        "--codec", choices=CODEC_CHOICES, default=None,
        help="output video codec: auto (H.264; HEVC Main 10 for 10-bit sources), h264, hevc, "
        "prores (ProRes 422 HQ, .mov) or ffv1 (lossless, .mkv)",
    )  # fmt: skip
    g.add_argument("--crf", type=int, default=None, help="H.264/HEVC quality, 0-51 (lower = better)")
    g.add_argument("--preset", default=None, help="x264/x265 preset")
    g.add_argument(
        "-y", "--overwrite", action="store_const", const=True, default=None,
        help="replace an existing output file",
    )  # fmt: skip


def _blades(shape: str) -> int:
    """``--aperture-shape``: "circle" -> 0 blades, "blades:N" (N >= 3) -> N."""
    if shape == "circle":
        return 0
    if shape.startswith("blades:") and shape[7:].isdigit() and int(shape[7:]) >= 3:
        return int(shape[7:])
    raise argparse.ArgumentTypeError(f"{shape}: expected 'circle' or 'blades:N' with N >= 3")


def _scale(p: argparse.ArgumentParser) -> None:
    """Where many clips run: a local process pool (default), a local Ray instance or a Ray cluster."""
    g = p.add_argument_group("scale-out (many clips)")
    g.add_argument(
        "--ray", action="store_true", default=None, help="start a local Ray instance sized to this machine"
    )
    g.add_argument("--ray-address", default=None, metavar="ADDR", help="join the Ray cluster at ADDR")
    g.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: 1/CPU)")
    g.add_argument(
        "--max-retries", type=int, default=None, metavar="N", help="reruns of a task whose worker died"
    )
    g.add_argument(
        "--gpu-per-worker", type=float, default=None, metavar="F", help="GPU share of a Ray worker"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autofocuspull", description=__doc__.splitlines()[0], epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"autofocuspull {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "rack", help="plan and render in one go", description="Plan focus for IN and render OUT."
    )
    r.add_argument("input", type=Path, metavar="IN")
    r.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT", help="output video (.mp4/.mov/.mkv)"
    )
    r.add_argument("--plan-out", type=Path, default=None, metavar="PLAN.json", help="also save the plan")
    r.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a picture of the plan")
    _analysis(r)
    _render_opts(r)
    _config_opts(r)
    _common(r)

    pl = sub.add_parser("plan", help="decide focus only (writes an editable plan JSON)")
    pl.add_argument("input", type=Path, metavar="IN")
    pl.add_argument("-o", "--output", type=Path, required=True, metavar="PLAN.json")
    pl.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a picture of the plan")
    _analysis(pl)
    _config_opts(pl)
    _common(pl)

    rd = sub.add_parser("render", help="render a video following a (possibly hand-edited) plan")
    rd.add_argument("input", type=Path, metavar="IN")
    rd.add_argument("--plan", type=Path, required=True, metavar="PLAN.json")
    rd.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    g = rd.add_argument_group("lens and depth")
    _lens(g)
    _depth_opts(g)
    _render_opts(rd)
    _config_opts(rd)
    _common(rd)

    ev = sub.add_parser(
        "eval",
        help="score plans against hand-graded pulls",
        description="eval PLAN.json GRADES.json | eval --dataset DIR",
    )
    ev.add_argument("plan", nargs="?", type=Path, metavar="PLAN.json")
    ev.add_argument("grades", nargs="?", type=Path, metavar="GRADES.json")
    ev.add_argument(
        "--dataset",
        type=Path,
        default=None,
        metavar="DIR",
        help="plan every video in DIR that has <stem>.grades.json beside it",
    )
    ev.add_argument("--planner", default=None, help="planner to use with --dataset (default: default)")
    ev.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    ev.add_argument(
        "--flicker", nargs=2, type=Path, default=None, metavar=("INPUT", "RENDERED"),
        help="frame-to-frame flicker of RENDERED's static regions beside INPUT's (temporal stability)",
    )  # fmt: skip
    ev.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="timeline of the plan against its grades (one clip), or a folder (--dataset)",
    )
    _analysis(ev, planner=False)
    _scale(ev)
    _config_opts(ev)
    _common(ev)

    ft = sub.add_parser(
        "fit",
        help="fit the planner's, cues' and distances' constants on graded clips",
        description="fit --dataset DIR -o fitted.toml: leave-one-clip-out report beside the defaults "
        "and every baseline; writes the fit on the whole set as a config TOML",
    )
    ft.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="folder of graded clips")
    ft.add_argument("-o", "--output", type=Path, required=True, metavar="FITTED.toml")
    ft.add_argument("--report", type=Path, default=None, metavar="JSON", help="also save the report as JSON")
    ft.add_argument("--rounds", type=int, default=None, help="coordinate-descent passes (default 2)")
    ft.add_argument("--no-loo", action="store_true", help="skip the leave-one-clip-out report (faster)")
    ft.add_argument("--jobs", type=int, default=1, help="processes planning the clips of a trial")
    _analysis(ft, planner=False)
    _config_opts(ft)
    _common(ft)

    b = sub.add_parser("batch", help="rack every clip of a folder (resumable; process pool or Ray)")
    b.add_argument("input", type=Path, metavar="DIR", help="folder of clips (searched recursively)")
    b.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    b.add_argument("--format", choices=[".mp4", ".mov", ".mkv"], default=None, help="output container")
    b.add_argument("--plan-only", action="store_true", default=None, help="write the plans, render nothing")
    b.add_argument(
        "--segment-s", type=float, default=None, metavar="S", help="render long clips in ~S s pieces"
    )
    b.add_argument(
        "--analysis-piece-s", type=float, default=None, metavar="S",
        help="analyse clips longer than 2*S s in ~S s pieces at shot cuts, in parallel (0: one task)",
    )  # fmt: skip
    b.add_argument(
        "--verify", action="store_true", default=None, help="rerun: check sha256s, not just sizes and times"
    )
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _analysis(b)
    _render_opts(b)
    _scale(b)
    _config_opts(b)
    _common(b)

    d = sub.add_parser("demo", help="offline demo: generate a clip, rack it, draw the plan")
    d.add_argument("-o", "--output-dir", type=Path, default=Path("autofocuspull-demo"), metavar="DIR")
    _config_opts(d)
    _common(d)

    x = sub.add_parser(
        "experiment",
        help="score named variants of the configuration over a graded folder",
        description="Run every [variants.NAME] of EXPERIMENT.toml over the graded clips of --dataset "
        "and write metrics, plans, plots, exact configs, version and commit to -o.",
    )
    x.add_argument("spec", type=Path, metavar="EXPERIMENT.toml")
    x.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a folder of graded clips")
    x.add_argument("-o", "--output", type=Path, required=True, metavar="RESULTS", help="results folder")
    x.add_argument("--json", action="store_true", help="print the results as one JSON object")
    _logging_opts(x)

    k = sub.add_parser("cache", help="list or clear the analysis cache")
    k.add_argument("action", choices=["list", "clear"])
    k.add_argument("--cache-dir", type=Path, default=None, help="the cache (default: $AUTOFOCUSPULL_CACHE)")
    k.add_argument("--models", action="store_true", help="clear: also delete the downloaded models")
    k.add_argument("--json", action="store_true", help="list: one JSON object")
    _logging_opts(k)

    c = sub.add_parser(
        "config",
        help="print the effective configuration as TOML",
        description="Print every section and key of the run configuration (defaults, then --config, "
        "then --set), as a TOML file that --config reads back.",
    )
    c.add_argument("-o", "--output", type=Path, default=None, metavar="FILE.toml", help="write it here")
    _config_opts(c)
    _logging_opts(c)
    _handoff(sub)
    return p


def _handoff(sub: argparse._SubParsersAction) -> None:
    """Editor hand-off (issue 14): time ranges, overlay preview, export, import and the web app."""
    for name in ("rack", "plan", "render"):
        g = sub.choices[name].add_argument_group("time range (like ffmpeg -ss / -to)")
        g.add_argument("--start", type=float, default=None, metavar="S", help="first second to keep")
        g.add_argument("--end", type=float, default=None, metavar="S", help="keep frames before this second")
    sub.choices["rack"].add_argument(
        "--preview-overlay", type=Path, default=None, metavar="FILE.mp4",
        help="also write the clip with boxes, ids, focus point, reason and speech burned in",
    )  # fmt: skip
    from autofocuspull.export import FORMATS

    ex = sub.add_parser("export", help="hand the plan to an editor: otio, csv, ae, resolve, depth, mattes")
    ex.add_argument("plan", type=Path, metavar="PLAN.json")
    formats = "; ".join(f"{k}: {v[0]}" for k, v in FORMATS.items())
    ex.add_argument("--to", required=True, choices=list(FORMATS), help=formats)
    ex.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="file or folder")
    ex.add_argument("--clip", type=Path, default=None, help="the clip (default: the plan's video.path)")
    ex.add_argument("--depth-near", type=float, default=None, metavar="M",
                    help="depth map: distance of full white (default 0.25 m)")  # fmt: skip
    _analysis(ex, planner=False)
    _render_opts(ex)
    _config_opts(ex)
    _common(ex)
    im = sub.add_parser("import", help="user decisions from a CSV or OTIO markers, as a keyframes file")
    im.add_argument("input", type=Path, metavar="FILE", help=".csv, or a timeline OpenTimelineIO reads")
    im.add_argument("-o", "--output", type=Path, required=True, metavar="KEYFRAMES.json")
    im.add_argument("--plan", type=Path, default=None, help="plan: frame rate for timecodes, ids to check")
    _config_opts(im)
    _common(im)
    ap = sub.add_parser("app", help="local web app: review the pulls, fix one, re-render the span")
    ap.add_argument("input", type=Path, metavar="CLIP")
    ap.add_argument("--plan", type=Path, default=None, help="plan to edit (default: <clip>.plan.json)")
    ap.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--no-browser", action="store_true", help="do not open a browser")
    _analysis(ap)
    _render_opts(ap)
    _config_opts(ap)
    _common(ap)


def config_from_args(args: argparse.Namespace) -> RackConfig:
    """The run's configuration: defaults, then ``--config``, then the shorthand options given,
    then ``--set`` (each option maps to one key, :data:`OPTION_KEYS`)."""
    from autofocuspull.config import apply_overrides, load_config

    given = vars(args)
    shorthand: dict[str, object] = {}
    for dest, key in OPTION_KEYS.items():
        value = given.get(dest)  # absent: that command has no such option
        if value is not None:
            shorthand[key] = str(value) if isinstance(value, Path) else value
    if given.get("no_cache"):
        shorthand["run.use_cache"] = False
    cfg = load_config(args.config)
    cfg = apply_overrides(cfg, shorthand)
    return apply_overrides(cfg, args.overrides)


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command through :mod:`autofocuspull.pipeline`."""
    if args.command == "cache":
        return _cache(args)
    if args.command == "experiment":
        return _experiment(args)
    cfg = config_from_args(args)
    if cfg.run.cache_dir is not None:  # one folder for the analysis and the downloaded models
        os.environ["AUTOFOCUSPULL_CACHE"] = cfg.run.cache_dir
    if args.command == "config":
        return _print_config(cfg, args.output)
    from autofocuspull import pipeline

    if args.command in ("export", "import", "app"):  # editor hand-off (issue 14)
        from autofocuspull.export.command import run_handoff

        return run_handoff(args, cfg)
    if args.command == "batch":  # many clips: a process pool or Ray (issue 15)
        from autofocuspull.batch.command import batch_command

        return batch_command(args, cfg)
    from autofocuspull.io.trim import apply_range

    apply_range(args, cfg.run.cache_dir, cfg.run.use_cache)  # --start / --end: work on that range only
    if args.command == "rack":
        pipeline.rack(args.input, args.output, cfg, plan_out=args.plan_out, plot=args.plot,
                      overlay=args.preview_overlay)  # fmt: skip
    elif args.command == "plan":
        pipeline.plan_command(args.input, args.output, cfg, plot=args.plot)
    elif args.command == "render":
        pipeline.render_command(args.input, args.plan, args.output, cfg)
    elif args.command == "eval":
        return _eval(args, cfg)
    elif args.command == "fit":
        return _fit(args, cfg)
    elif args.command == "demo":
        files = pipeline.demo(args.output_dir, cfg)
        for name, path in files.items():
            print(f"{name:>8}: {path}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    import json

    from autofocuspull.core.cache import cache_entries, clear_cache

    if args.action == "clear":
        freed = clear_cache(args.cache_dir, models=args.models)
        print(f"freed {freed / 2**20:.1f} MiB")
        return 0
    entries = cache_entries(args.cache_dir)
    if args.json:
        print(json.dumps(entries))
        return 0
    for e in entries:
        print(f"{e['bytes'] / 2**20:9.1f} MiB  {e['stage']:<9} {e['source'] or e['clip']}")
    total = sum(e["bytes"] for e in entries)
    print(f"{total / 2**20:9.1f} MiB  in {len(entries)} entries")
    return 0


def _experiment(args: argparse.Namespace) -> int:
    import json

    from autofocuspull import pipeline
    from autofocuspull.evaluate import format_comparison

    record = pipeline.experiment(args.spec, args.dataset, args.output)
    print(json.dumps(record, default=str) if args.json else format_comparison(record["variants"]))
    return 0


def _print_config(cfg: RackConfig, out: Path | None) -> int:
    from autofocuspull.config import config_to_toml

    text = config_to_toml(cfg, header=f"autofocuspull {__version__} run configuration")
    if out is None:
        sys.stdout.write(text)
    else:
        from autofocuspull.core.atomic import atomic_write_text
        from autofocuspull.io.writer import ensure_writable_dir

        ensure_writable_dir(out.parent, out)
        atomic_write_text(out, text)
    return 0


def _fit(args: argparse.Namespace, cfg: RackConfig) -> int:
    """``fit``: fit constants on a graded folder, print the report, write the fitted TOML."""
    from autofocuspull.core.errors import UsageError
    from autofocuspull.evaluate.fit import FitConfig, format_fit_report, run_fit

    if args.output.suffix.lower() != ".toml":
        raise UsageError(f"{args.output}: the fitted configuration must end in .toml")
    if not args.dataset.is_dir():
        raise UsageError(f"--dataset {args.dataset}: not a folder")
    fcfg = FitConfig(jobs=args.jobs) if args.rounds is None else FitConfig(rounds=args.rounds, jobs=args.jobs)
    run = run_fit(
        args.dataset, args.output, cfg, fcfg, loo=not args.no_loo, report_json=args.report,
        progress=lambda msg: log.info("fit: %s", msg),
    )  # fmt: skip
    print(format_fit_report(run.report))
    log.info("fitted configuration written to %s", run.toml_path)
    return 0


def _eval(args: argparse.Namespace, cfg: RackConfig) -> int:
    """``eval``: one plan against its grades, or a whole graded folder."""
    import json

    from autofocuspull import evaluate, pipeline
    from autofocuspull.core.errors import UsageError

    if args.flicker is not None:
        from autofocuspull.evaluate.flicker import format_flicker, video_flicker

        result = video_flicker(*args.flicker)
        print(json.dumps(result) if args.json else format_flicker(result))
        return 0
    if args.dataset is not None:
        if args.plan is not None:
            raise UsageError("eval: give either PLAN.json GRADES.json or --dataset DIR, not both")
        from autofocuspull.batch.command import executor_for

        with executor_for(cfg.batch) as executor:  # a process pool, or Ray with --ray/--ray-address
            result = pipeline.evaluate_folder(args.dataset, cfg, plot_dir=args.plot, executor=executor)
        print(json.dumps(result) if args.json else evaluate.format_table(result))
        return 0
    if args.plan is None or args.grades is None:
        raise UsageError("eval: expected PLAN.json GRADES.json, or --dataset DIR")
    from autofocuspull.plan import load_plan

    plan, grades = load_plan(args.plan), evaluate.load_grades(args.grades)
    metrics = evaluate.score_plan(plan, grades)
    print(json.dumps(metrics) if args.json else evaluate.format_metrics(metrics))
    if args.plot is not None:
        from autofocuspull.evaluate.plot import plot_timeline

        plot_timeline(plan, grades, args.plot, title=Path(args.plan).name)
    return 0


def _setup_logging(args: argparse.Namespace) -> None:
    level = "warning" if args.quiet else args.log_level
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.quiet:
        os.environ["AUTOFOCUSPULL_PROGRESS"] = "0"


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _bound_heap() -> None:
    """Large buffers reused from the heap without page faults, resident memory bounded by periodic
    trims (:mod:`autofocuspull.core.heap`). No-op where the C library is not glibc."""
    from autofocuspull.core.heap import configure_heap

    configure_heap()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _bound_heap()
    try:
        return run_command(args)
    except AutofocusError as e:
        if args.debug:
            log.exception("failed")
        print(f"autofocuspull: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(
            "autofocuspull: interrupted; no output was written, the analysis cache is kept", file=sys.stderr
        )
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(
            f"autofocuspull: internal error: {e.__class__.__name__}: {e} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
