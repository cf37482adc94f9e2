"""Compare two runs' outputs for identity: decoded frames of two videos, the per-frame values and
pulls of two plans, and the metrics of two ``eval --json`` results.

Used to show that a refactor changed no behaviour (eval/README.md, "Behaviour unchanged"):
``python eval/compare_outputs.py --video A.mp4 B.mp4 --plan A.json B.json --eval A.json B.json``.
Exit code 0 when everything given is identical, 1 otherwise; prints one line per comparison.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from autofocuspull.io import iter_frames, probe


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def same_video(a: str, b: str) -> tuple[bool, str]:
    ia, ib = probe(a), probe(b)
    if ia.n_frames != ib.n_frames:
        return False, f"{ia.n_frames} vs {ib.n_frames} frames"
    worst = 0
    for fa, fb in zip(iter_frames(a, ia), iter_frames(b, ib), strict=True):
        if fa.t_s != fb.t_s:
            return False, f"frame {fa.index}: time {fa.t_s} vs {fb.t_s}"
        worst = max(worst, int(np.abs(fa.rgb.astype(np.int16) - fb.rgb.astype(np.int16)).max()))
    return worst == 0, f"{ia.n_frames} frames, largest pixel difference {worst}"


def same_plan(a: str, b: str) -> tuple[bool, str]:
    pa, pb = _load(a), _load(b)
    keys = ("frames", "pulls", "subjects", "cuts_s", "depth_source")
    diff = [k for k in keys if pa.get(k) != pb.get(k)]
    return not diff, "identical frames, pulls, subjects, cuts" if not diff else f"differ in {diff}"


def same_eval(a: str, b: str) -> tuple[bool, str]:
    ea, eb = _load(a), _load(b)
    same = ea["clips"] == eb["clips"] and ea["mean"] == eb["mean"]
    return same, f"{len(ea['clips'])} clips, mean target_accuracy {ea['mean']['target_accuracy']}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", nargs=2, action="append", default=[], metavar=("A", "B"))
    ap.add_argument("--plan", nargs=2, action="append", default=[], metavar=("A", "B"))
    ap.add_argument("--eval", nargs=2, action="append", default=[], metavar=("A", "B"))
    args = ap.parse_args(argv)
    ok = True
    for kind, fn in (("video", same_video), ("plan", same_plan), ("eval", same_eval)):
        for a, b in getattr(args, kind):
            same, detail = fn(a, b)
            ok &= same
            print(f"{'SAME' if same else 'DIFFERENT':<9} {kind:<5} {a} vs {b}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
