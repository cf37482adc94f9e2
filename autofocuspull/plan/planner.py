"""The default focus planner: one objective over the whole clip, solved exactly, turned into pulls.

Objective (per frame t and choice k in {background, subject 1..S}, see :mod:`.viterbi`)::

    maximise  sum_t dt * u[k_t, t]  -  switch_cost * (number of switches not at cuts / keyframes)
    subject to  each choice held >= min_hold_s (unless its subject leaves the frame or a cut comes)

with utility ``u`` per mode:

- ``dialogue``: ``talk[s, t] * p[s, t] + idle_weight * saliency[s, t]`` where ``p`` is the
  speaking probability times the voice activity and ``talk`` the cleaned "is talking" mask:
  ``p > talk_threshold``, gaps shorter than ``merge_gap_s`` filled, runs shorter than
  ``backchannel_s`` dropped (backchannels never cause a switch);
- ``saliency``: ``(saliency[s, t] / max_s' saliency[s', t]) ** saliency_contrast``: relative to
  the most salient visible subject of that frame and sharpened, so what a switch weighs is how
  much more a subject matters than the others (a large near face beats a small far one), not
  the absolute level of the cue;
- ``auto``: dialogue utility in dialogue regions (voice activity > 0.5, widened by
  ``auto_hold_s`` each side), saliency utility elsewhere.

The background choice has utility 0; a subject that is absent (or never has a distance) cannot be
chosen; missing distances of a visible subject are taken from its nearest frame with one.

Focus-pulling principles on top of the objective (each one general, none tuned to a clip):

- **Looks alone rarely justify a rack** (hysteresis): outside dialogue, a switch must earn
  ``saliency_switch_cost`` rather than ``switch_cost`` (the saliency utility is scaled by
  ``switch_cost / saliency_switch_cost``), so focus holds within a shot unless another subject
  is clearly and lastingly more salient; speech onsets keep the cheaper ``switch_cost``.
- **Detector dropouts are not departures** (coasting): a subject missing for less than
  ``coast_s`` between two detections, or for less than ``coast_s`` before its shot (or the clip)
  ends, stays focusable at its last place and distance with utility 0, so a lost frame at the
  end of a clip does not rack to the background.
- **Never start a pull that a cut will interrupt**: a switch inside a shot whose pull plus
  ``min_hold_s`` would not fit before the next cut is dropped (the old subject is held to the
  cut; the new one is taken by a hard switch at the cut if it is still the choice there).
- **Pre-focus on late detections**: a subject first found away from the frame's edges (its box
  clear of every border by ``edge_margin`` of the frame) at most ``prefocus_max_s`` into its
  shot did not walk in; the detector found it late (blur, a turn, a morph). So is a product first
  found in the hand of a person seen since the shot began, however late (the hand brought it).
  A shot that opens on no focusable subject may choose such a subject from its start, at the
  subject's mean utility over its first second. And when the plan switches to such a subject on
  saliency (not on speech) within ``prefocus_window_s`` of its first detection, having held one
  choice since the shot began, focus is on it from the shot's start instead: a hard switch at
  the cut (at its first known place and distance), not a rack in the middle of the shot.

After solving, each switch is moved to the first frame where the new subject's leading cue (talk
in dialogue regions, saliency elsewhere) beats the old one's (the objective is flat in between),
so that a rack lands on the new speaker's first word. Pulls then start ``lead_s`` before a new
speaker's onset, last ``|1/to_m - 1/from_m| / max_pull_speed_dioptre_per_s`` seconds (at least
``min_pull_s``), are eased in and out in dioptres, and never cross a cut: at a cut focus jumps.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autofocuspull.core.arrays import fill_nearest, frame_interval_s, runs, touches_edge
from autofocuspull.core.types import FocusPlan, PlanInputs, Pull, SubjectTracks
from autofocuspull.cues.saliency import (
    PERSON_LABELS,
    PRODUCT_LABELS,
    overlap_fraction,
    subject_at_point,
)
from autofocuspull.plan.keyframes import Keyframe
from autofocuspull.plan.viterbi import FREE, viterbi_hold

MODES = ("dialogue", "saliency", "auto")
EASES = ("smoothstep", "sine", "linear")
NONE_ID = -1


@dataclass(frozen=True)
class PlannerConfig:
    """Hyperparameters of the default planner (times in seconds, speeds in dioptres per second)."""

    mode: str = "auto"
    switch_cost: float = 0.5  # utility-seconds a switch must earn
    min_hold_s: float = 1.0
    backchannel_s: float = 0.7
    merge_gap_s: float = 0.3
    talk_threshold: float = 0.5
    use_vad: bool = True
    idle_weight: float = 0.1
    auto_hold_s: float = 2.0
    saliency_contrast: float = 2.0
    saliency_switch_cost: float = 1.5  # utility-seconds a switch on saliency alone must earn
    coast_s: float = 0.5
    prefocus_window_s: float = 0.5
    edge_margin: float = 0.02  # fraction of the frame's width / height
    prefocus_max_s: float = 2.0  # how late into its shot a detection may still be "late"
    lead_s: float = 0.3
    max_pull_speed_dioptre_per_s: float = 1.5
    min_pull_s: float = 0.25
    ease: str = "smoothstep"
    f_number: float | None = None  # None: the lens's f-number

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"PlannerConfig.mode: expected one of {MODES}, got {self.mode!r}")
        if self.ease not in EASES:
            raise ValueError(f"PlannerConfig.ease: expected one of {EASES}, got {self.ease!r}")
        if self.max_pull_speed_dioptre_per_s <= 0:
            raise ValueError("PlannerConfig.max_pull_speed_dioptre_per_s: expected > 0")
        if self.saliency_switch_cost < self.switch_cost:
            raise ValueError(
                "PlannerConfig.saliency_switch_cost: expected >= switch_cost "
                f"({self.switch_cost}), got {self.saliency_switch_cost}"
            )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def frame_duration_s(times_s: np.ndarray) -> float:
    """Median frame spacing in seconds (:func:`~autofocuspull.core.arrays.frame_interval_s`)."""
    return frame_interval_s(times_s)


def ease(x: np.ndarray, kind: str) -> np.ndarray:
    """Easing curve on [0, 1] -> [0, 1]: smoothstep ``3x^2 - 2x^3``, sine ``(1 - cos(pi x)) / 2``."""
    x = np.clip(x, 0.0, 1.0)
    if kind == "smoothstep":
        return x * x * (3 - 2 * x)
    if kind == "sine":
        return (1 - np.cos(np.pi * x)) / 2
    return x


def pull_duration_s(from_m: float, to_m: float, cfg: PlannerConfig) -> float:
    """Seconds to rack from ``from_m`` to ``to_m`` metres at the speed limit (>= ``min_pull_s``)."""
    dioptres = abs(1.0 / to_m - 1.0 / from_m)
    return max(cfg.min_pull_s, dioptres / cfg.max_pull_speed_dioptre_per_s)


def subject_name(tracks: SubjectTracks, row: int) -> str:
    """'person 2' for track row ``row``; 'the background' for -1."""
    if row < 0:
        return "the background"
    return f"{tracks.label[row]} {int(tracks.track_id[row])}"


# --------------------------------------------------------------------------------------------
# Utility
# --------------------------------------------------------------------------------------------


def clean_talk(
    prob: np.ndarray, times_s: np.ndarray, cfg: PlannerConfig
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Talking mask (S, T) bool from probabilities (S, T): threshold, fill short gaps, drop
    backchannels. Also returns the dropped runs as (row, start, end) frame indices."""
    dt = frame_duration_s(times_s)
    talk = prob > cfg.talk_threshold
    dropped = []
    for s in range(len(talk)):
        for a, b in runs(~talk[s]):
            if a > 0 and b < talk.shape[1] and (b - a) * dt < cfg.merge_gap_s:
                talk[s, a:b] = True
        for a, b in runs(talk[s]):
            if (b - a) * dt < cfg.backchannel_s:
                talk[s, a:b] = False
                dropped.append((s, a, b))
    return talk, dropped


