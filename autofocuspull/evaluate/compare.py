"""How far one plan of a clip departs from another plan of the same clip (e.g. fast vs slow path).

Track ids are not stable across runs (a different detector stride starts tracks in another
order), so subjects are matched by their boxes: each subject of ``plan`` maps to the subject of
``ref`` whose box overlaps it most (mean IoU over the frames where both are present, at least
``min_iou``). The figures:

* ``same_subject``: fraction of frames whose focused subject is the matched one (both "no
  subject" counts as the same);
* ``dioptre_median`` / ``dioptre_p95``: focus distance error |1/d - 1/d_ref| in dioptres, which is
  how far out of focus the difference puts the subject (depth of field is roughly constant in
  dioptres, not metres);
* ``dioptre_median_holds`` / ``dioptre_p95_holds``: the same over the frames outside every pull of
  either plan (during a rack focus sweeps a wide range, so a pull a frame later is a large error
  for a frame or two; ``onset_max_s`` measures that instead);
* ``n_pulls`` / ``n_pulls_ref``; ``onset_max_s``: the largest |start difference| of the pulls
  paired in order (0 when neither plan has a pull: nothing starts at another time; NaN when the
  counts differ).
"""

from __future__ import annotations

import numpy as np

from autofocuspull.core.types import FocusPlan


def _iou_series(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame IoU of two (T, 4) xyxy box series (NaN where either is absent)."""
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def match_subjects(plan: FocusPlan, ref: FocusPlan, min_iou: float = 0.3) -> dict[int, int]:
    """``{plan track id: ref track id}`` by largest mean box IoU (>= ``min_iou``) over shared frames."""
    if plan.n_frames != ref.n_frames:
        raise ValueError(f"match_subjects: plans of {plan.n_frames} and {ref.n_frames} frames")
    out: dict[int, int] = {}
    for i, tid in enumerate(plan.subjects.track_id):
        best, best_iou = -1, min_iou
        for j, rid in enumerate(ref.subjects.track_id):
            iou = _iou_series(plan.subjects.xyxy[i], ref.subjects.xyxy[j])
            if np.isfinite(iou).any() and np.nanmean(iou) >= best_iou:
                best, best_iou = int(rid), float(np.nanmean(iou))
        if best >= 0:
            out[int(tid)] = best
    return out


def plan_agreement(plan: FocusPlan, ref: FocusPlan) -> dict[str, float]:
    """The figures of the module doc for ``plan`` against ``ref`` (same clip, same frames)."""
    mapping = match_subjects(plan, ref)
    mapped = np.array([mapping.get(int(s), -2) if s >= 0 else -1 for s in plan.subject_id])
    same = float(np.mean(mapped == np.asarray(ref.subject_id)))
    err = np.abs(1.0 / plan.focus_m.astype(np.float64) - 1.0 / ref.focus_m.astype(np.float64))
    t = np.asarray(plan.times_s)
    racking = np.zeros(len(t), bool)
    for p in [*plan.pulls, *ref.pulls]:
        racking |= (t >= p.start_s) & (t <= p.end_s)
    held = err[~racking] if (~racking).any() else err
    onsets = [abs(a.start_s - b.start_s) for a, b in zip(plan.pulls, ref.pulls, strict=False)]
    same_count = len(plan.pulls) == len(ref.pulls)
    return {
        "same_subject": same,
        "dioptre_median": float(np.median(err)),
        "dioptre_p95": float(np.percentile(err, 95)),
        "dioptre_median_holds": float(np.median(held)),
        "dioptre_p95_holds": float(np.percentile(held, 95)),
        "n_pulls": float(len(plan.pulls)),
        "n_pulls_ref": float(len(ref.pulls)),
        "onset_max_s": (float(max(onsets)) if onsets else 0.0) if same_count else float("nan"),
    }
