"""Metric calibration of a depth run from tracked subjects, and subject distances from depth maps.

Subject boxes are in displayed-frame pixels (``frame_size_hw``); depth maps are smaller, so
boxes are scaled to the map. A subject's depth is read in its *core* by
:func:`~autofocuspull.perception.distance.sample_subject_depth`, the same reading that focus
distances use (so the clip is calibrated on the distance focus is set to).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from autofocuspull.core.arrays import fill_nearest, touches_edge
from autofocuspull.core.types import SubjectTracks
from autofocuspull.perception.depth.metric import (
    DEFAULT_SCENE_DISTANCE_M,
    MetricFit,
    fit_from_distance,
    fit_metric_scale,
    focal_length_px,
    prior_distance_m,
)
from autofocuspull.perception.depth.run import DepthStore
from autofocuspull.perception.distance import raw_subject_distances, sample_subject_depth


class MetricDepthSource(Protocol):
    """What the renderer and planner read depth from (a calibrated store or the heuristic)."""

    source: str
    n_frames: int
    note: str

    def depth_m_at(self, index: int) -> np.ndarray: ...


def prior_distances_from_tracks(
    tracks: SubjectTracks, frame_size_hw: tuple[int, int], focal_px: float
) -> np.ndarray:
    """(S, T) float32 prior distance (m) per subject and frame: face width first, else body height.

    A face box touching the frame's edge is cut off, so its width says nothing of its distance
    (a face walking out of frame would seem to recede); such frames, and frames where no prior
    applies (a body cut by the frame, not upright), take the subject's nearest reliable prior.
    NaN where the subject is absent, or has no reliable prior at all.
    """
    out = np.full((len(tracks), tracks.n_frames), np.nan, np.float32)
    has_face, present = tracks.has_face, tracks.present
    h, w = frame_size_hw
    for s in range(len(tracks)):
        seen = present[s] | has_face[s]
        for t in np.flatnonzero(seen):
            face = tracks.face_xyxy[s, t]
            if has_face[s, t] and not touches_edge(face, (w, h), (1.0, 1.0)):
                out[s, t] = prior_distance_m(face, "face", focal_px)
            elif not has_face[s, t] and tracks.label[s] == "person":
                out[s, t] = prior_distance_m(tracks.xyxy[s, t], "person", focal_px, h)
        out[s] = fill_nearest(out[s], seen)
    return out


def metric_samples(
    rel_at: Callable[[int], np.ndarray],
    tracks: SubjectTracks,
    frame_size_hw: tuple[int, int],
    focal_px: float,
    *,
    max_frames: int = 200,
    frame_range: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paired ``(rel (N,), prior_distance_m (N,))`` at subject cores, on up to ``max_frames`` frames."""
    priors = prior_distances_from_tracks(tracks, frame_size_hw, focal_px)
    frames = np.flatnonzero(np.isfinite(priors).any(axis=0))
    if frame_range is not None:
        frames = frames[(frames >= frame_range[0]) & (frames < frame_range[1])]
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    rel, dist = [], []
    for t in frames:
        rel_map = rel_at(int(t))
        for s in np.flatnonzero(np.isfinite(priors[:, t])):
            rel.append(sample_subject_depth(rel_map, tracks, int(s), int(t), frame_size_hw))
            dist.append(float(priors[s, t]))
    return np.asarray(rel, np.float64), np.asarray(dist, np.float64)


def calibrate_from_tracks(
    rel_at: Callable[[int], np.ndarray],
    n_frames: int,
    tracks: SubjectTracks | None,
    frame_size_hw: tuple[int, int],
    *,
    focal_px: float | None = None,
    user_distance_m: float | None = None,
    max_frames: int = 200,
    frame_range: tuple[int, int] | None = None,
) -> MetricFit:
    """Metric fit of aligned relative depth (``rel_at(index) -> (h, w)``) for a clip.

    ``user_distance_m`` wins: the median subject core (or, without subjects, the median pixel)
    is put at that distance. Else subject size priors (faces 0.16 m wide, standing adults
    1.7 m tall, with ``focal_px`` defaulting to :func:`focal_length_px` of the frame width) feed
    :func:`fit_metric_scale`. Without usable subjects the median pixel is put at
    :data:`DEFAULT_SCENE_DISTANCE_M`. ``frame_range`` ``(start, stop)`` limits it to one shot.
    """
    f_px = focal_px if focal_px is not None else focal_length_px(frame_size_hw[1])
    rel, dist = (np.zeros(0), np.zeros(0))
    if tracks is not None and len(tracks):
        rel, dist = metric_samples(
            rel_at, tracks, frame_size_hw, f_px, max_frames=max_frames, frame_range=frame_range
        )
    if user_distance_m is not None:
        if rel.size:
            return fit_from_distance(
                rel, user_distance_m, f"user distance {user_distance_m:g} m at the subjects"
            )
        scene = _scene_rel(rel_at, frame_range or (0, n_frames), max_frames)
        return fit_from_distance(
            scene, user_distance_m, f"user distance {user_distance_m:g} m at the median pixel"
        )
    ok = np.isfinite(rel) & (rel > 0) & np.isfinite(dist)
    if ok.any():
        a, b = fit_metric_scale(rel[ok], dist[ok])
        return MetricFit(a, b, f"subject size priors (focal {f_px:.0f} px)", int(ok.sum()))
    return fit_from_distance(
        _scene_rel(rel_at, frame_range or (0, n_frames), max_frames),
        DEFAULT_SCENE_DISTANCE_M,
        f"default scene scale: median pixel at {DEFAULT_SCENE_DISTANCE_M:g} m (no subject)",
    )


def _scene_rel(
    rel_at: Callable[[int], np.ndarray], frame_range: tuple[int, int], max_frames: int
) -> np.ndarray:
    start, stop = frame_range
    idx = np.unique(np.linspace(start, stop - 1, min(stop - start, max_frames)).round().astype(int))
    return np.array([np.median(rel_at(int(t))) for t in idx], np.float64)


def subject_distances_m(
    source: MetricDepthSource, tracks: SubjectTracks, frame_size_hw: tuple[int, int]
) -> np.ndarray:
    """(S, T) float32 metres at each present subject's core (NaN where absent), read frame by frame
    with :func:`~autofocuspull.perception.distance.sample_subject_depth` (unfiltered)."""
    return raw_subject_distances(tracks, source.depth_m_at, frame_size_hw).astype(np.float32)


def calibrate_store(
    store: DepthStore,
    tracks: SubjectTracks | None,
    frame_size_hw: tuple[int, int],
    *,
    focal_px: float | None = None,
    user_distance_m: float | None = None,
) -> list[MetricFit]:
    """Fit metres for every shot of ``store`` (each shot has its own relative scale), set and return them."""
    fits = [
        calibrate_from_tracks(
            store.rel_at,
            store.n_frames,
            tracks,
            frame_size_hw,
            focal_px=focal_px,
            user_distance_m=user_distance_m,
            frame_range=store.segment_range(seg),
        )
        for seg in range(len(store.segment_starts))
    ]
    store.calibrate(fits)
    return fits