def dialogue_region(speech_prob: np.ndarray, times_s: np.ndarray, hold_s: float) -> np.ndarray:
    """(T,) bool: voice activity > 0.5, widened by ``hold_s`` seconds on each side."""
    speech = speech_prob > 0.5
    out = np.zeros_like(speech)
    for a, b in runs(speech):
        out |= (times_s >= times_s[a] - hold_s) & (times_s <= times_s[b - 1] + hold_s)
    return out


@dataclass
class Utility:
    """Per-choice utility rate (K = S + 1, T) (row 0 = background) and what it was built from."""

    rate: np.ndarray
    lead_cue: np.ndarray  # (K, T) the cue a switch must win on (talk or saliency)
    dialogue: np.ndarray  # (T,) bool: frame is planned on dialogue
    talk: np.ndarray  # (S, T) bool cleaned talk mask
    dropped: list[tuple[int, int, int]]
    focusable: np.ndarray  # (S, T) bool
    backfilled: list[tuple[int, int, int]]  # (row, shot start frame, first detection frame)


def relative_saliency(saliency: np.ndarray, present: np.ndarray, contrast: float) -> np.ndarray:
    """(S, T) float: saliency over the frame's best visible subject's, to the power ``contrast``."""
    s = np.where(present, np.clip(saliency, 0.0, None), 0.0)
    best = s.max(axis=0, initial=0.0)
    return np.where(best > 0, s / np.where(best > 0, best, 1.0), 0.0) ** contrast


