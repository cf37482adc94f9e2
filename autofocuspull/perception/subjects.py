"""Subjects: tracked detections -> :class:`SubjectTracks`, their focus distances, and a streaming
perception pass (:class:`Perceiver`) that runs detection, cuts and tracking frame by frame.

One subject per person track (its linked face giving ``face_xyxy``, landmarks and the eyes as
focus point), one per face track that no person box claimed, and one per track of a salient
object class (products and the like). Short tracks are dropped; gaps up to ``max_gap_s`` are
filled by linear interpolation (tracks never span a cut, the tracker resets there).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import median_filter

from autofocuspull.core.types import (
    COCO_NAMES,
    FACE_CLASS_ID,
    PERSON_CLASS_ID,
    Detections,
    Frame,
    SubjectTracks,
    check_array,
    class_name,
)
from autofocuspull.perception.cuts import CUT_DETECTORS, CutConfig
from autofocuspull.perception.track import TRACKERS, TrackerConfig, link_faces_to_people

log = logging.getLogger(__name__)

SALIENT_OBJECTS: tuple[str, ...] = (
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush", "handbag", "backpack", "umbrella", "tie", "suitcase", "frisbee",
    "sports ball", "kite", "skateboard", "tennis racket", "dog", "cat", "bird", "bicycle",
    "potted plant", "tv",
)  # fmt: skip
SALIENT_CLASS_IDS: tuple[int, ...] = tuple(COCO_NAMES.index(n) for n in SALIENT_OBJECTS)


@dataclass(frozen=True)
class SubjectConfig:
    """Track filtering and gap filling (seconds are turned into frames with the clip's fps)."""

    min_track_s: float = 0.6
    min_detections: int = 3
    max_gap_s: float = 1.0
    salient_class_ids: tuple[int, ...] = SALIENT_CLASS_IDS
    head_focus_frac: float = 0.12  # focus point of a faceless person: this far down its box


# --------------------------------------------------------------------------------------------
# Per-track dense arrays
# --------------------------------------------------------------------------------------------


def interpolate_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill NaN runs of at most ``max_gap`` frames between finite rows by linear interpolation.

    ``values`` (T, ...) float; a row counts as present when all its entries are finite. Runs at
    the ends or longer than ``max_gap`` stay NaN. Returns a new float32 array.
    """
    v = np.asarray(values, np.float32).copy()
    flat = v.reshape(len(v), -1)
    ok = np.isfinite(flat).all(axis=1)
    idx = np.flatnonzero(ok)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= max_gap + 1:
            w = ((np.arange(a + 1, b) - a) / (b - a))[:, None]
            flat[a + 1 : b] = (1 - w) * flat[a] + w * flat[b]
    return v


def _dense(dets: Detections, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame box (T, 4), landmarks (T, 5, 2), confidence (T,) of one track (best per frame)."""
    box = np.full((n_frames, 4), np.nan, np.float32)
    lm = np.full((n_frames, 5, 2), np.nan, np.float32)
    conf = np.zeros(n_frames, np.float32)
    for i in np.argsort(dets.confidence, kind="stable"):  # highest confidence written last
        f = int(dets.frame_index[i])
        if 0 <= f < n_frames:
            box[f], lm[f], conf[f] = dets.xyxy[i], dets.landmarks_px[i], dets.confidence[i]
    return box, lm, conf


def _long_enough(dets: Detections, min_frames: int, min_detections: int) -> bool:
    span = int(dets.frame_index.max() - dets.frame_index.min()) + 1
    return span >= min_frames and len(dets) >= min_detections


def _fill_conf(conf: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Confidence over interpolated frames: linear between observed ones, 0 where absent."""
    c = np.where(conf > 0, conf, np.nan).astype(np.float32)
    filled = interpolate_gaps(c[:, None], len(c))[:, 0]
    present = np.isfinite(box).all(axis=1)
    return np.where(present, np.nan_to_num(filled, nan=0.0), 0.0).astype(np.float32)


def focus_points(
    box: np.ndarray, face: np.ndarray, lm: np.ndarray, image_size: tuple[int, int], head_frac: float
) -> np.ndarray:
    """(T, 2) normalised focus point: eyes midpoint, else face centre, else upper centre of box."""
    w, h = image_size
    eyes = lm[:, :2].mean(axis=1)
    face_c = np.stack([(face[:, 0] + face[:, 2]) / 2, face[:, 1] + 0.4 * (face[:, 3] - face[:, 1])], 1)
    box_c = np.stack([(box[:, 0] + box[:, 2]) / 2, box[:, 1] + head_frac * (box[:, 3] - box[:, 1])], 1)
    pt = np.where(np.isfinite(eyes).all(1, keepdims=True), eyes, face_c)
    pt = np.where(np.isfinite(pt).all(1, keepdims=True), pt, box_c)
    return (pt / np.array([w, h], np.float32)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Tracked detections -> SubjectTracks
# --------------------------------------------------------------------------------------------


def _merge_faces(face_tracks: list[Detections], n_frames: int, max_gap: int):
    if not face_tracks:
        nan4 = np.full((n_frames, 4), np.nan, np.float32)
        return nan4, np.full((n_frames, 5, 2), np.nan, np.float32), np.zeros(n_frames, np.float32)
    box, lm, conf = _dense(Detections.merge(face_tracks), n_frames)
    return interpolate_gaps(box, max_gap), interpolate_gaps(lm, max_gap), conf


def build_subject_tracks(
    tracked: Detections,
    n_frames: int,
    *,
    image_size: tuple[int, int],
    fps: float,
    config: SubjectConfig = SubjectConfig(),
    distance_m: Callable[[SubjectTracks], np.ndarray] | None = None,
) -> SubjectTracks:
    """Subjects from tracked detections of a whole clip.

    ``tracked``: faces (``FACE_CLASS_ID``) and COCO objects with ``frame_index`` and ``track_id``;
    ``image_size`` (width, height) in pixels of their frame; ``fps`` turns seconds into frames.
    ``distance_m`` (optional) maps the built tracks to (S, T) metres; else distances stay NaN (fill
    them with :func:`assign_subject_distances`).
    """
    min_frames = max(1, round(config.min_track_s * fps))
    max_gap = max(0, round(config.max_gap_s * fps))
    by_track = {int(t): tracked[np.flatnonzero(tracked.track_id == t)] for t in np.unique(tracked.track_id)}
    by_track = {t: d for t, d in by_track.items() if t >= 0}
    faces = {t: d for t, d in by_track.items() if d.class_id[0] == FACE_CLASS_ID}
    people = {t: d for t, d in by_track.items() if d.class_id[0] == PERSON_CLASS_ID}
    objects = {t: d for t, d in by_track.items() if t not in faces and t not in people}
    face_all = Detections.merge(list(faces.values()))
    people_all = Detections.merge(list(people.values()))
    links = link_faces_to_people(face_all, people_all)

    rows: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for pid, pd in people.items():
        linked = [faces[f] for f, p in links.items() if p == pid]
        if not _long_enough(pd, min_frames, config.min_detections) and not linked:
            continue
        box, _, conf = _dense(pd, n_frames)
        box = interpolate_gaps(box, max_gap)
        fbox, flm, fconf = _merge_faces(linked, n_frames, max_gap)
        box = np.where(np.isfinite(box), box, fbox)  # face box where no body was seen
        conf = np.maximum(_fill_conf(conf, box), fconf)
        rows.append((pid, "person", box, fbox, flm, conf))
    for fid, fd in faces.items():
        if fid in links or not _long_enough(fd, min_frames, config.min_detections):
            continue
        fbox, flm, fconf = _merge_faces([fd], n_frames, max_gap)
        rows.append((fid, "person", fbox, fbox, flm, _fill_conf(fconf, fbox)))
    for oid, od in objects.items():
        cls = np.bincount(od.class_id[od.class_id >= 0].astype(np.int64)).argmax()
        if int(cls) not in config.salient_class_ids:
            continue
        if not _long_enough(od, min_frames, config.min_detections):
            continue
        box, _, conf = _dense(od, n_frames)
        box = interpolate_gaps(box, max_gap)
        nan_face, nan_lm = np.full((n_frames, 4), np.nan), np.full((n_frames, 5, 2), np.nan)
        rows.append((oid, class_name(int(cls)), box, nan_face, nan_lm, _fill_conf(conf, box)))
    rows.sort(key=lambda r: r[0])
    tracks = SubjectTracks.allocate([r[0] for r in rows], [r[1] for r in rows], n_frames)
    for s, (_, _, box, fbox, flm, conf) in enumerate(rows):
        tracks.xyxy[s], tracks.face_xyxy[s], tracks.landmarks_px[s] = box, fbox, flm
        tracks.confidence[s] = conf
        tracks.focus_xy[s] = focus_points(box, fbox, flm, image_size, config.head_focus_frac)
    tracks.focus_xy[~tracks.present] = np.nan
    if distance_m is not None:
        tracks.distance_m = check_array("distance_m", distance_m(tracks), (len(tracks), n_frames), np.float32)
    return tracks


# --------------------------------------------------------------------------------------------
# Focus distances
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistanceConfig:
    """Depth sampling regions (fractions of the box) and temporal smoothing."""

    face_core: tuple[float, float, float, float] = (0.25, 0.2, 0.75, 0.7)  # x0, y0, x1, y1 of face box
    person_core: tuple[float, float, float, float] = (0.3, 0.08, 0.7, 0.45)  # head and chest
    object_core: tuple[float, float, float, float] = (0.3, 0.3, 0.7, 0.7)
    mask_threshold: float = 0.5
    mask_erode_px: int = 2  # the mask's core: eroded by this much (depth-map pixels)
    min_pixels: int = 4
    median_frames: int = 5
    smooth_tau_s: float = 0.2


def _core_box(xyxy: np.ndarray, frac: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = xyxy
    w, h = x1 - x0, y1 - y0
    return np.array([x0 + frac[0] * w, y0 + frac[1] * h, x0 + frac[2] * w, y0 + frac[3] * h])


def region_median(depth: np.ndarray, box_px: np.ndarray, mask: np.ndarray | None, min_pixels: int) -> float:
    """Median of finite positive ``depth`` (h, w) inside ``box_px`` (xyxy in depth pixels).

    With ``mask`` (h, w bool) only masked pixels count. NaN when fewer than ``min_pixels`` remain.
    """
    h, w = depth.shape
    x0, y0 = int(np.clip(np.floor(box_px[0]), 0, w)), int(np.clip(np.floor(box_px[1]), 0, h))
    x1, y1 = int(np.clip(np.ceil(box_px[2]), 0, w)), int(np.clip(np.ceil(box_px[3]), 0, h))
    vals = depth[y0:y1, x0:x1]
    ok = np.isfinite(vals) & (vals > 0)
    if mask is not None:
        ok &= mask[y0:y1, x0:x1]
    vals = vals[ok]
    return float(np.median(vals)) if vals.size >= min_pixels else float("nan")


def zero_phase_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Forward then backward exponential smoothing of a finite 1-D series (no lag)."""
    y = np.asarray(x, np.float64).copy()
    for i in range(1, len(y)):
        y[i] = alpha * y[i] + (1 - alpha) * y[i - 1]
    for i in range(len(y) - 2, -1, -1):
        y[i] = alpha * y[i] + (1 - alpha) * y[i + 1]
    return y


def smooth_distance(
    d: np.ndarray, fps: float, config: DistanceConfig, cuts: Sequence[int] = ()
) -> np.ndarray:
    """Smooth one subject's (T,) distances with a median filter and a zero-phase EMA, separately over
    each run of finite values (a NaN frame or a cut ends a run, so nothing is smoothed across a
    gap or a shot change). NaN frames stay NaN."""
    d = check_array("d", d, (None,), np.float64)
    present = np.isfinite(d)
    out = np.full(len(d), np.nan)
    breaks = np.zeros(len(d), bool)
    breaks[[c for c in cuts if 0 <= c < len(d)]] = True
    alpha = 1.0 - np.exp(-1.0 / max(config.smooth_tau_s * fps, 1e-6))
    run_id = np.cumsum(breaks | ~present)
    for r in np.unique(run_id[present]):
        idx = np.flatnonzero((run_id == r) & present)
        seg = median_filter(d[idx], size=min(config.median_frames, len(idx)), mode="nearest")
        out[idx] = zero_phase_ema(seg, alpha)
    return out.astype(np.float32)


def _subject_raw_distance(
    tracks: SubjectTracks,
    s: int,
    t: int,
    depth: np.ndarray,
    scale: np.ndarray,
    mask: np.ndarray | None,
    config: DistanceConfig,
) -> float:
    """Robust depth (m) of subject ``s`` in frame ``t`` (NaN when too few pixels)."""
    if tracks.has_face[s, t]:
        core = _core_box(tracks.face_xyxy[s, t], config.face_core) * scale
        return region_median(depth, core, None, config.min_pixels)
    frac = config.person_core if tracks.label[s] == "person" else config.object_core
    core = _core_box(tracks.xyxy[s, t], frac) * scale
    if tracks.label[s] == "person" and mask is not None:
        v = region_median(depth, core, mask, config.min_pixels)
        if np.isfinite(v):
            return v
    return region_median(depth, core, None, config.min_pixels)


def assign_subject_distances(
    tracks: SubjectTracks,
    depth_m_at: Callable[[int], np.ndarray],
    image_size: tuple[int, int],
    *,
    fps: float,
    cuts: Sequence[int] = (),
    person_mask_at: Callable[[int], np.ndarray | None] | None = None,
    config: DistanceConfig = DistanceConfig(),
) -> SubjectTracks:
    """Fill ``distance_m`` (S, T) from metric depth, in place, and return ``tracks``.

    ``depth_m_at(t)`` gives frame t's depth (h, w) float metres at any resolution; ``image_size``
    (width, height) is the pixel frame of the boxes. Faces use the median of the face box's inner
    core, people without a face the median over their person-mask core (``person_mask_at(t)``
    (h, w) probability, optional) or their head-chest core, objects their central core; never a
    single pixel. Then :func:`smooth_distance` per subject, not across ``cuts``.
    """
    raw = np.full((len(tracks), tracks.n_frames), np.nan)
    frames = np.flatnonzero(tracks.present.any(axis=0))
    for t in frames:
        depth = check_array("depth_m_at(t)", depth_m_at(int(t)), (None, None), np.float32)
        scale = np.array([depth.shape[1] / image_size[0], depth.shape[0] / image_size[1]] * 2)
        prob = person_mask_at(int(t)) if person_mask_at is not None else None
        mask = None if prob is None else mask_core(prob, depth.shape, config)
        for s in np.flatnonzero(tracks.present[:, t]):
            raw[s, t] = _subject_raw_distance(tracks, int(s), int(t), depth, scale, mask, config)
    for s in range(len(tracks)):
        seg = raw[s].copy()
        seg = interpolate_gaps(seg[:, None], tracks.n_frames)[:, 0].astype(np.float64)
        seg[~tracks.present[s]] = np.nan
        tracks.distance_m[s] = smooth_distance(seg, fps, config, cuts)
    return tracks


def mask_core(prob: np.ndarray, shape_hw: tuple[int, int], config: DistanceConfig) -> np.ndarray:
    """Person probability (h', w') -> bool (h, w) core: resized, thresholded, eroded."""
    p = check_array("person_mask", prob, (None, None), np.float32)
    if p.shape != tuple(shape_hw):
        p = cv2.resize(p, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_LINEAR)
    m = (p > config.mask_threshold).astype(np.uint8)
    if config.mask_erode_px > 0:
        k = 2 * config.mask_erode_px + 1
        m = cv2.erode(m, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return m.astype(bool)


# --------------------------------------------------------------------------------------------
# Streaming perception pass
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerceiverConfig:
    """Object detection every ``object_every`` frames; faces every frame."""

    object_every: int = 3
    tracker: TrackerConfig = TrackerConfig()  # noqa: RUF009 (frozen, immutable)
    cuts: CutConfig = CutConfig()  # noqa: RUF009
    subjects: SubjectConfig = SubjectConfig()


class Perceiver:
    """Feed frames with ``update(frame)``; ``finish() -> (SubjectTracks, cuts)``.

    Frames may be downscaled (analysis resolution): ``scale`` multiplies their pixel coordinates
    to reach the displayed full-resolution frame of ``image_size`` (width, height), in which the
    returned tracks are. ``object_detector`` may be None (faces only).
    """

    def __init__(
        self,
        face_detector: Callable[[np.ndarray], Detections],
        object_detector: Callable[[np.ndarray], Detections] | None,
        *,
        fps: float,
        image_size: tuple[int, int],
        scale: float = 1.0,
        config: PerceiverConfig = PerceiverConfig(),
        tracker: str | Callable[..., object] = "bytetrack",
        cut_detector: str | Callable[..., object] = "hsv-histogram",
    ) -> None:
        """``tracker`` / ``cut_detector``: a :data:`~autofocuspull.perception.track.TRACKERS` /
        :data:`~autofocuspull.perception.cuts.CUT_DETECTORS` name or builder."""
        self.config = config
        self.fps, self.image_size, self.scale = fps, image_size, float(scale)
        self._faces, self._objects = face_detector, object_detector
        ids = itertools.count(1)
        make_tracker = TRACKERS.get(tracker)
        self._face_tracker = make_tracker(fps, config.tracker, ids=ids)
        self._object_tracker = make_tracker(fps, config.tracker, ids=ids)
        self._cuts = CUT_DETECTORS.get(cut_detector)(config.cuts)
        self._tracked: list[Detections] = []
        self._n_frames = 0
        self._since_cut = -1  # frames since the last cut (the first frame counts as 0)

    def update(self, frame: Frame) -> Detections:
        """Detect, cut-check and track one frame; returns its tracked detections (full-res px)."""
        is_cut = self._cuts.update(frame)
        self._since_cut = 0 if is_cut else self._since_cut + 1
        faces = self._face_tracker.update(self._scaled(self._faces(frame.rgb)), frame.index, is_cut)
        out = [faces]
        run_objects = self._objects is not None and self._since_cut % self.config.object_every == 0
        if is_cut:
            self._object_tracker.reset()
        if run_objects:
            objs = self._object_tracker.update(self._scaled(self._objects(frame.rgb)), frame.index, is_cut)
            out.append(objs)
        merged = Detections.merge(out)
        self._tracked.append(merged)
        self._n_frames = max(self._n_frames, frame.index + 1)
        return merged

    def _scaled(self, d: Detections) -> Detections:
        if self.scale != 1.0:
            d.xyxy = d.xyxy * np.float32(self.scale)
            d.landmarks_px = d.landmarks_px * np.float32(self.scale)
        return d

    @property
    def cuts(self) -> list[int]:
        """Frame indices where a new shot starts (flash-filtered)."""
        return list(self._cuts.cuts)

    def finish(self, n_frames: int | None = None) -> tuple[SubjectTracks, list[int]]:
        """Build the subject tracks over ``n_frames`` (default: frames seen) and return the cuts."""
        n = self._n_frames if n_frames is None else n_frames
        tracked = Detections.merge(self._tracked)
        tracks = build_subject_tracks(
            tracked, n, image_size=self.image_size, fps=self.fps, config=self.config.subjects
        )
        log.info("perception: %d subjects, %d cuts over %d frames", len(tracks), len(self.cuts), n)
        return tracks, self.cuts
