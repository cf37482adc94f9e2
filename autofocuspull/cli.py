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

# Before torch is imported: idle OpenMP threads sleep instead of spinning, which otherwise makes two
# torch threads slower than one on a busy 2-core machine (eval/bench_render_speed.py measures it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from collections.abc import Sequence
from pathlib import Path

from autofocuspull import __version__
from autofocuspull.core.errors import AutofocusError

log = logging.getLogger("autofocuspull")

EPILOG = "Docs: README.md. Models are cached under $AUTOFOCUSPULL_CACHE (default ~/.cache/autofocuspull)."


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run options")
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where models and the renderer run (default: auto = cuda if available)",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="analysis and model cache (default: $AUTOFOCUSPULL_CACHE or ~/.cache/autofocuspull)",
    )
    g.add_argument("--no-cache", action="store_true", help="recompute the analysis instead of reusing it")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    g.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _analysis(p: argparse.ArgumentParser, planner: bool = True) -> None:
    g = p.add_argument_group("analysis (who and when)")
    g.add_argument(
        "--depth-model",
        default=None,
        help="Hugging Face id or local folder of a depth model "
        "(default depth-anything/Depth-Anything-V2-Small-hf)",
    )
    g.add_argument(
        "--depth-every",
        type=int,
        default=None,
        metavar="K",
        help="run the depth model on every K-th frame (and on big motion), propagate between",
    )
    g.add_argument("--face-model", default=None, metavar="PATH", help="YuNet ONNX file (default: downloaded)")
    g.add_argument("--object-model", default=None, metavar="PATH", help="YOLOX-nano ONNX file")
    g.add_argument("--segment-model", default=None, metavar="PATH", help="DeepLabv3 ONNX file (person masks)")
    g.add_argument("--asd-model", default=None, metavar="PATH", help="Light-ASD ONNX file")
    g.add_argument("--asd-head", default=None, metavar="PATH", help="Light-ASD scoring head ONNX file")
    g.add_argument(
        "--cue",
        choices=["auto", "dialogue", "saliency"],
        default="auto",
        help="what drives focus: dialogue (who speaks), saliency, or auto (dialogue where there is speech)",
    )
    if planner:
        g.add_argument(
            "--planner", default="default", help="planner name (default, largest-face, center, ...)"
        )
    g.add_argument(
        "--keyframes",
        type=Path,
        default=None,
        help="JSON of user focus decisions that override the automatic ones",
    )
    g.add_argument("--transcript", type=Path, default=None, help="SRT/WebVTT/JSON speaker turns")
    g.add_argument(
        "--subject-distance",
        type=float,
        default=None,
        metavar="M",
        help="known distance (m) of the main subject, to put depth in metres",
    )
    _lens(g)


def _lens(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--focal-length", type=float, default=50.0, metavar="MM", help="virtual lens focal length")
    g.add_argument("--f-number", type=float, default=1.4, metavar="N", help="virtual aperture")
    g.add_argument("--sensor-width", type=float, default=36.0, metavar="MM", help="virtual sensor width")


def _render_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("render")
    g.add_argument(
        "--aperture-shape", default="circle", help="circle or an n-blade polygon such as 'blades:7'"
    )
    g.add_argument("--crf", type=int, default=18, help="H.264 quality (lower = better)")
    g.add_argument("--preset", default="medium", help="x264 preset")


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
    _common(r)

    pl = sub.add_parser("plan", help="decide focus only (writes an editable plan JSON)")
    pl.add_argument("input", type=Path, metavar="IN")
    pl.add_argument("-o", "--output", type=Path, required=True, metavar="PLAN.json")
    pl.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a picture of the plan")
    _analysis(pl)
    _common(pl)

    rd = sub.add_parser("render", help="render a video following a (possibly hand-edited) plan")
    rd.add_argument("input", type=Path, metavar="IN")
    rd.add_argument("--plan", type=Path, required=True, metavar="PLAN.json")
    rd.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    g = rd.add_argument_group("lens")
    _lens(g)
    rd.add_argument("--depth-model", default=None, help="depth model id or folder (as for plan)")
    rd.add_argument("--depth-every", type=int, default=None, metavar="K")
    _render_opts(rd)
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
    ev.add_argument("--planner", default="default", help="planner to use with --dataset")
    ev.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    ev.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="timeline of the plan against its grades (one clip), or a folder (--dataset)",
    )
    _analysis(ev, planner=False)
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
    _common(ft)

    d = sub.add_parser("demo", help="offline demo: generate a clip, rack it, draw the plan")
    d.add_argument("-o", "--output-dir", type=Path, default=Path("autofocuspull-demo"), metavar="DIR")
    _common(d)
    return p


def _setup_logging(args: argparse.Namespace) -> None:
    level = "warning" if args.quiet else args.log_level
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.quiet:
        os.environ["AUTOFOCUSPULL_PROGRESS"] = "0"


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 256 * 1024


def _bound_heap() -> None:
    """Give large buffers (decoded frames, depth maps) back to the OS as soon as they are freed.

    glibc raises its mmap threshold after the first large ``free``, after which frames are
    carved from the heap; small long-lived arrays (face crops, per-frame records) then pin the
    freed frame memory and resident memory grows with the clip's length. A fixed threshold keeps
    every large buffer in its own mapping. No-op where the C library is not glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        return


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _bound_heap()
    try:
        from autofocuspull import pipeline

        return pipeline.run_command(args)
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