def coast_mask(present: np.ndarray, times_s: np.ndarray, cut_mask: np.ndarray, coast_s: float) -> np.ndarray:
    """(S, T) bool: frames where a subject (present (S, T) bool) is missing for less than
    ``coast_s`` seconds right after being seen, ending where it reappears, at a cut or at the
    clip's end (cut_mask (T,) bool marks the first frame of each new shot)."""
    dt = frame_duration_s(times_s)
    out = np.zeros_like(present, dtype=bool)
    for s in range(len(present)):
        for a, b in runs(~present[s]):
            if a == 0 or cut_mask[a]:
                continue
            inner = np.flatnonzero(cut_mask[a + 1 : b])
            end = a + 1 + int(inner[0]) if len(inner) else b
            if (end - a) * dt < coast_s - 1e-9:
                out[s, a:end] = True
    return out


def held_since(tracks: SubjectTracks, row: int, s0: int, first: int, min_overlap: float) -> bool:
    """Whether subject ``row`` is a product that, when first seen at frame ``first``, is held by
    (overlaps by ``min_overlap`` of its area) a person present on every frame since ``s0``."""
    if tracks.label[row] not in PRODUCT_LABELS:
        return False
    box = tracks.xyxy[row, first : first + 1]
    return any(
        tracks.label[p] in PERSON_LABELS
        and tracks.present[p, s0 : first + 1].all()
        and overlap_fraction(box, tracks.xyxy[p, first : first + 1])[0] >= min_overlap
        for p in range(len(tracks))
    )


def late_detections(
    inputs: PlanInputs, cut_mask: np.ndarray, cfg: PlannerConfig
) -> list[tuple[int, int, int]]:
    """(row, shot start frame, first detection frame) of each subject found late in its shot: first
    detected after the shot's start with a box clear of the frame's edges, at most
    ``prefocus_max_s`` into the shot, or at any time as a product held by a person seen since then."""
    tracks, times = inputs.tracks, inputs.cues.times_s
    size = (inputs.video.width, inputs.video.height)
    margin_px = (cfg.edge_margin * size[0], cfg.edge_margin * size[1])
    starts = [0, *np.flatnonzero(cut_mask).tolist(), tracks.n_frames]
    out = []
    for row in range(len(tracks)):
        for s0, s1 in itertools.pairwise(starts):
            seen = np.flatnonzero(tracks.present[row, s0:s1])
            if not len(seen) or seen[0] == 0:
                continue
            first = s0 + int(seen[0])
            if touches_edge(tracks.xyxy[row, first], size, margin_px):
                continue
            soon = times[first] - times[s0] <= cfg.prefocus_max_s + 1e-9
            if soon or held_since(tracks, row, s0, first, inputs.saliency.held_overlap):
                out.append((row, s0, first))
    return out


def backfill_late_detections(
    u_sub: np.ndarray, focusable: np.ndarray, inputs: PlanInputs, cut_mask: np.ndarray, cfg: PlannerConfig
) -> list[tuple[int, int, int]]:
    """Make each late detection focusable, in place, over the opening frames of its shot where no
    subject can be focused, at its mean utility over its first second (the shot then opens on it
    instead of resting on the background). Returns the (row, s0, first) used."""
    times = inputs.cues.times_s
    used = []
    for row, s0, first in late_detections(inputs, cut_mask, cfg):
        busy = np.flatnonzero(focusable[:, s0:first].any(axis=0))
        empty = np.arange(s0, s0 + int(busy[0]) if len(busy) else first)  # the shot opens on nobody
        if not len(empty) or not focusable[row, first]:
            continue
        early = (times >= times[first]) & (times < times[first] + 1.0) & inputs.tracks.present[row]
        u_sub[row, empty] = float(np.mean(u_sub[row, early]))
        focusable[row, empty] = True
        used.append((row, s0, first))
    return used


