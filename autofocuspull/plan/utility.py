"""What each choice (background, subject 1..S) is worth on each frame: the planner's utility.

Built from the cues per the planner's mode (see :mod:`autofocuspull.plan.planner` for the
objective): cleaned talk in dialogue regions, relative saliency elsewhere, coasting over short
detector dropouts, and late detections made focusable from the start of their shot."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autofocuspull.core.arrays import cut_frame_mask, frame_interval_s, runs, touches_edge
from autofocuspull.core.labels import PERSON_LABELS, PRODUCT_LABELS
from autofocuspull.core.types import PlanInputs, SubjectTracks
from autofocuspull.cues.saliency import overlap_fraction

if TYPE_CHECKING:
    from autofocuspull.plan.planner import PlannerConfig


def clean_talk(
    prob: np.ndarray, times_s: np.ndarray, cfg: PlannerConfig
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Talking mask (S, T) bool from probabilities (S, T): threshold, fill short gaps, then sort
    each short run (under ``backchannel_s``) by what follows it over the whole clip.

    A short run is a **turn opening** ("Yeah ... [the answer]") when the same speaker's next kept
    run starts at most ``opening_gap_s`` after it ends and nobody else talks in between: it is
    joined to that turn, so the turn (and the rack to it) starts at the short run. It is a **reply**
    (:func:`is_reply`: "Thank you." after an answer) when it takes the floor another speaker gave
    up: kept as it is, a turn of its own. Otherwise it is a **backchannel** (a short utterance
    while someone else keeps the floor, or an isolated one, most often a detector's blip) and is
    dropped: it never causes a switch. Returns the mask and the dropped runs as (row, start, end)
    frame indices.
    """
    dt = frame_interval_s(times_s)
    talk = prob > cfg.talk_threshold
    for s in range(len(talk)):
        for a, b in runs(~talk[s]):
            if a > 0 and b < talk.shape[1] and (b - a) * dt < cfg.merge_gap_s:
                talk[s, a:b] = True
    merged = talk.copy()  # every speaker's talk before the short runs are sorted out
    dropped = []
    for s in range(len(talk)):
        others = np.delete(merged, s, axis=0).any(axis=0)
        next_kept: int | None = None  # first frame of this speaker's next kept run
        for a, b in reversed(runs(merged[s])):
            if (b - a) * dt >= cfg.backchannel_s:
                next_kept = a
                continue
            if next_kept is not None and opens_turn(b, next_kept, others, dt, cfg.opening_gap_s):
                talk[s, b:next_kept] = True
                next_kept = a
                continue
            if is_reply(a, b, others, dt, cfg):
                next_kept = a
                continue
            talk[s, a:b] = False
            dropped.append((s, a, b))
    dropped.sort()
    return talk, dropped


def opens_turn(end: int, next_start: int, others: np.ndarray, dt: float, max_gap_s: float) -> bool:
    """Whether a short run ending at frame ``end`` opens the same speaker's run starting at
    ``next_start``: the gap is at most ``max_gap_s`` and nobody else (``others`` (T,) bool) talks in it."""
    return (next_start - end) * dt <= max_gap_s + 1e-9 and not others[end:next_start].any()


def is_reply(start: int, end: int, others: np.ndarray, dt: float, cfg: PlannerConfig) -> bool:
    """Whether a short run ``[start, end)`` takes the floor another speaker gave up: someone else
    (``others`` (T,) bool) stopped talking at most ``reply_gap_s`` before it, nobody else talks
    during it, and nobody else resumes within ``opening_gap_s`` after it (had they, they kept the
    floor and it was a backchannel)."""
    before = others[max(0, start - round(cfg.reply_gap_s / dt)) : start].any()
    after = others[end : end + round(cfg.opening_gap_s / dt) + 1].any()
    return bool(before and not others[start:end].any() and not after)


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
    dt = frame_interval_s(times_s)
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


def held_since(
    tracks: SubjectTracks,
    row: int,
    s0: int,
    first: int,
    min_overlap: float,
    present: np.ndarray | None = None,
) -> bool:
    """Whether subject ``row`` is a product that, when first seen at frame ``first``, is held by
    (overlaps by ``min_overlap`` of its area) a person present on every frame since ``s0``
    (``present``: ``tracks.present`` when the caller has it)."""
    if tracks.label[row] not in PRODUCT_LABELS:
        return False
    present = tracks.present if present is None else present
    box = tracks.xyxy[row, first : first + 1]
    return any(
        tracks.label[p] in PERSON_LABELS
        and present[p, s0 : first + 1].all()
        and overlap_fraction(box, tracks.xyxy[p, first : first + 1])[0] >= min_overlap
        for p in range(len(tracks))
    )


