"""Cut detection cross-test: PySceneDetect's AdaptiveDetector alone against our detector (the
library's candidates and our two vetoes, :mod:`autofocuspull.perception.cuts`).

Per clip with hand-checked cuts (``eval/cuts_truth.json``, real footage from ../shared), three
versions of the same frames are scored:

- ``orig``: the clip as decoded;
- ``anim-avi``: drawn with one 8-colour palette for the whole clip and cel-flattened (how
  animation looks to a detector: every shot painted from the same colours), written as MPEG-4 Part 2
  in an AVI and read back through our reader -- the "animated MPEG-4 AVI" failure of issue 11;
- ``occluded``: a dark vehicle-sized block crosses the foreground in 2 or 3 frames in the middle
  of every shot longer than 2 s (no cut there: every detection near it is a false cut).

Both detectors see the same RGB frames (our reader, ``--max-side`` px). A predicted cut is a true
positive when it lies within ``tolerance_frames`` of a true one (one-to-one). Prints precision,
recall and false cuts per clip and version, and the pooled totals; ``--json`` prints JSON only.

    python eval/bench_cuts.py [--clips a.mp4 b.mp4] [--uncut] [--max-side 320] [--json]

``--uncut`` runs the single-take clips listed in the truth file instead (no cut in them: every
detection is a false cut, on real handheld motion, pans, a hand over the lens, passing traffic).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from autofocuspull.core.types import Frame
from autofocuspull.io import iter_frames, probe
from autofocuspull.io.synth import clip_palette, cross_occluder, posterize, write_clip
from autofocuspull.perception.cuts import detect_cuts, detect_cuts_library

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT.parent / "shared" / "footage"
TRUTH = Path(__file__).with_name("cuts_truth.json")

DETECTORS = {
    "ours": detect_cuts,
    "pyscenedetect": detect_cuts_library,
}


def clip_path(name: str) -> Path:
    for p in (FOOTAGE / name, FOOTAGE / "dev" / name):
        if p.exists():
            return p
    raise SystemExit(f"{name}: not in {FOOTAGE} or {FOOTAGE / 'dev'}")


def truth_frames(pts_s: np.ndarray, cuts_s: list[float]) -> list[int]:
    """First frame of each new shot: the frame whose time is nearest the listed time."""
    return [int(np.argmin(np.abs(pts_s - t))) for t in cuts_s]


def animated_avi(frames: list[Frame], fps: float, folder: Path) -> list[Frame]:
    """The frames posterized with one palette, through an MPEG-4 Part 2 AVI and back."""
    pal = clip_palette([f.rgb for f in frames])
    path = folder / "animated.avi"
    even = [f.rgb[: f.rgb.shape[0] // 2 * 2, : f.rgb.shape[1] // 2 * 2] for f in frames]
    # 4 Mbit/s: a well-encoded file (a starved encoder's keyframe pulsing is another problem)
    write_clip(path, (posterize(im, pal) for im in even), rate=fps, codec="mpeg4", options={"b": "4M"})
    return list(iter_frames(path, probe(path)))


def occluded(frames: list[Frame], cuts: list[int], fps: float) -> tuple[list[Frame], list[int]]:
    """A 2- or 3-frame foreground crossing in the middle of every shot longer than 2 s."""
    out = [Frame(f.index, f.t_s, f.rgb) for f in frames]
    bounds = [0, *cuts, len(frames)]
    where = []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        if b - a < 2 * fps:
            continue
        n, mid = 2 + k % 2, (a + b) // 2
        for step in range(n):
            out[mid + step] = Frame(mid + step, frames[mid + step].t_s,
                                    cross_occluder(frames[mid + step].rgb, step, n, seed=k))
        where.append(mid)
    return out, where


def score(pred: list[int], truth: list[int], tol: int) -> dict:
    left = list(truth)
    tp = 0
    for p in sorted(pred):
        hit = [t for t in left if abs(t - p) <= tol]
        if hit:
            left.remove(min(hit, key=lambda t: abs(t - p)))
            tp += 1
    fp, fn = len(pred) - tp, len(truth) - tp
    return {"tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0}


def _variants(name: str, max_side: int, cache: Path | None):
    """(fps, truth, {variant: frames}, occluder frames) of a clip, cached as .npy when asked."""
    spec = json.loads(TRUTH.read_text())
    path = clip_path(name)
    info = probe(path)
    fps = float(info.frame_rate)
    truth = truth_frames(info.pts_s, spec["clips"].get(name, []))  # "uncut" clips: no cut
    files = {v: cache / f"{name}.{max_side}.{v}.npy" for v in ("orig", "anim-avi")} if cache else {}
    if files and all(f.exists() for f in files.values()):
        arr = {v: np.load(f) for v, f in files.items()}
        got = {v: [Frame(i, float(info.pts_s[i]), a[i]) for i in range(len(a))] for v, a in arr.items()}
    else:
        frames = list(iter_frames(path, info, max_side=max_side))
        with tempfile.TemporaryDirectory(prefix="bench-cuts-") as tmp:
            got = {"orig": frames, "anim-avi": animated_avi(frames, fps, Path(tmp))}
        for v, f in files.items():
            np.save(f, np.stack([x.rgb for x in got[v]]))
    occ, occ_at = occluded(got["orig"], truth, fps)
    got["occluded"] = occ
    return fps, truth, got, occ_at


def run(clips: list[str], max_side: int, cache: Path | None = None) -> list[dict]:
    tol = int(json.loads(TRUTH.read_text())["tolerance_frames"])
    rows = []
    for name in clips:
        fps, truth, got, occ_at = _variants(name, max_side, cache)
        for variant, fr in got.items():
            for det, fn in DETECTORS.items():
                t0 = time.perf_counter()
                pred = fn(fr, fps)
                dt = time.perf_counter() - t0
                s = score(pred, truth, tol)
                rows.append({"clip": name, "variant": variant, "detector": det, **s,
                             "pred": pred, "truth": truth,
                             "occluders_at": occ_at if variant == "occluded" else [],
                             "s_per_frame": dt / len(fr)})
    return rows


def totals(rows: list[dict]) -> dict:
    out = {}
    for det in DETECTORS:
        for variant in ("orig", "anim-avi", "occluded"):
            r = [x for x in rows if x["detector"] == det and x["variant"] == variant]
            tp, fp, fn = (sum(x[k] for x in r) for k in ("tp", "fp", "fn"))
            out[f"{det}/{variant}"] = {"tp": tp, "fp": fp, "fn": fn,
                                       "precision": tp / (tp + fp) if tp + fp else 1.0,
                                       "recall": tp / (tp + fn) if tp + fn else 1.0}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", default=None)
    ap.add_argument("--uncut", action="store_true", help="the single-take clips instead: false cuts only")
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--frames-cache", type=Path, default=None, help="keep decoded versions here (.npy)")
    a = ap.parse_args(argv)
    spec = json.loads(TRUTH.read_text())
    clips = a.clips or (spec["uncut"] if a.uncut else list(spec["clips"]))
    rows = run(clips, a.max_side, a.frames_cache)
    tot = totals(rows)
    if a.json:
        print(json.dumps({"rows": rows, "totals": tot}))
        return 0
    print(f"{'clip':42s} {'version':9s} {'detector':14s}  P     R     FP FN  predicted (truth)")
    for r in rows:
        print(f"{r['clip'][:42]:42s} {r['variant']:9s} {r['detector']:14s} {r['precision']:.2f}  "
              f"{r['recall']:.2f}  {r['fp']:2d} {r['fn']:2d}  {r['pred']} ({r['truth']})")
    print()
    for k, v in tot.items():
        print(f"{k:26s} P {v['precision']:.2f}  R {v['recall']:.2f}  FP {v['fp']}  FN {v['fn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