def build_utility(inputs: PlanInputs, cfg: PlannerConfig) -> Utility:
    """Utility rate per choice and frame from the cues (see module docstring)."""
    cues, tracks = inputs.cues, inputs.tracks
    times = cues.times_s
    cut_mask = cut_frames(inputs.cuts_s, times)
    coast = coast_mask(tracks.present, times, cut_mask, cfg.coast_s)
    prob = cues.speaking * (cues.speech_prob[None, :] if cfg.use_vad else 1.0)
    talk, dropped = clean_talk(prob, times, cfg)
    u_dialogue = talk * prob + cfg.idle_weight * cues.saliency
    if cfg.mode == "dialogue":
        region = np.ones(len(times), bool)
    elif cfg.mode == "saliency":
        region = np.zeros(len(times), bool)
    else:
        region = dialogue_region(cues.speech_prob, times, cfg.auto_hold_s) & talk.any(axis=0).any()
    rel = relative_saliency(cues.saliency, tracks.present, cfg.saliency_contrast)
    if cfg.saliency_switch_cost > 0:  # hysteresis: a switch on looks alone must earn more
        rel = rel * (cfg.switch_cost / cfg.saliency_switch_cost)
    u_sub = np.where(region[None, :], u_dialogue, rel)
    lead = np.where(region[None, :], talk.astype(np.float32), rel)
    # a depth dropout on a visible subject is filled from the nearest frame, not a reason to leave it
    focusable = (tracks.present | coast) & np.isfinite(tracks.distance_m).any(axis=1, keepdims=True)
    u_sub = np.where(focusable, np.where(tracks.present, u_sub, 0.0), -np.inf)
    backfilled = backfill_late_detections(u_sub, focusable, inputs, cut_mask, cfg)
    zeros = np.zeros((1, len(times)))
    rate = np.concatenate([zeros, u_sub.astype(np.float64)])
    lead_cue = np.concatenate([zeros, np.where(tracks.present, lead, 0.0).astype(np.float64)])
    return Utility(rate, lead_cue, region, talk, dropped, focusable, backfilled)


# --------------------------------------------------------------------------------------------
# Keyframes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedKeyframe:
    frame: int
    row: int  # subject row, -1 = background
    keyframe: Keyframe


def resolve_keyframes(keyframes: Sequence[Keyframe], inputs: PlanInputs) -> list[ResolvedKeyframe]:
    """Keyframes -> frame index and subject row (ids looked up; points picked in the frame)."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    size = (inputs.video.width, inputs.video.height)
    out = []
    for kf in sorted(keyframes, key=lambda k: k.t_s):
        frame = int(np.clip(np.searchsorted(times, kf.t_s - 1e-6), 0, len(times) - 1))
        if kf.subject is not None:
            if kf.subject not in set(tracks.track_id.tolist()):
                raise ValueError(
                    f"keyframe at {kf.t_s} s: no subject with id {kf.subject} "
                    f"(ids: {tracks.track_id.tolist()})"
                )
            row = tracks.index_of(kf.subject)
        elif kf.point is not None:
            found = subject_at_point(tracks, frame, kf.point[0], kf.point[1], size) if len(tracks) else None
            row = NONE_ID if found is None else found
        else:
            row = NONE_ID
        out.append(ResolvedKeyframe(frame, row, kf))
    return out


def keyframe_constraints(
    resolved: Sequence[ResolvedKeyframe], focusable: np.ndarray, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(forced (T,) int64 choice index (0 = background, row + 1) or -1, free_switch (T,) bool)."""
    forced = np.full(n_frames, FREE, np.int64)
    free = np.zeros(n_frames, bool)
    for i, rk in enumerate(resolved):
        end = rk.frame + 1
        if rk.keyframe.strength == "strong":
            end = resolved[i + 1].frame if i + 1 < len(resolved) else n_frames
        span = np.arange(rk.frame, max(end, rk.frame + 1))
        ok = np.ones(len(span), bool) if rk.row < 0 else focusable[rk.row, span]
        forced[span[ok]] = rk.row + 1
    prev = np.concatenate([[FREE], forced[:-1]])
    free |= (forced != FREE) & (forced != prev)
    return forced, free


