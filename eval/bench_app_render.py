"""The app's full-size render by pieces: what an edit costs against a whole render of the clip.

    python eval/bench_app_render.py [CLIP] [--piece-s 2.0] [--json OUT.json]

On a real clip (default: a 20 s dialogue two-shot of the development set, 640x360), analysed as
``autofocuspull app`` does (the real detectors from ../shared/models; depth falls back to the
heuristic where no depth weights are reachable, which changes what is blurred, not the render's
cost), in one process:

1. ``pieces_first``: the app's first full render (every piece rendered, then joined; run first, it
   pays the process's warm-up);
2. ``baseline``: ``pipeline.render_clip`` of the whole clip in one pass (what the app did before),
   then ``pieces``: the full render again from no pieces;
3. ``unchanged``: the same again with nothing edited (every piece reused: the join alone);
4. ``retime``: the first pull started 0.3 s earlier, then a full render (only the pieces covering
   the changed frames re-rendered); ``decision``: the same after a weak decision mid-clip.

Prints wall and CPU seconds (of all this process's threads), the CPU seconds as a ratio to
``baseline``'s (the machine is shared: wall times there vary several-fold with the other jobs'
load, CPU time much less; the ratios are what to read), the pieces rendered and reused, the output
sizes (a keyframe per piece costs bits) and how long a whole-clip re-plan takes (the app re-plans
the whole clip on every edit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from autofocuspull import pipeline  # noqa: E402
from autofocuspull.app import open_session  # noqa: E402
from autofocuspull.app.session import AppConfig  # noqa: E402
from autofocuspull.config import RunConfig  # noqa: E402
from autofocuspull.pipeline import RackConfig  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "footage" / "dev" / "standup_duo_two_shot_subtitled.mp4"


def wait_full(session) -> dict:
    while session.status()["full_render"]["state"] == "running":
        time.sleep(0.2)
    fr = session.status()["full_render"]
    if fr["state"] != "done":
        raise SystemExit(f"full render failed: {fr}")
    return fr


def timed_full(session) -> tuple[tuple[float, float], dict, Path]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = session.start_full_render()
    fr = wait_full(session)
    return (time.perf_counter() - t0, time.process_time() - c0), fr, out


def piece_row(secs: tuple[float, float], fr: dict, base: tuple[float, float]) -> dict:
    return {"wall_s": round(secs[0], 2), "cpu_s": round(secs[1], 2), "cpu_ratio": round(secs[1] / base[1], 3),
            **{k: fr[k] for k in ("pieces", "rendered", "reused", "frames_rendered")}}  # fmt: skip


def edit_row(session, span: tuple[int, int], base: tuple[float, float]) -> dict:
    secs, fr, _ = timed_full(session)
    return {"span": list(span), **piece_row(secs, fr, base)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--piece-s", type=float, default=AppConfig.full_piece_s)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cache", type=Path, help="analysis cache to keep between runs (default: a temp folder)")
    args = ap.parse_args()
    clip_src = Path(args.clip)
    if not clip_src.is_file():
        raise SystemExit(f"{clip_src}: no such clip (../shared/footage/dev holds the development set)")
    with tempfile.TemporaryDirectory(prefix="bench-app-render-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "shoot"
        folder.mkdir()
        clip = folder / clip_src.name
        clip.symlink_to(clip_src.resolve())
        cache = args.cache or tmp / "cache"
        for old in cache.glob("clips/*/app-pieces-*"):  # a kept cache: start from no pieces
            shutil.rmtree(old)
        os.environ["AUTOFOCUSPULL_CACHE"] = str(cache)  # the model links and the analysis
        from batch_helpers import link_models

        link_models()
        cfg = RackConfig(run=RunConfig(cache_dir=str(cache)),
                         app=AppConfig(full_piece_s=args.piece_s))  # fmt: skip
        t0 = time.perf_counter()
        session = open_session(clip, tmp / "plan.json", cfg)
        analyse_s = time.perf_counter() - t0
        try:
            rows = run(session, tmp, clip)
        finally:
            session.stop()
    rows["analyse_s"] = round(analyse_s, 1)
    rows["clip"] = clip_src.name
    rows["piece_s"] = args.piece_s
    print(json.dumps(rows, indent=1))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


def run(session, tmp: Path, clip: Path) -> dict:
    info = session.analysis.info
    rows: dict = {"frames": info.n_frames, "size": [info.width, info.height]}
    secs, fr, out = timed_full(session)  # first: pays the warm-up (and hashes the depth) itself
    t0, c0 = time.perf_counter(), time.process_time()
    whole = pipeline.render_clip(clip, session.plan, tmp / "whole.mp4", session.cfg,
                                 session.analysis.depth, info)  # fmt: skip
    base = (time.perf_counter() - t0, time.process_time() - c0)
    rows["baseline"] = {"wall_s": round(base[0], 2), "cpu_s": round(base[1], 2)}
    rows["pieces_first"] = piece_row(secs, fr, base)
    for f in session.pieces.folder.glob("*.mp4"):  # again from no pieces, warm as the baseline was
        f.unlink()
    secs, fr, out = timed_full(session)
    rows["pieces"] = piece_row(secs, fr, base)
    secs, fr, out = timed_full(session)
    rows["unchanged"] = piece_row(secs, fr, base)
    rows["bytes"] = {"whole": whole.stat().st_size, "pieces": out.stat().st_size}
    t0 = time.perf_counter()
    session._planned()
    rows["replan_s"] = round(time.perf_counter() - t0, 3)
    moves = [i for i, p in enumerate(session.plan.pulls) if p.end_s > p.start_s]
    if moves:  # the commonest fix: a pull started 0.3 s earlier
        p = session.plan.pulls[moves[0]]
        rows["retime"] = edit_row(session, session.retime(moves[0], p.start_s - 0.3, p.end_s), base)
    mid = float(info.pts_s[info.n_frames // 2])
    now = int(session.plan.subject_id[info.n_frames // 2])
    others = [int(i) for i in session.plan.subjects.track_id if int(i) != now]
    if others:  # a weak decision: holds until the next automatic one
        rows["decision"] = edit_row(session, session.add_decision(mid, others[0], None, "weak"), base)
    return rows


if __name__ == "__main__":
    main()
