"""Identity over whole clips: subject tracks per clip with and without appearance re-identification.

Runs the perception pass (YuNet faces, YOLOX-nano objects, salient proposals, tracking) over real
clips from ../shared and builds the subjects twice from the same tracked detections: with the
tracker's ids as they are, and after :func:`autofocuspull.perception.reid.stitch`. Prints, per clip,
the subjects by label (only those on screen at least ``--min-s`` seconds) and how many frames the
longest one covers, so that "one product, one id" and "one person, one id" can be read off.

    python eval/bench_identity.py [--clips box_in_hand.mp4 dev/hand_shows_pillow_to_camera.mp4 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from autofocuspull.io import iter_frames, probe
from autofocuspull.perception.detect import build_face_detector, build_object_detector
from autofocuspull.perception.subjects import Perceiver, PerceiverConfig, build_subject_tracks

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CLIPS = [
    "box_in_hand.mp4",
    "dev/hand_shows_pillow_to_camera.mp4",
    "dev/hand_coffee_pour_kettle_mug.mp4",
    "dev/skateboarding_dog_vertical.mp4",
    "dev/aquarium_whale_shark_crowd_silhouettes.mp4",
    "dev/highway_traffic_overpass.mp4",
    "people_one_by_one.mp4",
]


def summarise(tracks, fps: float, min_s: float) -> dict:
    long = [s for s in range(len(tracks)) if tracks.present[s].sum() >= min_s * fps]
    labels = Counter(tracks.label[s] for s in long)
    by_label = {}
    for lab in labels:
        rows = [s for s in long if tracks.label[s] == lab]
        union = tracks.present[rows].any(axis=0).sum()
        longest = float(tracks.present[rows].sum(1).max() / union)
        by_label[lab] = {"tracks": len(rows), "longest_covers": longest}
    return {"subjects": len(long), "by_label": by_label}


def run(name: str, max_side: int, min_s: float) -> dict:
    path = SHARED / "footage" / name
    info = probe(path)
    fps = float(info.frame_rate)
    faces = build_face_detector("yunet", SHARED / "models" / "yunet_n_320_320.onnx")
    objects = build_object_detector(model_path=SHARED / "models" / "yolox_nano.onnx")
    aw = min(max_side, max(info.width, info.height))
    cfg = PerceiverConfig()
    per = Perceiver(faces, objects, fps=fps, image_size=(info.width, info.height),
                    scale=max(info.width, info.height) / aw, config=cfg)
    for f in iter_frames(path, info, max_side=max_side):
        per.update(f)
    stitched, cuts = per.finish(info.n_frames)
    raw = build_subject_tracks(per.tracker_detections, info.n_frames, image_size=(info.width, info.height),
                               fps=fps, config=cfg.subjects)
    return {"clip": name, "cuts": cuts, "tracker_ids": summarise(raw, fps, min_s),
            "reidentified": summarise(stitched, fps, min_s)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", default=CLIPS)
    ap.add_argument("--max-side", type=int, default=640, help="analysis size, as the pipeline's default")
    ap.add_argument("--min-s", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = [run(c, a.max_side, a.min_s) for c in a.clips]
    if a.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(r["clip"], "cuts", r["cuts"])
        for k in ("tracker_ids", "reidentified"):
            parts = ", ".join(f"{lab} x{v['tracks']} (longest {v['longest_covers']:.0%})"
                              for lab, v in sorted(r[k]["by_label"].items()))
            print(f"   {k:13s} {r[k]['subjects']:2d} subjects: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