# --------------------------------------------------------------------------------------------
# Switch placement and reasons
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Switch:
    frame: int  # first frame on the new choice
    cause: int  # frame of what caused it (a speech onset may come a little earlier)
    old: int  # choice index (0 = background)
    new: int
    kind: str  # "speech", "saliency", "cut", "user", "lost", "start"
    reason: str


def cut_frames(cuts_s: Sequence[float], times_s: np.ndarray) -> np.ndarray:
    """(T,) bool: first frame of each shot after the first."""
    out = np.zeros(len(times_s), bool)
    for c in cuts_s:
        k = int(np.searchsorted(times_s, c - 1e-6))
        if 0 < k < len(times_s):
            out[k] = True
    return out


def snap_switches(path: np.ndarray, util: Utility, free: np.ndarray, hold_frames: int) -> np.ndarray:
    """Move each automatic switch later, to the first frame where the new choice's leading cue
    beats the old one's (the objective is flat or nearly so before it), keeping the minimum hold.
    A switch with no such frame before the hold limit stays where the solver put it."""
    path = path.copy()
    sw = np.flatnonzero(path[1:] != path[:-1]) + 1
    for i, k in enumerate(sw):
        if free[k]:
            continue
        old, new = path[k - 1], path[k]
        limit = sw[i + 1] - hold_frames if i + 1 < len(sw) else len(path) - 1
        f = k
        while f < limit and not free[f] and np.isfinite(util.rate[old, f]):
            if util.lead_cue[new, f] > util.lead_cue[old, f]:
                break
            f += 1
        found = free[f] or not np.isfinite(util.rate[old, f]) or util.lead_cue[new, f] > util.lead_cue[old, f]
        if f > k and f <= limit and found:
            path[k:f] = old
    return path


def shot_start_frame(cut_mask: np.ndarray, f: int) -> int:
    """First frame of the shot that frame ``f`` belongs to."""
    before = np.flatnonzero(cut_mask[: f + 1])
    return int(before[-1]) if len(before) else 0


def _auto_switches(path: np.ndarray, free: np.ndarray) -> list[int]:
    return [int(f) for f in np.flatnonzero(path[1:] != path[:-1]) + 1 if not free[f]]


