"""ByteTrack-style multi-object tracking and face-to-person linking.

:class:`ByteTracker` (after Zhang et al., "ByteTrack", ECCV 2022): a constant-velocity Kalman
filter on (cx, cy, aspect, h) per track, then per frame two association stages solved with the
Hungarian algorithm on IoU: high-confidence detections against all live and recently lost tracks,
then low-confidence detections against the tracks still unmatched. Unmatched high detections start
tracks; tracks unseen for ``buffer_s`` are dropped; at a cut every track ends (new ids after it).
Detections are only matched within a class group (faces, people, other objects by default, so an
object whose class flickers between "book" and "cake" keeps its track).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from autofocuspull.core.labels import FACE_CLASS_ID, PERSON_CLASS_ID
from autofocuspull.core.registry import Registry
from autofocuspull.core.types import Detections, check_array
from autofocuspull.perception.detect._common import iou_xyxy

# --------------------------------------------------------------------------------------------
# Kalman filter on (cx, cy, a, h, vcx, vcy, va, vh)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KalmanConfig:
    """Noise as fractions of the box height (ByteTrack's values)."""

    std_position: float = 1.0 / 20
    std_velocity: float = 1.0 / 160


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(4,) xyxy -> (4,) centre x, centre y, aspect w/h, height (float64)."""
    x1, y1, x2, y2 = np.asarray(xyxy, np.float64)
    h = max(y2 - y1, 1e-6)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h])


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(4,) centre x, centre y, aspect, height -> (4,) xyxy (float64)."""
    cx, cy, a, h = np.asarray(xyah, np.float64)[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class KalmanBoxFilter:
    """Constant-velocity Kalman filter of one box; ``mean`` (8,), ``cov`` (8, 8) float64."""

    def __init__(self, xyxy: np.ndarray, config: KalmanConfig = KalmanConfig()) -> None:
        self.config = config
        z = xyxy_to_xyah(xyxy)
        self.mean = np.concatenate([z, np.zeros(4)])
        h, sp, sv = z[3], config.std_position, config.std_velocity
        std = [2 * sp * h, 2 * sp * h, 1e-2, 2 * sp * h, 10 * sv * h, 10 * sv * h, 1e-5, 10 * sv * h]
        self.cov = np.diag(np.square(std))
        self._F = np.eye(8)
        self._F[:4, 4:] = np.eye(4)
        self._H = np.eye(4, 8)

    def predict(self, steps: int = 1, *, freeze_height: bool = False) -> None:
        """Advance ``steps`` frames (``freeze_height`` zeroes the height velocity first)."""
        if freeze_height:
            self.mean[7] = 0.0
        for _ in range(max(0, steps)):
            h, sp, sv = self.mean[3], self.config.std_position, self.config.std_velocity
            q = np.square([sp * h, sp * h, 1e-2, sp * h, sv * h, sv * h, 1e-5, sv * h])
            self.mean = self._F @ self.mean
            self.cov = self._F @ self.cov @ self._F.T + np.diag(q)

    def update(self, xyxy: np.ndarray) -> None:
        """Correct with a measured box (4,) xyxy."""
        z = xyxy_to_xyah(xyxy)
        h, sp = self.mean[3], self.config.std_position
        r = np.diag(np.square([sp * h, sp * h, 1e-1, sp * h]))
        s = self._H @ self.cov @ self._H.T + r
        k = np.linalg.solve(s, self._H @ self.cov).T
        self.mean = self.mean + k @ (z - self._H @ self.mean)
        self.cov = self.cov - k @ s @ k.T

    @property
    def xyxy(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean)


# --------------------------------------------------------------------------------------------
# ByteTrack
# --------------------------------------------------------------------------------------------

_INFEASIBLE = 1e6  # cost of a gated-out pair: larger than any sum of feasible costs (each <= 1)


def gated_assignment(score: np.ndarray, feasible: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (row, col) pairs maximising the number of ``feasible`` pairs, then the total
    ``score`` (R, C) among them. The gate is applied to the cost matrix *before* the Hungarian
    solve (as ByteTrack's ``lapjv(cost_limit=...)`` does): gating the solver's answer afterwards
    lets an infeasible pair with a high partner score win the optimum, and the feasible pairing it
    displaced is lost (in crowds a track then goes unmatched and its person gets a new id, or two
    ids swap). ``score`` in [0, 1] (IoU)."""
    s = check_array("score", score, (None, None), np.float64)
    ok = check_array("feasible", feasible, s.shape, bool)
    if not ok.any():
        return []
    cost = np.where(ok, 1.0 - s, _INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]


def default_class_group(class_id: int) -> int:
    """Association group of a class: faces, people, and all other objects together."""
    if class_id == FACE_CLASS_ID:
        return 2
    return 0 if class_id == PERSON_CLASS_ID else 1


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack thresholds: confidence split, new-track score, IoU gates, buffer in seconds."""

    high_threshold: float = 0.5
    low_threshold: float = 0.1
    new_track_threshold: float = 0.55
    match_iou_high: float = 0.2
    match_iou_low: float = 0.4
    buffer_s: float = 1.0
    kalman: KalmanConfig = field(default_factory=KalmanConfig)


@dataclass
class _Track:
    track_id: int
    group: int
    kf: KalmanBoxFilter
    last_frame: int
    hits: int = 1


class ByteTracker:
    """Streaming tracker: ``update(dets, frame_index, is_cut) -> Detections`` with ``track_id``.

    ``fps`` turns ``config.buffer_s`` into frames. ``ids`` (an iterator of ints) can be shared
    between trackers so their ids never collide. Frames may be skipped (e.g. objects detected
    every k-th frame): the motion model is advanced by the frame-index gap.
    """

    def __init__(
        self,
        fps: float,
        config: TrackerConfig = TrackerConfig(),
        *,
        ids: Iterator[int] | None = None,
        class_group: Callable[[int], int] = default_class_group,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"ByteTracker: expected fps > 0, got {fps}")
        self.config = config
        self.buffer_frames = max(1, round(config.buffer_s * fps))
        self._ids = ids if ids is not None else itertools.count(1)
        self._group = class_group
        self._tracks: list[_Track] = []
        self._last_frame: int | None = None

    @property
    def n_live(self) -> int:
        return len(self._tracks)

    def reset(self) -> None:
        """End every track (used at a shot cut)."""
        self._tracks = []

    def update(self, dets: Detections, frame_index: int, is_cut: bool = False) -> Detections:
        """Associate this frame's detections; returns the ones on a track, ``track_id`` filled."""
        return self.update_with_index(dets, frame_index, is_cut)[0]

    def update_with_index(
        self, dets: Detections, frame_index: int, is_cut: bool = False
    ) -> tuple[Detections, np.ndarray]:
        """:meth:`update`, also returning which rows of ``dets`` (K,) int64 the result holds."""
        if is_cut:
            self.reset()
        self._predict(frame_index)
        groups = np.array([self._group(int(c)) for c in dets.class_id], np.int64)
        conf = dets.confidence
        high = np.flatnonzero(conf >= self.config.high_threshold)
        low = np.flatnonzero((conf >= self.config.low_threshold) & (conf < self.config.high_threshold))
        det_track = np.full(len(dets), -1, np.int64)
        pool = list(range(len(self._tracks)))
        pool = self._associate(dets, groups, high, pool, self.config.match_iou_high, det_track, frame_index)
        self._associate(dets, groups, low, pool, self.config.match_iou_low, det_track, frame_index)
        for i in high:
            if det_track[i] < 0 and conf[i] >= self.config.new_track_threshold:
                det_track[i] = self._start(dets.xyxy[i], int(groups[i]), frame_index)
        self._tracks = [t for t in self._tracks if frame_index - t.last_frame <= self.buffer_frames]
        keep = np.flatnonzero(det_track >= 0)
        out = dets[keep]
        out.track_id = det_track[keep]
        out.frame_index = np.full(len(out), frame_index, np.int64)
        return out, keep

    def _predict(self, frame_index: int) -> None:
        steps = 1 if self._last_frame is None else frame_index - self._last_frame
        if steps < 0:
            raise ValueError(f"ByteTracker: frame_index went back from {self._last_frame} to {frame_index}")
        for t in self._tracks:
            lost = t.last_frame < (self._last_frame if self._last_frame is not None else frame_index)
            t.kf.predict(steps, freeze_height=lost)
        self._last_frame = frame_index

    def _associate(
        self,
        dets: Detections,
        groups: np.ndarray,
        det_idx: np.ndarray,
        pool: list[int],
        min_iou: float,
        det_track: np.ndarray,
        frame_index: int,
    ) -> list[int]:
        """Hungarian match of ``det_idx`` to tracks ``pool`` among the gated pairs (see
        :func:`gated_assignment`: IoU >= min_iou and same group)."""
        if not len(det_idx) or not pool:
            return pool
        pred = np.stack([self._tracks[k].kf.xyxy for k in pool]).astype(np.float32)
        iou = iou_xyxy(dets.xyxy[det_idx], pred)
        same = groups[det_idx][:, None] == np.array([self._tracks[k].group for k in pool])[None, :]
        used = set()
        for r, c in gated_assignment(iou, same & (iou >= min_iou)):
            tr = self._tracks[pool[c]]
            tr.kf.update(dets.xyxy[det_idx[r]])
            tr.last_frame, tr.hits = frame_index, tr.hits + 1
            det_track[det_idx[r]] = tr.track_id
            used.add(pool[c])
        return [k for k in pool if k not in used]

    def _start(self, xyxy: np.ndarray, group: int, frame_index: int) -> int:
        tid = int(next(self._ids))
        self._tracks.append(_Track(tid, group, KalmanBoxFilter(xyxy, self.config.kalman), frame_index))
        return tid


# --------------------------------------------------------------------------------------------
# Faces -> people
# --------------------------------------------------------------------------------------------


def face_in_person_score(face_xyxy: np.ndarray, person_xyxy: np.ndarray) -> np.ndarray:
    """(F, P) float32 in [0, 1]: how well each face sits at the head of each person box.

    The fraction of the face box inside the person box, zeroed when the face centre is below the
    upper 45 % of the person box or the face is wider than the person box.
    """
    f = check_array("face_xyxy", face_xyxy, (None, 4), np.float32)
    p = check_array("person_xyxy", person_xyxy, (None, 4), np.float32)
    lt = np.maximum(f[:, None, :2], p[None, :, :2])
    rb = np.minimum(f[:, None, 2:], p[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    f_area = np.maximum(np.prod(np.clip(f[:, 2:] - f[:, :2], 0, None), axis=1), 1e-6)
    inside = inter / f_area[:, None]
    fcy = (f[:, 1] + f[:, 3]) / 2
    head_limit = p[:, 1] + 0.45 * (p[:, 3] - p[:, 1])
    ok = fcy[:, None] <= head_limit[None, :]
    ok &= (f[:, 2] - f[:, 0])[:, None] <= (p[:, 2] - p[:, 0])[None, :]
    return np.where(ok, inside, 0.0).astype(np.float32)


def link_faces_to_people(
    faces: Detections, people: Detections, *, min_score: float = 0.6, min_votes: int = 1
) -> dict[int, int]:
    """Map face track id -> person track id, by per-frame head matching and a vote over frames.

    ``faces`` and ``people`` are tracked detections of many frames (``frame_index`` and
    ``track_id`` filled). In each frame faces and people are matched one-to-one (Hungarian on
    :func:`face_in_person_score`, pairs below ``min_score`` rejected); a face track goes to the
    person track it matched most often (at least ``min_votes`` frames).
    """
    votes: dict[int, dict[int, int]] = {}
    common = np.intersect1d(faces.frame_index, people.frame_index)
    for fi in common:
        fd = faces[np.flatnonzero(faces.frame_index == fi)]
        pd = people[np.flatnonzero(people.frame_index == fi)]
        score = face_in_person_score(fd.xyxy, pd.xyxy)
        rows, cols = linear_sum_assignment(-score)
        for r, c in zip(rows, cols, strict=True):
            if score[r, c] >= min_score:
                v = votes.setdefault(int(fd.track_id[r]), {})
                v[int(pd.track_id[c])] = v.get(int(pd.track_id[c]), 0) + 1
    links = {}
    for face_id, v in votes.items():
        person_id, n = max(v.items(), key=lambda kv: (kv[1], -kv[0]))
        if n >= min_votes:
            links[face_id] = person_id
    return links


class Tracker(Protocol):
    """A streaming tracker: ``update(dets, frame_index, is_cut) -> Detections`` with ``track_id``
    set (pixel xyxy as given); ``update_with_index`` also returns which rows of ``dets`` (K,) int64
    the result holds (the Perceiver keeps their appearance descriptors); ``reset()`` forgets every
    track (a new shot)."""

    def update(self, dets: Detections, frame_index: int, is_cut: bool = False) -> Detections: ...

    def update_with_index(
        self, dets: Detections, frame_index: int, is_cut: bool = False
    ) -> tuple[Detections, np.ndarray]: ...

    def reset(self) -> None: ...


class TrackerBuilder(Protocol):
    """``(fps, TrackerConfig, ids=shared id iterator) -> Tracker``."""

    def __call__(self, fps: float, config: TrackerConfig, *, ids: Iterator[int] | None = None) -> Tracker: ...


# The only way a tracker is found by name (``[stages] tracker``); plug-ins: ``autofocuspull.trackers``.
TRACKERS: Registry[TrackerBuilder] = Registry("tracker", "autofocuspull.trackers")
TRACKERS.register("bytetrack", ByteTracker)