def edge_margin_px(inputs: PlanInputs, cfg: PlannerConfig) -> tuple[tuple[int, int], tuple[float, float]]:
    """The frame's (width, height) and the ``edge_margin`` band along its borders, (x, y) pixels."""
    size = (inputs.video.width, inputs.video.height)
    return size, (cfg.edge_margin * size[0], cfg.edge_margin * size[1])


def late_detections(
    inputs: PlanInputs, cut_mask: np.ndarray, cfg: PlannerConfig
) -> list[tuple[int, int, int]]:
    """(row, shot start frame, first detection frame) of each subject found late in its shot: first
    detected after the shot's start with a box clear of the frame's edges (or anywhere, when the
    shot showed nothing before it), at most ``prefocus_max_s`` into the shot, or at any time as a
    product held by a person seen since then.

    An entrance at the edge of a shot that so far shows nothing (a title card wiped away, an empty
    set) is the first thing the shot is about: a focus puller presets its mark rather than resting
    on nothing and racking as it arrives."""
    tracks, times = inputs.tracks, inputs.cues.times_s
    size, margin_px = edge_margin_px(inputs, cfg)
    starts = [0, *np.flatnonzero(cut_mask).tolist(), tracks.n_frames]
    present = tracks.present
    out = []
    for row in range(len(tracks)):
        for s0, s1 in itertools.pairwise(starts):
            seen = np.flatnonzero(present[row, s0:s1])
            if not len(seen) or seen[0] == 0:
                continue
            first = s0 + int(seen[0])
            opening = times[first] - times[s0] <= cfg.shot_open_s + 1e-9
            empty = not present[:, s0:first].any()  # nothing else was in the shot before it
            if not (opening or empty) and touches_edge(tracks.xyxy[row, first], size, margin_px):
                continue
            soon = times[first] - times[s0] <= cfg.prefocus_max_s + 1e-9
            if soon or held_since(tracks, row, s0, first, inputs.saliency.held_overlap, present):
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
    cut_mask = cut_frame_mask(times, inputs.cuts_s)
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
    # where a voice is heard but nobody on screen talks (the speaker is off screen), the shot is
    # about what it shows: relative saliency, as outside dialogue, weighted. Pauses (no voice) keep
    # the dialogue utility: the last speaker is held through them (auto_hold_s)
    quiet = region & (cues.speech_prob > 0.5) & ~talk.any(axis=0)
    u_dialogue = np.where(quiet[None, :], np.maximum(u_dialogue, cfg.quiet_saliency_weight * rel), u_dialogue)
    u_sub = np.where(region[None, :], u_dialogue, rel)
    talk_lead = talk.astype(np.float32)
    if cfg.quiet_saliency_weight > 0:  # a switch in a quiet stretch lands on saliency, as outside
        talk_lead = np.where(quiet[None, :], np.maximum(talk_lead, rel), talk_lead)
    lead = np.where(region[None, :], talk_lead, rel)
    # a depth dropout on a visible subject is filled from the nearest frame, not a reason to leave it
    focusable = (tracks.present | coast) & np.isfinite(tracks.distance_m).any(axis=1, keepdims=True)
    u_sub = np.where(focusable, np.where(tracks.present, u_sub, 0.0), -np.inf)
    backfilled = backfill_late_detections(u_sub, focusable, inputs, cut_mask, cfg)
    zeros = np.zeros((1, len(times)))
    rate = np.concatenate([zeros, u_sub.astype(np.float64)])
    lead_cue = np.concatenate([zeros, np.where(tracks.present, lead, 0.0).astype(np.float64)])
    return Utility(rate, lead_cue, region, talk, dropped, focusable, backfilled)


def exit_targets(util: Utility, hold_frames: int) -> np.ndarray:
    """(K, T) bool: where a subject that leaves at frame t may hand focus over at no switch cost:
    to nobody (focus rests where it was, :func:`~autofocuspull.plan.pulls.hold_after_exits`) or to
    a subject that stays focusable for at least a hold from t. A subject about to leave as well
    is no reason to rack (a chain of brief tracks would otherwise be followed, rack after free
    rack)."""
    ok = np.isfinite(util.rate)
    stay = np.zeros(ok.shape, np.int64)  # frames each choice stays focusable from t on
    run = np.zeros(ok.shape[0], np.int64)
    for t in range(ok.shape[1] - 1, -1, -1):
        run = np.where(ok[:, t], run + 1, 0)
        stay[:, t] = run
    out = stay >= max(hold_frames, 1)
    out[0] = True
    return out
