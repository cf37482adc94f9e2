"""Per-face precision and recall of "speaking" by face height, on the graded dialogue clips.

Ground truth, from the grades (graded turn by turn from the audio and the mouths): a face track
speaks on a frame when the graded subject it belongs to holds focus then (a hold) and the
soundtrack has voice there (silero voice activity > 0.5). A track belongs to the graded subject
whose box holds the track's focus point on most of the frames both are seen (at least half).
Prediction: what the planner thresholds, ``speaking * voice activity > 0.5``, with Light-ASD
alone and with the whole-clip voice diarisation fused in (:mod:`autofocuspull.cues.voices`).

Usage: ``python eval/bench_speakers.py DATASET_DIR [--clips stem ...] [--json OUT]`` (the analysis
snapshots are built or reused as ``autofocuspull fit`` does; DATASET_DIR from eval/build_dataset.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from autofocuspull.cues.voices import VoiceConfig, build_voice_encoder, diarise, embed_speech_windows
from autofocuspull.evaluate.dataset import find_graded_clips
from autofocuspull.evaluate.grades import load_grades
from autofocuspull.evaluate.metrics import point_in_box
from autofocuspull.evaluate.snapshot import snapshot_clip

HEIGHT_BINS_PX = (0, 40, 80, 160, 100000)
DIALOGUE = ("dialogue-1shot", "dialogue-edited", "composited-dialogue", "talking-head")


def track_subjects(snap, grades) -> dict[int, str]:
    """Track row -> graded subject name (its focus point inside the subject's box on >= half the
    frames both are seen)."""
    tr, times = snap.tracks, snap.cues.times_s
    xy = tr.focus_xy
    out = {}
    for s in range(len(tr)):
        frames = np.flatnonzero(tr.has_face[s])
        best, best_frac = None, 0.0
        for name in grades.subjects:
            both = hits = 0
            for t in frames[:: max(1, len(frames) // 60)]:
                box = grades.box_at(name, float(times[t]))
                if box is None:
                    continue
                both += 1
                hits += point_in_box(xy[s, t], box)
            frac = hits / both if both else 0.0
            if frac > best_frac:
                best, best_frac = name, frac
        if best is not None and best_frac >= 0.5:
            out[s] = best
    return out


def truth(snap, grades, subjects: dict[int, str]) -> np.ndarray:
    """(S, T) bool ground-truth speaking per face track (see the module docstring)."""
    times = snap.cues.times_s
    holder = np.array([""] * len(times), dtype=object)
    for h in grades.holds:
        holder[(times >= h.start_s) & (times < h.end_s)] = h.subject
    speech = snap.cues.speech_prob > 0.5
    gt = np.zeros((len(snap.tracks), len(times)), bool)
    for s, name in subjects.items():
        gt[s] = (holder == name) & speech
    return gt


def counts(pred: np.ndarray, gt: np.ndarray, has_face: np.ndarray, heights: np.ndarray, rows) -> np.ndarray:
    """(bins, 3) true positives, predicted, actual over the face frames of ``rows``, by face height."""
    out = np.zeros((len(HEIGHT_BINS_PX) - 1, 3), np.int64)
    for s in rows:
        m = has_face[s]
        b = np.digitize(heights[s, m], HEIGHT_BINS_PX) - 1
        for k in range(len(HEIGHT_BINS_PX) - 1):
            sel = b == k
            p, g = pred[s, m][sel], gt[s, m][sel]
            out[k] += [int((p & g).sum()), int(p.sum()), int(g.sum())]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--clips", nargs="*", default=None, help="stems (default: the dialogue categories)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cats_path = args.dataset / "categories.json"
    cats = json.loads(cats_path.read_text()) if cats_path.is_file() else {}
    encoder = build_voice_encoder()
    cfg = VoiceConfig()
    total = {"asd": 0, "fused": 0}
    report: dict = {"bins_px": list(HEIGHT_BINS_PX), "clips": {}}
    sums = {k: np.zeros((len(HEIGHT_BINS_PX) - 1, 3), np.int64) for k in total}
    for stem, gpath, video in find_graded_clips(args.dataset):
        if args.clips is not None and stem not in args.clips:
            continue
        if args.clips is None and cats.get(stem) not in DIALOGUE:
            continue
        snap, grades = snapshot_clip(video), load_grades(gpath)
        if snap.audio_16k is None or not len(snap.tracks):
            continue
        subjects = track_subjects(snap, grades)
        gt = truth(snap, grades, subjects)
        heights = snap.tracks.face_xyxy[..., 3] - snap.tracks.face_xyxy[..., 1]
        vad = snap.cues.speech_prob[None, :]
        preds = {"asd": snap.cues.speaking * vad > 0.5}
        if encoder is not None:
            win = embed_speech_windows(snap.audio_16k, snap.cues.speech_prob, snap.cues.times_s, encoder, cfg)
            d = diarise(win, snap.cues.speech_prob, snap.cues.times_s, snap.tracks, snap.cues.speaking, cfg)
            preds["fused"] = d.speaking * vad > 0.5
        rows = list(subjects)
        clip = {}
        for k, pred in preds.items():
            c = counts(pred, gt, snap.tracks.has_face, heights, rows)
            sums[k] += c
            tp, np_, ng = c.sum(axis=0)
            clip[k] = {"precision": tp / np_ if np_ else None, "recall": tp / ng if ng else None}
        report["clips"][stem] = clip
        print(stem, json.dumps(clip), flush=True)
    for k, c in sums.items():
        rows = []
        for b in range(len(HEIGHT_BINS_PX) - 1):
            tp, np_, ng = c[b]
            rows.append({
                "face_px": f"{HEIGHT_BINS_PX[b]}-{HEIGHT_BINS_PX[b + 1]}",
                "precision": round(tp / np_, 3) if np_ else None,
                "recall": round(tp / ng, 3) if ng else None,
                "frames_true": int(ng),
            })  # fmt: skip
        report[k] = rows
        print(k, json.dumps(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
