"""What analysing a long clip in pieces changes: plans from the one-task analysis and from the
pieces' joined analysis (``BatchConfig.analysis_piece_s``), scored against the clips' grades.

    python eval/bench_pieces.py [CLIP ...] [--piece-s 5 3] [--json OUT.json]

For each dev clip (default: two with shot cuts) and each piece length: the pieces (how many end at
a cut), the metrics of ``autofocuspull eval`` for both plans, the fraction of frames whose focus
target and focus distance (within 2 %) agree, the subject counts, and the size of the lossless piece
clips against the source's. The pieces are analysed one after the other here (in a batch they are
parallel tasks); each run uses its own analysis cache, so nothing is shared between the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "eval")]

from bench_batch import link_models  # noqa: E402

from autofocuspull import pipeline  # noqa: E402
from autofocuspull.config import RackConfig, RunConfig  # noqa: E402
from autofocuspull.evaluate import load_grades, score_plan  # noqa: E402
from autofocuspull.io import probe  # noqa: E402
from autofocuspull.io.segments import split_frames  # noqa: E402

DEV = REPO.parent / "shared" / "footage" / "dev"
GRADES = REPO / "eval" / "grades" / "dev"
DEFAULT = ["tv_talkshow_interview_cuts", "titanic_bow_scene_cuts"]


def relabelled(plan, reference) -> np.ndarray:
    """``plan.subject_id`` in ``reference``'s ids (each id to the reference id it shares most frames with)."""
    mapping = {-1: -1}
    for sid in set(plan.subject_id.tolist()) - {-1}:
        ref = reference.subject_id[plan.subject_id == sid]
        mapping[sid] = int(np.bincount(ref[ref >= 0]).argmax()) if (ref >= 0).any() else -1
    return np.array([mapping[s] for s in plan.subject_id.tolist()])


def agreement(a, b) -> dict:
    """Frames where the piece plan ``a`` targets the subject ``b`` does (ids matched), and frames
    where its focus distance is within 2 % of ``b``'s."""
    same_target = float(np.mean(relabelled(a, b) == b.subject_id))
    rel = np.abs(a.focus_m - b.focus_m) / np.maximum(np.abs(b.focus_m), 1e-6)
    return {"same_target": round(same_target, 4), "focus_within_2pct": round(float(np.mean(rel <= 0.02)), 4)}


def one_clip(stem: str, piece_lengths: list[float], work: Path, mask_every: int | None) -> list[dict]:
    clip = DEV / f"{stem}.mp4"
    grades = load_grades(GRADES / f"{stem}.grades.json")
    base = RackConfig()
    if mask_every is not None:
        p = base.perception
        every = dataclasses.replace(p.perceiver, mask_every=mask_every)
        base = dataclasses.replace(base, perception=dataclasses.replace(p, perceiver=every))
    whole_cfg = dataclasses.replace(base, run=RunConfig(cache_dir=str(work / f"{stem}-whole")))
    whole, whole_a = pipeline.plan_clip(clip, whole_cfg)
    scores = score_plan(whole, grades)
    rows = []
    for piece_s in piece_lengths:
        cfg = dataclasses.replace(base, run=RunConfig(cache_dir=str(work / f"{stem}-{piece_s:g}")))
        info = probe(clip)
        cuts = pipeline.detect_clip_cuts(clip, cfg)
        pieces = split_frames(info.pts_s, cuts, piece_s)
        for a, b in pieces:
            pipeline.analyse_piece(clip, a, b, cfg)
        joined = pipeline.analyse_in_pieces(clip, pieces, cuts, cfg)
        plan = pipeline.plan_from_analysis(joined, cfg)
        piece_bytes = sum(pipeline.piece_clip(clip, info, a, b, cfg).stat().st_size for a, b in pieces)
        row = {
            "clip": stem,
            "piece_s": piece_s,
            "mask_every": base.perception.perceiver.mask_every,
            "pieces": [[a, b] for a, b in pieces],
            "boundaries_at_cuts": sum(b in cuts for _, b in pieces[:-1]),
            "boundaries": len(pieces) - 1,
            "cuts_whole": whole_a.cut_frames,
            "cuts_prepass": cuts,
            "subjects_whole": len(whole_a.tracks),
            "subjects_pieces": len(joined.tracks),
            "pulls_whole": len(whole.pulls),
            "pulls_pieces": len(plan.pulls),
            **agreement(plan, whole),
            "metrics_whole": scores,
            "metrics_pieces": score_plan(plan, grades),
            "piece_clips_over_source_bytes": round(piece_bytes / clip.stat().st_size, 2),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=DEFAULT)
    ap.add_argument("--piece-s", type=float, nargs="+", default=[5.0, 3.0])
    ap.add_argument("--mask-every", type=int, default=None, help="person masks every k-th frame")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    link_models(Path(os.environ.get("AUTOFOCUSPULL_CACHE", Path.home() / ".cache" / "autofocuspull")))
    with tempfile.TemporaryDirectory(prefix="bench-pieces-") as d:
        rows = [r for stem in args.clips for r in one_clip(stem, args.piece_s, Path(d), args.mask_every)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
