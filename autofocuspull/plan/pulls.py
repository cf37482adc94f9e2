"""Pulls and the focus curve: each switch becomes a timed rack (lead before a speech onset, speed
limit in dioptres, easing), a hard jump at a cut; per frame the shown choice and focus distance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autofocuspull.core.arrays import fill_nearest, first_index_at, runs
from autofocuspull.core.types import Lens, PlanInputs, Pull, SubjectTracks
from autofocuspull.plan.rules import SCENE_POINT_XY
from autofocuspull.plan.timeline import NONE_ID

if TYPE_CHECKING:
    from autofocuspull.plan.planner import PlannerConfig
    from autofocuspull.plan.switches import Switch


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


def choice_distances(inputs: PlanInputs) -> np.ndarray:
    """(K, T) focus distance per choice (background first: ``shot_background_m``, else
    ``background_m``), NaN gaps filled from the nearest frame."""
    t = len(inputs.cues.times_s)
    scene = inputs.shot_background_m if inputs.shot_background_m is not None else inputs.background_m
    rows = [np.broadcast_to(np.asarray(scene, np.float64), (t,)).copy()]
    for s in range(len(inputs.tracks)):
        d = fill_nearest(inputs.tracks.distance_m[s].astype(np.float64))
        rows.append(np.where(np.isfinite(d), d, rows[0]))
    return np.stack(rows)


def choice_points(inputs: PlanInputs) -> np.ndarray:
    """(K, T, 2) normalised focus point per choice, gaps filled from the nearest frame. The
    background choice is the scene at the frame's centre (:data:`~autofocuspull.plan.rules.SCENE_POINT_XY`,
    where its distance is read)."""
    t = len(inputs.cues.times_s)
    pts = [np.tile(np.asarray(SCENE_POINT_XY, np.float64), (t, 1))]
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
    exits: frozenset[int] = frozenset(),
    handovers: frozenset[int] = frozenset(),
) -> tuple[list[Pull], np.ndarray, np.ndarray]:
    """Pulls for the switches, and per frame (T,) the shown choice and focus distance (m).

    A cut switch is a zero-length pull (focus jumps). Others start ``lead_s`` before a speech
    onset (else at the switch), never before the previous pull's end or the shot's start, and end
    at the next cut at the latest. During a pull the choice shown is the new one and focus moves
    in dioptres along the easing curve between the two subjects' (moving) distances. A switch at
    one of the ``exits`` frames (the subject left, focus stays: :func:`hold_after_exits`) moves
    nothing and is no pull; nor is one at a ``handovers`` frame (:func:`same_plane_handovers`):
    focus goes on to the new subject's distance, within the hold deadband.
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
        if sw.frame in exits or sw.frame in handovers:
            continue
        if sw.kind == "cut":
            from_m, to_m = float(dist[sw.old, sw.frame - 1]), float(dist[sw.new, sw.frame])
            pulls.append(Pull(t_sw, t_sw, from_id, to_id, sw.reason, from_m, to_m))
            prev_end = t_sw
            continue
        before = cuts_t[cuts_t <= t_sw]
        shot_start = float(before.max()) if len(before) else float(times[0])
        lead = cfg.lead_s if sw.kind == "speech" else 0.0
        start = min(max(t_sw - lead, prev_end, shot_start), t_sw)
        k0 = first_index_at(times, start)
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


HANDOVER_KINDS = ("saliency", "lost")  # switches on looks or at an exit; never speech, a cut or a user's


def same_plane_handovers(
    switches: Sequence[Switch],
    dist: np.ndarray,
    deadband_dioptre: float,
    whole: Callable[[int, int], bool] = lambda row, frame: True,
) -> list[Switch]:
    """The switches that move focus less than ``deadband_dioptre`` (the hold deadband, in dioptres):
    on looks or at an exit (:data:`HANDOVER_KINDS`), to a subject at the focus distance already set
    (two players side by side, cups shuffled on one table, a label flip that split one object's
    track, a subject found where focus rests after an exit: ``dist`` row 0 holds that rest distance,
    :func:`hold_after_exits`). Nothing on screen changes, so a focus puller does not rack: focus is
    handed over and the hold goes on (no pull; :func:`build_pulls`, :func:`steady_holds`). A
    speaker's turn keeps its pull however small: it is the decision an editor reviews on the
    timeline. So does a switch to a subject cut by the frame's edge (``whole(row, frame)`` false
    for its track row): the distance of a part (a person walking in, their box a sliver at the
    border) is too uncertain to skip the rack on."""
    out = []
    for sw in switches:
        if sw.kind not in HANDOVER_KINDS or sw.new <= 0 or sw.frame == 0:
            continue
        if not whole(sw.new - 1, sw.frame):
            continue
        step = abs(1.0 / dist[sw.old, sw.frame - 1] - 1.0 / dist[sw.new, sw.frame])
        if step < deadband_dioptre:
            out.append(sw)
    return out


