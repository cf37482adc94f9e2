"""Metrics of a focus plan against hand grades (``autofocuspull.grades/1``), exactly as the format defines.

Choices the format leaves to the implementation, fixed here:

- Frames are the plan's frames (``FocusPlan.times_s``). A frame is judged for ``target_accuracy``
  when its time lies in a hold (``start_s <= t < end_s``) and the hold's subject has a box then; it
  is a hit when the plan's ``focus_xy`` is finite and inside that box (edges included).
- A predicted pull's onset is ``Pull.start_s``. "The plan's focus point at the predicted pull's end"
  is ``focus_xy`` at the plan frame nearest ``Pull.end_s`` (the earlier frame on a tie), tested
  against the graded target's box at that frame's time.
- A predicted pull lies across a graded cut ``c`` when ``start_s < c <= end_s`` (it starts in one
  shot and ends in the next); such pulls never match and count as false positives.
- "A change of subject at a cut is not a pull": a zero-length predicted pull (``end_s == start_s``,
  the way a planner may record a hard switch) within one frame interval of a graded cut is a switch
  at that cut. It is not a predicted pull: it is neither matched nor counted (nor in
  ``pulls_per_min``).
- Matching: every (predicted, graded) pair with ``|onset difference| <= 0.5 s`` whose end focus
  point is inside the target's box is a candidate; candidates are taken greedily by smallest onset
  difference (ties: earlier graded pull, then earlier predicted pull), each pull used at most once.
- Clip duration for the per-minute rates: ``plan.video["duration_s"]`` when given, else the span of
  the plan's frame times plus one median frame interval.
- ``reversals_per_min`` (not in the format; what a focus puller never does): focus reversals per
  minute of graded hold time. The plan's focus distance is followed over the frames inside graded
  holds, outside every predicted pull (``start_s <= t <= end_s``) and split at cuts (graded and
  the plan's). A *swing* is a monotone run of focus (in dioptres); a *reversal* is a change of
  direction between two swings that each move focus by at least ``REVERSAL_BLUR_PX`` pixels of
  blur: the circle of confusion (:func:`~autofocuspull.render.optics.coc_px`, with the plan's lens
  ``meta["lens"]``, its per-frame f-number and the clip's width ``video["width"]``) that a point at
  one end of the swing gets with focus at the other. Smaller wiggles (box jitter under the
  threshold) are not counted; one swing out and one back (a pulse) is one reversal. None when no
  frame is in a hold or the plan has no focus distances.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from autofocuspull.core.arrays import frame_interval_s, nearest_index, runs, shot_index
from autofocuspull.core.types import FocusPlan, Lens, Pull
from autofocuspull.evaluate.grades import GradedPull, Grades

METRIC_NAMES: tuple[str, ...] = (
    "target_accuracy",
    "pull_precision",
    "pull_recall",
    "pull_f1",
    "onset_mae_s",
    "pulls_per_min",
    "graded_pulls_per_min",
    "reversals_per_min",
)
ONSET_TOLERANCE_S = 0.5
# 2 px of blur is visible as breathing on a sharp edge at any resolution the tool handles (issue 11
# measured 30 such reversals a minute on a talking head): the threshold of a reversal.
REVERSAL_BLUR_PX = 2.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reversals:
    """Focus reversals inside graded holds: ``frames`` (T,) bool the frames followed, ``at_s`` the
    time of each reversal (the turning point: the first frame at the swing's extreme), ``minutes``
    of hold time followed."""

    frames: np.ndarray
    at_s: list[float]
    minutes: float

    @property
    def per_min(self) -> float | None:
        return len(self.at_s) / self.minutes if self.minutes > 0 else None


@dataclass(frozen=True)
class ScoreDetails:
    """Per-frame and per-pull outcomes behind the metrics (used by the timeline plot).

    ``judged`` (T,) bool frames counted by target_accuracy; ``hit`` (T,) bool judged frames whose
    focus point is inside the graded box; ``target`` (T,) the graded subject per frame ("" outside
    holds); ``matches`` (pull index, graded index, onset difference s); ``counted`` indices into
    ``plan.pulls`` of the predicted pulls (cut switches left out); ``crossing`` indices of predicted
    pulls across a graded cut; ``graded`` the graded pulls; ``duration_s`` the clip's length.
    """

    judged: np.ndarray
    hit: np.ndarray
    target: list[str]
    graded: list[GradedPull]
    matches: list[tuple[int, int, float]]
    counted: list[int]
    crossing: list[int]
    duration_s: float
    reversals: Reversals | None = None

    @property
    def n_predicted(self) -> int:
        """Number of predicted pulls (cut switches left out)."""
        return len(self.counted)

    @property
    def false_positives(self) -> list[int]:
        """Indices of predicted pulls that matched no graded pull."""
        matched = {m[0] for m in self.matches}
        return [i for i in self.counted if i not in matched]

    @property
    def missed(self) -> list[int]:
        """Indices of graded pulls that no predicted pull matched."""
        matched = {m[1] for m in self.matches}
        return [j for j in range(len(self.graded)) if j not in matched]


def point_in_box(xy: np.ndarray, box_xyxy: np.ndarray | None) -> bool:
    """True when the normalised point ``xy`` (2,) is finite and inside ``box_xyxy`` (4,), edges included."""
    if box_xyxy is None or not np.all(np.isfinite(xy)):
        return False
    x, y = float(xy[0]), float(xy[1])
    return bool(box_xyxy[0] <= x <= box_xyxy[2] and box_xyxy[1] <= y <= box_xyxy[3])


def frame_hits(plan: FocusPlan, grades: Grades) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per plan frame: (judged (T,) bool, hit (T,) bool, graded subject name or "")."""
    t_n = plan.n_frames
    judged = np.zeros(t_n, bool)
    hit = np.zeros(t_n, bool)
    target = [""] * t_n
    for hold in grades.holds:
        idx = np.flatnonzero((plan.times_s >= hold.start_s) & (plan.times_s < hold.end_s))
        for i in idx:
            target[i] = hold.subject
            box = grades.box_at(hold.subject, float(plan.times_s[i]))
            if box is None:
                continue
            judged[i] = True
            hit[i] = point_in_box(plan.focus_xy[i], box)
    return judged, hit, target


def nearest_frame(times_s: np.ndarray, t_s: float) -> int:
    """Index of the frame nearest ``t_s`` in sorted ``times_s`` (the earlier one on a tie;
    :func:`~autofocuspull.core.arrays.nearest_index`)."""
    return int(nearest_index(np.asarray(times_s, np.float64), np.array([t_s], np.float64))[0])


def pull_crosses_cut(pull: Pull, cuts_s: tuple[float, ...] | list[float]) -> bool:
    """True when a shot starts inside the pull: ``start_s < c <= end_s`` for some cut ``c``."""
    return any(pull.start_s < c <= pull.end_s for c in cuts_s)


def is_cut_switch(pull: Pull, cuts_s: tuple[float, ...] | list[float], tolerance_s: float) -> bool:
    """True for a zero-length pull within ``tolerance_s`` of a cut: a hard switch, not a pull."""
    return pull.end_s == pull.start_s and any(abs(pull.start_s - c) <= tolerance_s for c in cuts_s)



def counted_pulls(plan: FocusPlan, grades: Grades) -> list[int]:
    """Indices of ``plan.pulls`` that are predicted pulls (switches at graded cuts left out)."""
    tol = frame_interval_s(plan.times_s) + 1e-9
    return [i for i, p in enumerate(plan.pulls) if not is_cut_switch(p, grades.cuts_s, tol)]


def match_pulls(
    plan: FocusPlan, grades: Grades, counted: list[int]
) -> tuple[list[tuple[int, int, float]], list[int]]:
    """Greedy matching of the ``counted`` predicted pulls to graded pulls.

    Returns (matches as (pull index, graded index, |onset difference| s), crossing pull indices).
    """
    graded = grades.pulls
    crossing = [i for i in counted if pull_crosses_cut(plan.pulls[i], grades.cuts_s)]
    candidates = []
    for i in counted:
        pull = plan.pulls[i]
        if i in crossing or plan.n_frames == 0:
            continue
        k = nearest_frame(plan.times_s, pull.end_s)
        for j, g in enumerate(graded):
            d = abs(pull.start_s - g.onset_s)
            if d > ONSET_TOLERANCE_S:
                continue
            if point_in_box(plan.focus_xy[k], grades.box_at(g.to_subject, float(plan.times_s[k]))):
                candidates.append((d, j, i))
    used_pred: set[int] = set()
    used_graded: set[int] = set()
    matches = []
    for d, j, i in sorted(candidates):
        if i in used_pred or j in used_graded:
            continue
        used_pred.add(i)
        used_graded.add(j)
        matches.append((i, j, d))
    return sorted(matches), crossing


def clip_duration_s(plan: FocusPlan) -> float:
    """Clip duration in seconds: ``plan.video["duration_s"]`` or the frame span plus one frame."""
    d = plan.video.get("duration_s") if isinstance(plan.video, Mapping) else None
    if d is not None and np.isfinite(d) and d > 0:
        return float(d)
    t = plan.times_s
    if len(t) < 2:
        raise ValueError("clip duration: plan has fewer than 2 frames and no video.duration_s")
    return float(t[-1] - t[0] + frame_interval_s(t))


def score_details(plan: FocusPlan, grades: Grades) -> ScoreDetails:
    """Everything behind the metrics of ``plan`` against ``grades``."""
    _warn_if_mismatched(plan, grades)
    judged, hit, target = frame_hits(plan, grades)
    counted = counted_pulls(plan, grades)
    matches, crossing = match_pulls(plan, grades, counted)
    return ScoreDetails(
        judged=judged,
        hit=hit,
        target=target,
        graded=grades.pulls,
        matches=matches,
        counted=counted,
        crossing=crossing,
        duration_s=clip_duration_s(plan),
        reversals=focus_reversals(plan, grades),
    )


def _warn_if_mismatched(plan: FocusPlan, grades: Grades) -> None:
    """Loud warning when the grades reach well past the plan's clip (probably the wrong clip)."""
    if plan.n_frames == 0:
        log.warning("eval: the plan has no frames; every graded frame and pull counts as missed")
        return
    last_graded_s = max([h.end_s for h in grades.holds] + list(grades.cuts_s), default=0.0)
    end_s = float(plan.times_s[-1]) + 1.0
    if last_graded_s > end_s:
        log.warning(
            "eval: %s grades reach %.2f s but the plan ends at %.2f s: are these the grades of this clip?",
            grades.path,
            last_graded_s,
            float(plan.times_s[-1]),
        )


def precision_recall_f1(n_matched: int, n_predicted: int, n_graded: int) -> tuple[float, float, float]:
    """Pull precision, recall and F1 with the format's edge cases (nothing predicted/graded)."""
    precision = n_matched / n_predicted if n_predicted else 1.0
    recall = n_matched / n_graded if n_graded else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def metrics_from_details(details: ScoreDetails) -> dict[str, float | None]:
    """The metrics (:data:`METRIC_NAMES`) from :class:`ScoreDetails`."""
    n_judged = int(details.judged.sum())
    accuracy = float(details.hit.sum() / n_judged) if n_judged else None
    precision, recall, f1 = precision_recall_f1(
        len(details.matches), details.n_predicted, len(details.graded)
    )
    mae = float(np.mean([m[2] for m in details.matches])) if details.matches else None
    minutes = details.duration_s / 60.0
    return {
        "target_accuracy": accuracy,
        "pull_precision": precision,
        "pull_recall": recall,
        "pull_f1": f1,
        "onset_mae_s": mae,
        "pulls_per_min": details.n_predicted / minutes,
        "graded_pulls_per_min": len(details.graded) / minutes,
        "reversals_per_min": details.reversals.per_min if details.reversals is not None else None,
    }


def score_plan(plan: FocusPlan, grades: Grades) -> dict[str, float | None]:
    """All metrics of ``plan`` against ``grades`` (None where undefined, e.g. no matched pull)."""
    return metrics_from_details(score_details(plan, grades))


# --------------------------------------------------------------------------------------------
# Focus reversals
# --------------------------------------------------------------------------------------------


def _plan_lens_width(plan: FocusPlan) -> tuple[Lens, int | None]:
    """The plan's lens (``meta["lens"]``, else the default one) and the clip's width in pixels
    (None when the plan does not say)."""
    meta_lens = plan.meta.get("lens") if isinstance(plan.meta, Mapping) else None
    lens = Lens(**meta_lens) if isinstance(meta_lens, Mapping) else Lens()
    width = plan.video.get("width") if isinstance(plan.video, Mapping) else None
    return lens, int(width) if width else None


def count_reversals(
    focus_m: np.ndarray, f_number: np.ndarray, lens: Lens, width_px: int, threshold_px: float
) -> list[int]:
    """Indices of the turning points of ``focus_m`` (n,) where focus reverses between two swings of
    at least ``threshold_px`` of blur each (see the module docstring); ``f_number`` (n,)."""
    from autofocuspull.render.optics import coc_px

    def blur(a: int, b: int) -> float:
        return float(coc_px(np.float32(focus_m[a]), float(focus_m[b]), lens, width_px, float(f_number[b])))

    dioptre = 1.0 / np.asarray(focus_m, np.float64)
    out: list[int] = []
    lo = hi = 0  # running extrema before the first swing
    direction, ext = 0, 0
    for t in range(1, len(dioptre)):
        if direction == 0:
            lo = t if dioptre[t] < dioptre[lo] else lo
            hi = t if dioptre[t] > dioptre[hi] else hi
            if t == hi and blur(lo, t) >= threshold_px:
                direction, ext = 1, t
            elif t == lo and blur(hi, t) >= threshold_px:
                direction, ext = -1, t
            continue
        if (dioptre[t] - dioptre[ext]) * direction > 0:
            ext = t  # the swing goes on
        elif blur(ext, t) >= threshold_px:
            out.append(ext)
            direction, ext = -direction, t
    return out


def focus_reversals(plan: FocusPlan, grades: Grades, threshold_px: float = REVERSAL_BLUR_PX) -> Reversals:
    """Reversals of the plan's focus inside graded holds, outside pulls, per shot (module docstring)."""
    times = plan.times_s
    inside = np.zeros(plan.n_frames, bool)
    for hold in grades.holds:
        inside |= (times >= hold.start_s) & (times < hold.end_s)
    for p in plan.pulls:
        inside &= ~((times >= p.start_s) & (times <= p.end_s))
    inside &= np.isfinite(plan.focus_m) & (plan.focus_m > 0)
    lens, width = _plan_lens_width(plan)
    if not inside.any() or width is None:  # no hold frames, or no pixel size to measure blur in
        return Reversals(inside, [], 0.0)
    shot = shot_index(times, sorted({*grades.cuts_s, *plan.cuts_s}))
    at: list[float] = []
    for a, b in runs(inside):
        for s in np.unique(shot[a:b]):
            idx = a + np.flatnonzero(shot[a:b] == s)  # a run of frames within one shot
            turns = count_reversals(plan.focus_m[idx], plan.f_number[idx], lens, width, threshold_px)
            at.extend(float(times[idx[k]]) for k in turns)
    minutes = float(inside.sum()) * frame_interval_s(times) / 60.0
    return Reversals(inside, sorted(at), minutes)