def drop_pulls_cut_short(
    path: np.ndarray,
    util: Utility,
    dist: np.ndarray,
    times: np.ndarray,
    cut_mask: np.ndarray,
    free: np.ndarray,
    cfg: PlannerConfig,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Hold the old choice to the next cut instead of a pull that would not finish and hold
    ``min_hold_s`` before it. Returns the new path and the dropped (frame, cut frame, old, new)."""
    path = path.copy()
    dropped = []
    for f in _auto_switches(path, free):
        old, new = int(path[f - 1]), int(path[f])
        later = np.flatnonzero(cut_mask[f + 1 :])
        if old == new or not len(later):
            continue
        c = f + 1 + int(later[0])
        need_s = pull_duration_s(float(dist[old, f - 1]), float(dist[new, f]), cfg) + cfg.min_hold_s
        if times[c] - times[f] >= need_s or free[f:c].any():
            continue
        if old > 0 and not util.focusable[old - 1, f:c].all():
            continue
        path[f:c] = old
        dropped.append((f, c, old, new))
    return path, dropped


def prefocus_late_detections(
    path: np.ndarray,
    util: Utility,
    inputs: PlanInputs,
    cut_mask: np.ndarray,
    free: np.ndarray,
    forced: np.ndarray,
    cfg: PlannerConfig,
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Move a switch on saliency (not in dialogue) to a subject detected late (mid-frame, within
    ``prefocus_window_s`` before the switch) back to its shot's start when one choice was held
    since then.
    Returns the new path and the moved (shot start frame, first detection frame, choice)."""
    times = inputs.cues.times_s
    late = {(row + 1, s0): first for row, s0, first in late_detections(inputs, cut_mask, cfg)}
    path = path.copy()
    moved = []
    for f in _auto_switches(path, free):
        new = int(path[f])
        if util.dialogue[f]:  # a speech onset is an event of its own: the rack stays on it
            continue
        s0 = shot_start_frame(cut_mask, f)
        first = late.get((new, s0))
        if first is None or first > f or times[f] - times[first] > cfg.prefocus_window_s + 1e-9:
            continue
        if (path[s0:f] != path[f - 1]).any() or (forced[s0:f] != FREE).any():
            continue
        path[s0:f] = new
        moved.append((s0, first, new))
    return path, moved


def _run_start(mask_row: np.ndarray, f: int) -> int:
    while f > 0 and mask_row[f - 1]:
        f -= 1
    return f


def describe_switch(
    f: int, old: int, new: int, util: Utility, inputs: PlanInputs, cut: bool, user: ResolvedKeyframe | None
) -> Switch:
    tracks, times = inputs.tracks, inputs.cues.times_s
    t = float(times[f])
    name = subject_name(tracks, new - 1)
    if user is not None:
        strength = user.keyframe.strength
        until = "until the next keyframe" if strength == "strong" else "until the next automatic decision"
        kind = "cut" if cut else "user"  # a decision at a cut still snaps: focus never racks across one
        return Switch(
            f, f, old, new, kind, f"user keyframe at {t:.2f} s: focus on {name} ({strength}, {until})"
        )
    if cut:
        return Switch(f, f, old, new, "cut", f"cut at {t:.2f} s: focus resets to {name}")
    if old > 0 and not util.focusable[old - 1, f]:
        gone = subject_name(tracks, old - 1)
        return Switch(f, f, old, new, "lost", f"{gone} leaves the frame at {t:.2f} s: focus goes to {name}")
    if new > 0 and util.dialogue[f] and util.talk[new - 1, f]:
        onset = _run_start(util.talk[new - 1], f)
        if onset == f:
            return Switch(f, onset, old, new, "speech", f"{name} starts speaking at {t:.2f} s")
        since = float(times[onset])
        why = f"{name} is speaking (since {since:.2f} s): focus moves at {t:.2f} s, after the minimum hold"
        return Switch(f, onset, old, new, "speech", why)
    if new == 0:
        return Switch(
            f, f, old, new, "saliency", f"no subject worth focusing on at {t:.2f} s: focus on the background"
        )
    comps = {k: float(v[new - 1, f]) for k, v in inputs.cues.components.items() if k != "user"}
    if inputs.cues.components.get("user") is not None and inputs.cues.components["user"][new - 1, f] > 0:
        why = "picked by the user"
    else:
        top = sorted(comps.items(), key=lambda kv: -kv[1])[:2]
        why = ", ".join(f"{k} {v:.2f}" for k, v in top) if top else "saliency"
    return Switch(f, f, old, new, "saliency", f"{name} becomes the most salient subject at {t:.2f} s ({why})")


# --------------------------------------------------------------------------------------------
# Focus curve and pulls
# --------------------------------------------------------------------------------------------


def _distances(inputs: PlanInputs) -> np.ndarray:
    """(K, T) focus distance per choice (background first), NaN gaps filled from the nearest frame."""
    t = len(inputs.cues.times_s)
    rows = [np.full(t, inputs.background_m, np.float64)]
    for s in range(len(inputs.tracks)):
        d = fill_nearest(inputs.tracks.distance_m[s].astype(np.float64))
        rows.append(np.where(np.isfinite(d), d, inputs.background_m))
    return np.stack(rows)


def _points(inputs: PlanInputs) -> np.ndarray:
    """(K, T, 2) normalised focus point per choice (background NaN), gaps filled from nearest frame."""
    t = len(inputs.cues.times_s)
    pts = [np.full((t, 2), np.nan)]
    for s in range(len(inputs.tracks)):
        fx = inputs.tracks.focus_xy[s].astype(np.float64)
        pts.append(np.stack([fill_nearest(fx[:, 0]), fill_nearest(fx[:, 1])], -1))
    return np.stack(pts)


def build_pulls(
    switches: Sequence[Switch],
    path: np.ndarray,
    dist: np.ndarray,
    times: np.ndarray,
    cut_mask: np.ndarray,
    tracks: SubjectTracks,
    cfg: PlannerConfig,
) -> tuple[list[Pull], np.ndarray, np.ndarray]:
    """Pulls for the switches, and per frame (T,) the shown choice and focus distance (m).

    A cut switch is a zero-length pull (focus jumps). Others start ``lead_s`` before a speech
    onset (else at the switch), never before the previous pull's end or the shot's start, and end
    at the next cut at the latest. During a pull the choice shown is the new one and focus moves
    in dioptres along the easing curve between the two subjects' (moving) distances.
    """
    t_n = len(times)
    idx = np.arange(t_n)
    cuts_t = times[cut_mask]
    shown = path.copy()
    spans: list[tuple[float, float, int, int]] = []
    pulls: list[Pull] = []
    prev_end = float(times[0])
    for sw in switches:
        t_sw = float(times[sw.frame])
        from_id = int(tracks.track_id[sw.old - 1]) if sw.old > 0 else NONE_ID
        to_id = int(tracks.track_id[sw.new - 1]) if sw.new > 0 else NONE_ID
        if sw.kind == "cut":
            from_m, to_m = float(dist[sw.old, sw.frame - 1]), float(dist[sw.new, sw.frame])
            pulls.append(Pull(t_sw, t_sw, from_id, to_id, sw.reason, from_m, to_m))
            prev_end = t_sw
            continue
        before = cuts_t[cuts_t <= t_sw]
        shot_start = float(before.max()) if len(before) else float(times[0])
        lead = cfg.lead_s if sw.kind == "speech" else 0.0
        start = min(max(t_sw - lead, prev_end, shot_start), t_sw)
        k0 = int(np.searchsorted(times, start - 1e-9))
        from_m = float(dist[sw.old, max(k0 - 1, 0)])
        to_m = float(dist[sw.new, sw.frame])
        end = start + pull_duration_s(from_m, to_m, cfg)
        after = cuts_t[cuts_t > start]
        if len(after):
            end = min(end, float(after.min()))
        pulls.append(Pull(start, end, from_id, to_id, sw.reason, from_m, to_m))
        shown[(idx >= k0) & (idx < sw.frame)] = sw.new
        spans.append((start, end, sw.old, sw.new))
        prev_end = end
    focus = dist[shown, idx]
    for start, end, old, new in spans:
        span = (times >= start) & (times < end)
        x = (times[span] - start) / max(end - start, 1e-9)
        d_from, d_to = 1.0 / dist[old, span], 1.0 / dist[new, span]
        focus[span] = 1.0 / (d_from + (d_to - d_from) * ease(x, cfg.ease))
    return pulls, shown, focus


# --------------------------------------------------------------------------------------------
# Decisions log (holds)
# --------------------------------------------------------------------------------------------


def hold_decisions(util: Utility, path: np.ndarray, inputs: PlanInputs, cfg: PlannerConfig) -> list[dict]:
    """Explain talk that did not move focus: dropped backchannels and turns that did not pay."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    dt = frame_duration_s(times)
    out = []

    def hold(a: int, reason: str) -> dict:
        held_row = int(path[a]) - 1
        return {
            "t_s": float(times[a]),
            "kind": "hold",
            "subject": int(tracks.track_id[held_row]) if path[a] > 0 else NONE_ID,
            "reason": f"held on {subject_name(tracks, held_row)}: {reason}",
        }

    for s, a, b in util.dropped:
        if not util.dialogue[a] or (path[a:b] == s + 1).any():
            continue
        out.append(hold(a, f"{subject_name(tracks, s)}'s {(b - a) * dt:.2f} s interjection at "
                           f"{float(times[a]):.2f} s is shorter than the backchannel threshold "
                           f"{cfg.backchannel_s:.2f} s"))  # fmt: skip
    for s in range(len(tracks)):
        for a, b in runs(util.talk[s] & util.dialogue):
            if (path[a:b] == s + 1).any():
                continue
            out.append(hold(a, f"{subject_name(tracks, s)} speaks {(b - a) * dt:.2f} s from "
                               f"{float(times[a]):.2f} s but a switch does not pay (switch cost "
                               f"{cfg.switch_cost}, minimum hold {cfg.min_hold_s} s)"))  # fmt: skip
    return out


def planning_notes(
    cut_short: Sequence[tuple[int, int, int, int]],
    prefocused: Sequence[tuple[int, int, int]],
    inputs: PlanInputs,
    row_ids: np.ndarray,
) -> list[dict]:
    """Explain the pulls dropped before a cut and the late detections focused from the shot's start."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    out = []
    for f, c, old, new in cut_short:
        held, wanted = subject_name(tracks, old - 1), subject_name(tracks, new - 1)
        out.append({
            "t_s": float(times[f]),
            "kind": "hold",
            "subject": int(row_ids[old]),
            "reason": f"held on {held}: a pull to {wanted} at {float(times[f]):.2f} s would be cut short "
            f"by the cut at {float(times[c]):.2f} s",
        })  # fmt: skip
    for s0, first, new in prefocused:
        name, t_first, t_s0 = subject_name(tracks, new - 1), float(times[first]), float(times[s0])
        out.append({
            "t_s": t_s0,
            "kind": "prefocus",
            "subject": int(row_ids[new]),
            "reason": f"{name} is first detected at {t_first:.2f} s away from the frame's edges (found late, "
            f"not entering): focus is on it from {t_s0:.2f} s",
        })  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def plan_focus(
    inputs: PlanInputs,
    config: PlannerConfig | None = None,
    keyframes: Sequence[Keyframe] | None = None,
) -> FocusPlan:
    """Plan focus over the whole clip: solve the objective, place pulls, explain every decision.

    Returns a :class:`FocusPlan` with per-frame subject id, focus point, focus distance (m) and
    f-number, the pulls (each with a human reason) and ``meta["decisions"]`` (switches and holds).
    """
    cfg = config or PlannerConfig()
    cues, tracks = inputs.cues, inputs.tracks
    if len(tracks) and not np.array_equal(cues.track_id, tracks.track_id):
        raise ValueError("plan_focus: cues.track_id must list the tracks' ids in the same order")
    times = cues.times_s
    t_n = len(times)
    if t_n == 0:
        raise ValueError("plan_focus: the clip has no frames")
    dt = frame_duration_s(times)
    util = build_utility(inputs, cfg)
    resolved = resolve_keyframes(keyframes or [], inputs)
    forced, free_user = keyframe_constraints(resolved, util.focusable, t_n)
    cut_mask = cut_frames(inputs.cuts_s, times)
    free = cut_mask | free_user
    hold_frames = int(np.ceil(cfg.min_hold_s / dt - 1e-6))
    path = viterbi_hold(util.rate * dt, cfg.switch_cost, hold_frames, free, forced)
    path = snap_switches(path, util, free, hold_frames)
    dist = _distances(inputs)
    path, cut_short = drop_pulls_cut_short(path, util, dist, times, cut_mask, free, cfg)
    path, prefocused = prefocus_late_detections(path, util, inputs, cut_mask, free, forced, cfg)
    pts = _points(inputs)
    late = [(s0, first, row + 1) for row, s0, first in util.backfilled]
    for s0, first, new in [*prefocused, *late]:  # a late detection is focused where it was first seen
        dist[new, s0:first] = dist[new, first]
        pts[new, s0:first] = pts[new, first]
    user_at = {rk.frame: rk for rk in resolved}
    switches = [
        describe_switch(
            int(f), int(path[f - 1]), int(path[f]), util, inputs, bool(cut_mask[f]), user_at.get(int(f))
        )
        for f in np.flatnonzero(path[1:] != path[:-1]) + 1
    ]
    pulls, shown, focus_m = build_pulls(switches, path, dist, times, cut_mask, tracks, cfg)
    focus_xy = pts[shown, np.arange(t_n)]
    row_ids = np.concatenate([[NONE_ID], tracks.track_id]).astype(np.int64)
    ids = row_ids[shown]
    decisions = [
        {
            "t_s": float(times[0]),
            "kind": "start",
            "subject": int(row_ids[path[0]]),
            "reason": f"the clip opens on {subject_name(tracks, int(path[0]) - 1)}",
        }
    ]
    decisions += [
        {"t_s": float(times[s.cause]), "kind": s.kind, "subject": int(row_ids[s.new]), "reason": s.reason}
        for s in switches
    ]
    decisions += hold_decisions(util, path, inputs, cfg)
    late_used = [(s0, first, new) for s0, first, new in late if (path[s0:first] == new).any()]
    decisions += planning_notes(cut_short, [*prefocused, *late_used], inputs, row_ids)
    decisions.sort(key=lambda d: d["t_s"])
    f_number = cfg.f_number if cfg.f_number is not None else inputs.lens.f_number
    return FocusPlan(
        times_s=times,
        subject_id=ids.astype(np.int64),
        focus_xy=focus_xy.astype(np.float32),
        focus_m=focus_m.astype(np.float32),
        f_number=np.full(t_n, f_number, np.float32),
        pulls=pulls,
        subjects=tracks,
        cuts_s=list(inputs.cuts_s),
        depth_source=inputs.depth_source,
        video=inputs.video.to_dict(),
        meta={
            "planner": "default",
            "config": dataclasses.asdict(cfg),
            "lens": dataclasses.asdict(inputs.lens),
            "background_m": inputs.background_m,
            "cue_sources": dict(cues.sources),
            "decisions": decisions,
        },
    )


def default_planner(inputs: PlanInputs, config: Any = None) -> FocusPlan:
    """Registry entry: :func:`plan_focus` with the user's keyframes of ``inputs``, if any."""
    return plan_focus(inputs, config, list(inputs.keyframes) or None)
