"""Baseline planners: simple, honest rules to compare the real planner against.

Every baseline picks one subject per frame by a single rule, then :func:`plan_from_choice` turns the
choice into a :class:`FocusPlan`: focus on the chosen subject's ``focus_xy`` (its box centre when the
tracker gave none) at its ``distance_m`` (``inputs.background_m`` when there is no subject or no
distance), a constant f-number, and an instant :class:`Pull` at each change of subject inside a
shot. At a cut the switch is hard (no pull). A change inside a shot only happens when the new choice
lasts ``min_switch_s`` (or to the end of the shot), or when the held subject is gone: without it a
frame-by-frame rule hunts.

Registry: :data:`BASELINE_PLANNERS` maps a name to ``fn(inputs, config | None) -> FocusPlan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autofocuspull.core.arrays import frame_interval_s, shot_index
from autofocuspull.core.types import FocusPlan, PlanInputs, Pull, SubjectTracks

NO_SUBJECT = -1


@dataclass(frozen=True)
class BaselineConfig:
    """``min_switch_s``: shortest run of a new choice that causes a pull inside a shot (s);
    ``motion_window_s``: centred moving-average window of the most-motion speed (s)."""

    min_switch_s: float = 0.5
    motion_window_s: float = 0.5


# --------------------------------------------------------------------------------------------
# Shared plan-building helpers (reusable by other planners)
# --------------------------------------------------------------------------------------------


def normalised_focus_xy(tracks: SubjectTracks, width_px: int, height_px: int) -> np.ndarray:
    """(S, T, 2) float32 normalised focus point: ``tracks.focus_xy``, else the box centre / frame size."""
    centre = np.stack(
        [
            (tracks.xyxy[..., 0] + tracks.xyxy[..., 2]) / (2.0 * width_px),
            (tracks.xyxy[..., 1] + tracks.xyxy[..., 3]) / (2.0 * height_px),
        ],
        axis=-1,
    )
    given = np.isfinite(tracks.focus_xy).all(axis=-1, keepdims=True)
    return np.where(given, tracks.focus_xy, centre).astype(np.float32)


def debounce_choice(
    choice: np.ndarray, present: np.ndarray, times_s: np.ndarray, shots: np.ndarray, min_switch_s: float
) -> np.ndarray:
    """Suppress short-lived changes of a per-frame choice inside each shot.

    ``choice`` (T,) int64 subject rows (-1 = none); ``present`` (S, T) bool. A new choice is taken
    at the start of its run when the run lasts ``min_switch_s`` or reaches the end of the shot, or
    when the held subject is absent; otherwise the held subject stays. Each shot starts on its raw
    choice.
    """
    out = choice.copy()
    t_n = len(choice)
    held = NO_SUBJECT
    i = 0
    while i < t_n:
        run_end = i + 1
        while run_end < t_n and choice[run_end] == choice[i] and shots[run_end] == shots[i]:
            run_end += 1
        new_shot = i == 0 or shots[i] != shots[i - 1]
        last_in_shot = run_end == t_n or shots[run_end] != shots[i]
        long_enough = times_s[run_end - 1] - times_s[i] >= min_switch_s or last_in_shot
        if new_shot or long_enough or held == NO_SUBJECT:
            held = int(choice[i])
            out[i:run_end] = held
        else:
            for k in range(i, run_end):
                if held == NO_SUBJECT or not present[held, k]:
                    held = int(choice[k])
                out[k] = held
        i = run_end
    return out


def plan_from_choice(
    inputs: PlanInputs,
    subject_row: np.ndarray,
    reason_fn: Callable[[int, int], str],
    planner_name: str,
    meta: dict | None = None,
) -> FocusPlan:
    """Build a :class:`FocusPlan` from a per-frame subject choice.

    ``subject_row`` (T,) int64 rows of ``inputs.tracks`` (-1 = none; a row absent in a frame counts
    as none there). ``reason_fn(from_row, to_row)`` writes a pull's reason. Focus distance is the
    subject's ``distance_m`` (``inputs.background_m`` when none or NaN); pulls are instant, at each
    change of subject inside a shot; a change at a cut is a hard switch without a pull.
    """
    tracks, video = inputs.tracks, inputs.video
    times = video.pts_s
    t_n = len(times)
    rows = np.asarray(subject_row, np.int64)
    if rows.shape != (t_n,):
        raise ValueError(f"plan_from_choice: subject_row expected shape ({t_n},), got {rows.shape}")
    frames = np.arange(t_n)
    if len(tracks):
        safe = np.clip(rows, 0, None)
        rows = np.where((rows >= 0) & tracks.present[safe, frames], rows, NO_SUBJECT)
        xy_all = normalised_focus_xy(tracks, video.width, video.height)
        focus_xy = np.where((rows >= 0)[:, None], xy_all[safe, frames], np.nan).astype(np.float32)
        dist = np.where(rows >= 0, tracks.distance_m[safe, frames], np.nan)
        ids = np.where(rows >= 0, tracks.track_id[safe], NO_SUBJECT)
    else:
        rows = np.full(t_n, NO_SUBJECT, np.int64)
        focus_xy = np.full((t_n, 2), np.nan, np.float32)
        dist = np.full(t_n, np.nan)
        ids = rows.copy()
    focus_m = np.where(np.isfinite(dist) & (dist > 0), dist, inputs.background_m).astype(np.float32)
    shots = shot_index(times, inputs.cuts_s)
    pulls = [
        Pull(
            start_s=float(times[k]),
            end_s=float(times[k]),
            from_id=int(ids[k - 1]),
            to_id=int(ids[k]),
            reason=reason_fn(int(rows[k - 1]), int(rows[k])),
            from_m=float(focus_m[k - 1]),
            to_m=float(focus_m[k]),
        )
        for k in range(1, t_n)
        if ids[k] != ids[k - 1] and shots[k] == shots[k - 1]
    ]
    return FocusPlan(
        times_s=times,
        subject_id=ids.astype(np.int64),
        focus_xy=focus_xy,
        focus_m=focus_m,
        f_number=np.full(t_n, inputs.lens.f_number, np.float32),
        pulls=pulls,
        subjects=tracks,
        cuts_s=list(inputs.cuts_s),
        depth_source=inputs.depth_source,
        video=video.to_dict(),
        meta={"planner": planner_name, **(meta or {})},
    )


# --------------------------------------------------------------------------------------------
# Per-frame rules: (S, T) scores -> (T,) choice
# --------------------------------------------------------------------------------------------


def argmax_choice(score: np.ndarray) -> np.ndarray:
    """(T,) int64 row with the largest finite score per frame (first on ties), -1 where none is finite."""
    if score.shape[0] == 0:
        return np.full(score.shape[1], NO_SUBJECT, np.int64)
    finite = np.isfinite(score)
    best = np.argmax(np.where(finite, score, -np.inf), axis=0)
    return np.where(finite.any(axis=0), best, NO_SUBJECT).astype(np.int64)


def face_area_score(tracks: SubjectTracks) -> np.ndarray:
    """(S, T) face box area in px² (NaN where no face)."""
    f = tracks.face_xyxy
    return (f[..., 2] - f[..., 0]) * (f[..., 3] - f[..., 1])


def centre_score(tracks: SubjectTracks, width_px: int, height_px: int) -> np.ndarray:
    """(S, T) minus the distance of the focus point from the frame centre (normalised units)."""
    xy = normalised_focus_xy(tracks, width_px, height_px)
    return -np.hypot(xy[..., 0] - 0.5, xy[..., 1] - 0.5)


def motion_score(tracks: SubjectTracks, inputs: PlanInputs, window_s: float) -> np.ndarray:
    """(S, T) box-centre speed in frame diagonals per second, centred moving average (NaN where absent)."""
    times = inputs.video.pts_s
    w, h = inputs.video.width, inputs.video.height
    cx = (tracks.xyxy[..., 0] + tracks.xyxy[..., 2]) / 2.0
    cy = (tracks.xyxy[..., 1] + tracks.xyxy[..., 3]) / 2.0
    step = np.hypot(np.diff(cx, axis=1), np.diff(cy, axis=1)) / np.hypot(w, h)
    dt = np.diff(times)[None, :]
    speed = np.zeros_like(cx)
    speed[:, 1:] = np.where(np.isfinite(step), step / dt, 0.0)  # first frame of a track: no motion yet
    present = tracks.present
    speed = np.where(present, speed, 0.0)
    # moving average over a centred window of frames (the frame rate is taken from the median interval)
    frame_s = frame_interval_s(times)
    half = max(round(window_s / frame_s / 2), 0)
    mean = window_sum(speed, half) / np.maximum(window_sum(present.astype(np.float64), half), 1.0)
    return np.where(present, mean, np.nan)


def window_sum(x: np.ndarray, half: int) -> np.ndarray:
    """(S, T) sum of ``x`` (S, T) over frames ``t - half .. t + half`` (clipped at the clip's ends)."""
    t_n = x.shape[1]
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo = np.clip(np.arange(t_n) - half, 0, t_n)
    hi = np.clip(np.arange(t_n) + half + 1, 0, t_n)
    return c[:, hi] - c[:, lo]


def first_seen_score(tracks: SubjectTracks) -> np.ndarray:
    """(S, T) score favouring the subject seen earliest (ties: larger box), NaN where absent."""
    present = tracks.present
    t_n = tracks.n_frames
    first = np.where(present.any(axis=1), np.argmax(present, axis=1), t_n).astype(np.float64)
    area = (tracks.xyxy[..., 2] - tracks.xyxy[..., 0]) * (tracks.xyxy[..., 3] - tracks.xyxy[..., 1])
    tie_break = np.nan_to_num(area, nan=0.0) / (1.0 + np.nanmax(np.nan_to_num(area, nan=0.0), initial=0.0))
    score = -first[:, None] + 0.5 * tie_break  # tie_break < 0.5: never overturns an earlier start
    return np.where(present, score, np.nan)


# --------------------------------------------------------------------------------------------
# Baseline planners
# --------------------------------------------------------------------------------------------


def _run(inputs: PlanInputs, score: np.ndarray, name: str, what: str, config: BaselineConfig) -> FocusPlan:
    tracks = inputs.tracks
    raw = argmax_choice(score) if len(tracks) else np.full(inputs.video.n_frames, NO_SUBJECT, np.int64)
    present = tracks.present if len(tracks) else np.zeros((0, inputs.video.n_frames), bool)
    shots = shot_index(inputs.video.pts_s, inputs.cuts_s)
    choice = debounce_choice(raw, present, inputs.video.pts_s, shots, config.min_switch_s)

    def reason(a: int, b: int) -> str:
        return f"{name}: {what} changed from {_label(tracks, a)} to {_label(tracks, b)}"

    return plan_from_choice(inputs, choice, reason, name, {"config": dataclasses.asdict(config)})


def _label(tracks: SubjectTracks, row: int) -> str:
    if row == NO_SUBJECT:
        return "nothing"
    return f"{tracks.label[row]} #{int(tracks.track_id[row])}"


def _config(config: object | None) -> BaselineConfig:
    if config is None:
        return BaselineConfig()
    if not isinstance(config, BaselineConfig):
        raise TypeError(f"baseline planners take a BaselineConfig or None, got {type(config).__name__}")
    return config


def plan_largest_face(inputs: PlanInputs, config: object | None = None) -> FocusPlan:
    """Always the largest face (no subject, so background focus, when no face is visible)."""
    score = face_area_score(inputs.tracks)
    return _run(inputs, score, "largest-face", "largest face", _config(config))


def plan_center(inputs: PlanInputs, config: object | None = None) -> FocusPlan:
    """The subject whose focus point is nearest the frame centre."""
    score = centre_score(inputs.tracks, inputs.video.width, inputs.video.height)
    return _run(inputs, score, "center", "subject nearest the centre", _config(config))


def plan_most_motion(inputs: PlanInputs, config: object | None = None) -> FocusPlan:
    """The subject whose box centre moves fastest (smoothed over ``motion_window_s``)."""
    cfg = _config(config)
    score = motion_score(inputs.tracks, inputs, cfg.motion_window_s)
    return _run(inputs, score, "most-motion", "fastest-moving subject", cfg)


def plan_first_subject(inputs: PlanInputs, config: object | None = None) -> FocusPlan:
    """The first subject seen, held while visible (then the earliest-seen subject still visible)."""
    score = first_seen_score(inputs.tracks)
    return _run(inputs, score, "first-subject", "earliest-seen visible subject", _config(config))


BASELINE_PLANNERS: dict[str, Callable[[PlanInputs, object | None], FocusPlan]] = {
    "largest-face": plan_largest_face,
    "center": plan_center,
    "most-motion": plan_most_motion,
    "first-subject": plan_first_subject,
}
