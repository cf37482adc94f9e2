"""Focus breathing of subject distances on real clips: the distance filter against the one before it.

For each clip the pipeline's own analysis runs (perception, person masks, depth: the heuristic
depth here, as no depth weights are reachable), then every subject's raw readings
(:func:`autofocuspull.perception.distance.raw_subject_distances`) are filtered twice:

- ``before``: the previous filter (commit 8ab29de): a 5-frame median and a zero-phase EMA of
  0.2 s, in metres, per run of readings; NaN frames split runs (what the planner then fills from
  the nearest frame);
- ``after``: :func:`autofocuspull.perception.distance.smooth_distance` as the pipeline calls it.

Per clip: reversals of at least 2 px of blur (default lens, the clip's width) per minute of each
subject on screen for at least 3 s, summed; and frames in which a present subject's distance is
within 20 % of the background plane (a fall to the background). The planner's holds follow these
distances, so they are the breathing a hold shows.

    python eval/bench_breathing.py [--clips ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from autofocuspull.core.arrays import fill_nearest
from autofocuspull.core.hub import MODEL_CARDS, cache_dir
from autofocuspull.core.types import Lens
from autofocuspull.io import probe
from autofocuspull.perception.distance import (
    DistanceConfig,
    blur_px_per_dioptre,
    count_reversals,
    raw_subject_distances,
    smooth_distance,
    zero_phase_ema,
)
from autofocuspull.pipeline import RackConfig, estimate_depth, perceive

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CLIPS = [
    "carphone.mp4",
    "box_in_hand.mp4",
    "dev/talking_head_guardian_interview.mp4",
    "dev/talking_head_weekly_address_katie_hill.mp4",
    "dev/street_interview_two_shot.mp4",
    "dev/hand_shows_pillow_to_camera.mp4",
    "dev/kids_jumping_on_bed.mp4",
]


def before_filter(d: np.ndarray, fps: float, cuts: list[int]) -> np.ndarray:
    """The filter before this one: 5-frame median + 0.2 s zero-phase EMA per finite run (metres)."""
    present = np.isfinite(d)
    breaks = np.zeros(len(d), bool)
    breaks[[c for c in cuts if 0 <= c < len(d)]] = True
    run_id = np.cumsum(breaks | ~present)
    out = np.full(len(d), np.nan)
    alpha = 1.0 - np.exp(-1.0 / (0.2 * fps))
    for r in np.unique(run_id[present]):
        idx = np.flatnonzero((run_id == r) & present)
        out[idx] = zero_phase_ema(median_filter(d[idx], size=min(5, len(idx)), mode="nearest"), alpha)
    return out


def link_models() -> None:
    """The real weights from ../shared where the pipeline's download cache looks for them."""
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("yunet", "yolox-nano", "deeplabv3"):
        dst = models / MODEL_CARDS[name].filename
        if not dst.exists():
            dst.symlink_to(SHARED / "models" / MODEL_CARDS[name].filename)


def run(name: str, min_s: float) -> dict:
    path = str(SHARED / "footage" / name)
    info = probe(path)
    fps, cfg, warnings = float(info.frame_rate), RackConfig(), []
    tracks, cuts, masks = perceive(path, info, cfg, warnings)
    depth, _ = estimate_depth(path, info, tracks, cuts, cfg, warnings, masks)
    hw = (info.height, info.width)
    mask_at = masks.prob_at if len(masks) else None
    raw = raw_subject_distances(tracks, depth.depth_m_at, hw, person_mask_at=mask_at)
    k = blur_px_per_dioptre(Lens(), info.width)
    background = float(np.nanmax(depth.depth_m_at(0)))
    present = tracks.present | tracks.has_face
    out = {"clip": name, "minutes": info.n_frames / fps / 60.0, "subjects": 0}
    for key in ("before", "after", "raw"):
        out[key] = {"reversals": 0, "background_frames": 0}
    for s in range(len(tracks)):
        if present[s].sum() < min_s * fps:
            continue
        out["subjects"] += 1
        series = {
            "raw": raw[s],
            "before": fill_nearest(before_filter(raw[s], fps, cuts), present[s]),  # as the planner fills
            "after": smooth_distance(raw[s], fps, DistanceConfig(), cuts, present=present[s],
                                     label=tracks.label[s], px_per_dioptre=k),
        }
        for key, d in series.items():
            d = np.where(present[s], d, np.nan)
            out[key]["reversals"] += count_reversals(1.0 / d, 2.0 / k)
            out[key]["background_frames"] += int(np.sum(d > 0.8 * background))
    for key in ("before", "after", "raw"):
        out[key]["reversals_per_min"] = out[key]["reversals"] / out["minutes"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", default=CLIPS)
    ap.add_argument("--min-s", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    link_models()
    rows = [run(c, a.min_s) for c in a.clips]
    if a.json:
        print(json.dumps(rows))
        return 0
    print(f"{'clip':48s} subj  reversals>=2px/min raw / before / after   "
          "background frames raw / before / after")
    for r in rows:
        rv = " / ".join(f"{r[k]['reversals_per_min']:5.1f}" for k in ("raw", "before", "after"))
        bg = " / ".join(f"{r[k]['background_frames']:4d}" for k in ("raw", "before", "after"))
        print(f"{r['clip'][:48]:48s} {r['subjects']:3d}   {rv}            {bg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
