"""Exact dynamic programming over "which subject is in focus", with a minimum hold.

States are (choice k, dwell slot j): slot j means the choice has been held j + 1 frames, capped
at the last slot. The objective is::

    maximise  sum_t u[k_t, t]  -  switch_cost * #{t : k_t != k_(t-1), t not a free-switch frame,
                                                   k_(t-1) still focusable at t}

subject to: a switch out of k at frame t needs k held >= ``hold_frames`` frames, unless t is a
free-switch frame (a cut, a user keyframe) or k cannot be focused at t (``u[k, t] = -inf``);
``forced[t] >= 0`` pins the choice at frame t. Leaving a choice that can no longer be focused (its
subject left the frame) is forced, so it costs nothing: otherwise the cost of that unavoidable
switch would be charged against ever choosing a subject that later leaves. With ``free_into``
that free exit is limited to the destinations marked (the planner marks "nobody", where focus
rests, and subjects that stay for a hold), so a chain of brief tracks is not followed rack after
free rack. With ``plane_dioptre`` a switch between two choices whose focus distances lie within
``deadband_dioptre`` of each other at that frame (a hand-over: focus does not move) costs
``handover_cost`` instead of ``switch_cost``; that solve is O(T * K * (K + hold)). Solved exactly by
Viterbi in O(T * K * hold) otherwise.
"""

from __future__ import annotations

import numpy as np

from autofocuspull.core.types import check_array

FREE = -1
TIE_EPS = 1e-7  # switches cost a hair more the earlier they are: ties go to the later switch


