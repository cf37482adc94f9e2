"""Every decision of the planner in words: why each switch happens, why talk did not move focus,
and the notes on pulls held to a cut and late detections focused from their shot's start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from autofocuspull.core.arrays import cut_frame_mask, frame_interval_s, runs
from autofocuspull.core.types import PlanInputs, SubjectTracks
from autofocuspull.plan.keyframes import ResolvedKeyframe
from autofocuspull.plan.switches import Switch
from autofocuspull.plan.timeline import NONE_ID
from autofocuspull.plan.utility import Utility

if TYPE_CHECKING:
    from autofocuspull.plan.planner import PlannerConfig


def subject_name(tracks: SubjectTracks, row: int) -> str:
    """'person 2' for track row ``row``; 'the scene' for -1 (focus at the frame's centre)."""
    if row < 0:
        return "the scene"
    return f"{tracks.label[row]} {int(tracks.track_id[row])}"


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
        if new == 0:  # nobody takes over: focus rests where the subject left it (no pull)
            why = f"{gone} leaves the frame at {t:.2f} s: nobody takes over, focus stays where it was"
            return Switch(f, f, old, new, "lost", why)
        return Switch(f, f, old, new, "lost", f"{gone} leaves the frame at {t:.2f} s: focus goes to {name}")
    if new > 0 and util.dialogue[f] and util.talk[new - 1, f]:
        onset = _run_start(util.talk[new - 1], f)
        if onset == f:
            return Switch(f, onset, old, new, "speech", f"{name} starts speaking at {t:.2f} s")
        since = float(times[onset])
        why = f"{name} is speaking (since {since:.2f} s): focus moves at {t:.2f} s, after the minimum hold"
        return Switch(f, onset, old, new, "speech", why)
    if new == 0:
        why = f"no subject worth focusing on at {t:.2f} s: focus on the scene at the frame's centre"
        return Switch(f, f, old, new, "saliency", why)
    comps = {k: float(v[new - 1, f]) for k, v in inputs.cues.components.items() if k != "user"}
    if inputs.cues.components.get("user") is not None and inputs.cues.components["user"][new - 1, f] > 0:
        why = "picked by the user"
    else:
        top = sorted(comps.items(), key=lambda kv: -kv[1])[:2]
        why = ", ".join(f"{k} {v:.2f}" for k, v in top) if top else "saliency"
    return Switch(f, f, old, new, "saliency", f"{name} becomes the most salient subject at {t:.2f} s ({why})")


def hold_decisions(util: Utility, path: np.ndarray, inputs: PlanInputs, cfg: PlannerConfig) -> list[dict]:
    """Explain talk that did not move focus: dropped backchannels and turns that did not pay."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    dt = frame_interval_s(times)
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
    """Explain the pulls dropped before a cut or an exit and the late detections focused from the
    shot's start."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    cut_mask = cut_frame_mask(times, inputs.cuts_s)
    out = []
    for f, c, old, new in cut_short:
        held, wanted = subject_name(tracks, old - 1), subject_name(tracks, new - 1)
        out.append({
            "t_s": float(times[f]),
            "kind": "hold",
            "subject": int(row_ids[old]),
            "reason": f"held on {held}: a pull to {wanted} at {float(times[f]):.2f} s would be cut short "
            + (f"by the cut at {float(times[c]):.2f} s" if cut_mask[c] else
               f"as {wanted} is gone again at {float(times[c]):.2f} s"),
        })  # fmt: skip
    for s0, first, new in prefocused:
        name, t_first, t_s0 = subject_name(tracks, new - 1), float(times[first]), float(times[s0])
        out.append({
            "t_s": t_s0,
            "kind": "prefocus",
            "subject": int(row_ids[new]),
            "reason": f"{name} is first detected at {t_first:.2f} s, found late rather than entering (away "
            "from the frame's edges, in the shot's first frames, in a hand seen since, or in a shot that "
            f"showed nothing before): focus is on it from {t_s0:.2f} s, at its distance over its first "
            "second",
        })  # fmt: skip
    return out