def hold_after_exits(
    path: np.ndarray, dist: np.ndarray, cut_mask: np.ndarray, pts: np.ndarray | None = None
) -> frozenset[int]:
    """Where the held subject leaves and nobody takes over, focus stays where the subject left it:
    in place, the background choice's distance (row 0 of ``dist`` (K, T)) on each run of ``path``
    (T,) that follows a subject inside the same shot becomes that subject's last distance, and its
    focus point (row 0 of ``pts`` (K, T, 2), when given) the subject's last point. Runs opening a
    shot keep the scene. Returns the first frames of those runs (no pull there: focus does not
    move).

    The rest distance holds from the exit to the shot's end (a later exit overwrites it from its
    own frame on): a pull out of the rest to the next subject starts where focus rests and racks
    from there, over frames where the path is already on that subject. Row 0 after a subject
    serves only such rests and the pulls out of them (a switch to row 0 after a subject is an
    exit), so the scene's distance is never read there; reading it made focus jump to the
    background at the first frame of the pull."""
    exits = []
    cut_frames = np.flatnonzero(cut_mask)
    for a, _ in runs(path == 0):
        if a == 0 or cut_mask[a] or path[a - 1] == 0:
            continue
        later = cut_frames[cut_frames > a]
        end = int(later[0]) if len(later) else len(path)
        dist[0, a:end] = dist[path[a - 1], a - 1]
        if pts is not None:
            pts[0, a:end] = pts[path[a - 1], a - 1]
        exits.append(a)
    return frozenset(exits)


def blur_px_per_dioptre(lens: Lens, f_number: float, width_px: int) -> float:
    """Pixels of blur per dioptre of defocus for a thin lens far from macro range:
    ``c ≈ (f / N) * f * |1/s - 1/z| * width_px / sensor_width`` (all in metres)."""
    f_m = lens.focal_length_mm / 1000.0
    return (f_m / f_number) * f_m * width_px / (lens.sensor_width_mm / 1000.0)


def backlash(dioptre: np.ndarray, width: float) -> np.ndarray:
    """(n,) focus in dioptres held still until the target leaves a band of ``width`` dioptres
    around it, then dragged along by the band's edge (a focus puller's hand ignoring jitter)."""
    out = np.empty_like(dioptre)
    held = float(dioptre[0])
    half = width / 2
    for i, d in enumerate(dioptre):
        if d > held + half:
            held = float(d) - half
        elif d < held - half:
            held = float(d) + half
        out[i] = held
    return out


def steady_holds(
    focus_m: np.ndarray,
    shown: np.ndarray,
    pulls: Sequence[Pull],
    times: np.ndarray,
    cut_mask: np.ndarray,
    deadband_dioptre: float,
    handovers: frozenset[int] = frozenset(),
) -> np.ndarray:
    """Focus (T,) metres with :func:`backlash` applied over each hold: a run of frames on one
    choice (or on subjects handed over at one distance: ``handovers``, their first frames),
    outside every pull, within one shot. Pull frames and the background are untouched."""
    if deadband_dioptre <= 0:
        return focus_m
    out = focus_m.astype(np.float64).copy()
    free = np.ones(len(times), bool)
    for p in pulls:
        free &= ~((times >= p.start_s) & (times < p.end_s))
    change = np.r_[False, shown[1:] != shown[:-1]]
    change[[f for f in handovers if 0 < f < len(change)]] = False
    key = np.where(free, np.cumsum(change | cut_mask), -1)
    for a, b in runs(free):
        start = a
        for k in range(a + 1, b + 1):
            if k == b or key[k] != key[start]:
                if shown[start] > 0 and k - start > 1:
                    out[start:k] = 1.0 / backlash(1.0 / out[start:k], deadband_dioptre)
                start = k
    return out
