"""Run ``autofocuspull eval --dataset DIR --json`` for several planners and print one Markdown table.

Usage: ``python eval/compare_planners.py DIR [--planners default,largest-face,...] [--out results.json]
[-- extra eval args]``. Each planner runs as its own ``autofocuspull eval`` process (the analysis
cache is shared, so only the first one pays for perception); the table is the mean row of each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from autofocuspull.evaluate.dataset import format_comparison, format_table

ALL_PLANNERS = ("default", "largest-face", "center", "most-motion", "first-subject")


def run_planner(dataset: Path, planner: str, extra: list[str]) -> dict:
    """One planner's ``evaluate_dataset`` result, from the CLI's ``--json`` output."""
    cmd = [sys.executable, "-m", "autofocuspull.cli", "eval", "--dataset", str(dataset), "--json"]
    cmd += ["--planner", planner, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--planners", default=",".join(ALL_PLANNERS), help="comma-separated planner names")
    ap.add_argument("--out", type=Path, default=None, help="also write all results as one JSON file")
    ap.add_argument("extra", nargs="*", help="more arguments for autofocuspull eval (after --)")
    args = ap.parse_args(argv)
    results = {}
    for name in args.planners.split(","):
        results[name] = run_planner(args.dataset, name, args.extra)
        print(format_table(results[name]), file=sys.stderr)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(format_comparison(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