def _best_other(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each k, the max over i != k of vals (K,) and its argmax."""
    order = np.argsort(-vals, kind="stable")
    first, second = order[0], order[1] if len(vals) > 1 else order[0]
    src = np.where(np.arange(len(vals)) == first, second, first)
    best = vals[src]
    if len(vals) == 1:
        best = np.full(1, -np.inf)
    return best, src


def _pair_cost(dioptre: np.ndarray, deadband: float, cost: float, handover: float) -> np.ndarray:
    """(K, K) cost of a switch from choice i (rows) to k (columns): ``handover`` between choices
    less than ``deadband`` dioptres apart (NaN distances never are), ``cost`` otherwise."""
    with np.errstate(invalid="ignore"):
        near = np.abs(dioptre[:, None] - dioptre[None, :]) < deadband
    return np.where(near, handover, cost)


def _best_from(
    vals: np.ndarray, pair: np.ndarray, lost: np.ndarray, free_into: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """For each destination k, the max over sources i != k of ``vals[i] - pair[i, k]`` and its
    argmax; leaving a lost source is free (into the ``free_into`` destinations only, when given)."""
    pair = pair.copy()
    free_k = np.ones(len(vals), bool) if free_into is None else free_into
    pair[np.ix_(lost, free_k)] = 0.0
    score = vals[:, None] - pair
    np.fill_diagonal(score, -np.inf)
    src = np.argmax(score, axis=0)  # first maximum, as _best_other's stable order
    return score[src, np.arange(len(vals))], src


def viterbi_hold(
    utility: np.ndarray,
    switch_cost: float,
    hold_frames: int,
    free_switch: np.ndarray | None = None,
    forced: np.ndarray | None = None,
    free_into: np.ndarray | None = None,
    plane_dioptre: np.ndarray | None = None,
    deadband_dioptre: float = 0.0,
    handover_cost: float | None = None,
) -> np.ndarray:
    """Optimal choice per frame: utility (K, T) float64 (-inf = cannot focus) -> (T,) int64.

    ``switch_cost`` in utility units; ``hold_frames`` minimum frames between switches;
    ``free_switch`` (T,) bool frames where switching is free and unconstrained; ``forced`` (T,)
    int64 choice pinned per frame (-1 = free). Among equally good plans, switches come as late as
    possible (each switch costs ``TIE_EPS * (T - t) / T`` more), then the current choice is kept.
    ``free_into`` (K, T) bool: when given, leaving a lost choice at frame t is free only into the
    choices marked at t (the planner: "nobody", where focus rests, and subjects that stay long
    enough to hold); into any other it costs as a switch does. ``plane_dioptre`` (K, T) float64:
    each choice's focus distance in dioptres; a switch between two choices less than
    ``deadband_dioptre`` apart costs ``handover_cost`` (same units as ``switch_cost``).
    """
    u = check_array("utility", utility, (None, None), np.float64)
    k_n, t_n = u.shape
    free = (
        np.zeros(t_n, bool) if free_switch is None else check_array("free_switch", free_switch, (t_n,), bool)
    )
    pin = np.full(t_n, FREE) if forced is None else check_array("forced", forced, (t_n,), np.int64)
    planes = None
    if plane_dioptre is not None and handover_cost is not None and handover_cost < switch_cost:
        planes = check_array("plane_dioptre", plane_dioptre, (k_n, t_n), np.float64)
    h = max(int(hold_frames), 0)
    d = max(h + 1, 2)
    eligible_from = max(h - 1, 0)
    neg = -np.inf

    def pinned(vals: np.ndarray, t: int) -> np.ndarray:
        if pin[t] >= 0:
            keep = vals[pin[t]].copy()
            vals[:] = neg
            vals[pin[t]] = keep
        return vals

    v = np.full((k_n, d), neg)
    v[:, d - 1] = u[:, 0]
    v = pinned(v, 0)
    sw_k = np.zeros((t_n, k_n), np.int64)
    sw_j = np.zeros((t_n, k_n), np.int64)
    top_stay = np.ones((t_n, k_n), bool)
    for t in range(1, t_n):
        elig = v.copy()
        lost = ~np.isfinite(u[:, t])
        if not free[t]:
            elig[~lost, :eligible_from] = neg
        j_best = np.argmax(elig[:, ::-1], axis=1)
        j_best = d - 1 - j_best  # prefer the longest dwell on ties
        out_val = elig[np.arange(k_n), j_best]
        tie = TIE_EPS * (t_n - t) / t_n
        cost = 0.0 if free[t] else switch_cost + tie
        if planes is not None and cost > 0:
            pair = _pair_cost(planes[:, t], deadband_dioptre, cost, handover_cost + tie)
            best, src = _best_from(out_val, pair, lost, None if free_into is None else free_into[:, t])
        else:
            best, src = _best_other(out_val - np.where(lost, 0.0, cost))  # leaving a lost subject is free
            if free_into is not None and lost.any() and cost > 0:  # ... but only into these
                best_paid, src_paid = _best_other(out_val - cost)
                paid = ~free_into[:, t]
                best, src = np.where(paid, best_paid, best), np.where(paid, src_paid, src)
        new = np.empty_like(v)
        new[:, 0] = best
        new[:, 1:d] = v[:, 0 : d - 1]
        top_stay[t] = v[:, d - 1] >= v[:, d - 2]
        new[:, d - 1] = np.maximum(v[:, d - 1], v[:, d - 2])
        sw_k[t] = src
        sw_j[t] = j_best[src]
        new += u[:, t : t + 1]
        v = pinned(new, t)
    if not np.isfinite(v).any():
        raise ValueError("viterbi_hold: no feasible focus choice (pinned choice cannot be focused?)")
    flat = np.flatnonzero(v.ravel() == v.max())
    # prefer the longest dwell among ties (fewest switches)
    k, j = divmod(int(max(flat, key=lambda f: (f % d, -(f // d)))), d)
    path = np.empty(t_n, np.int64)
    for t in range(t_n - 1, -1, -1):
        path[t] = k
        if t == 0:
            break
        if j == 0:
            k, j = int(sw_k[t, k]), int(sw_j[t, k])
        elif j < d - 1:
            j -= 1
        elif not top_stay[t, k]:
            j = d - 2
    return path
