"""Subjects: tracked detections -> :class:`SubjectTracks`, their focus distances, and a streaming
perception pass (:class:`Perceiver`) that runs detection, cuts, tracking and re-identification.

One subject per person track (its linked face giving ``face_xyxy``, landmarks and the eyes as
focus point), one per face track that no person box claimed, and one per track of a salient
object class (products and the like). Short tracks are dropped; gaps up to ``max_gap_s`` are
filled by linear interpolation (tracks never span a cut, the tracker resets there).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autofocuspull.core.labels import (
    COCO_NAMES,
    FACE_CLASS_ID,
    OBJECT_CLASS_ID,
    PERSON_CLASS_ID,
    SALIENT_OBJECTS,
    class_name,
)
from autofocuspull.core.types import Detections, Frame, SubjectTracks, check_array
from autofocuspull.perception.cuts import CUT_DETECTORS, CutConfig, CutDetectorBuilder
from autofocuspull.perception.distance import (  # noqa: F401 (re-exported: subject distances live there)
    DistanceConfig,
    assign_subject_distances,
    mask_core,
    region_median,
    smooth_distance,
)
from autofocuspull.perception.reid import ReidConfig, appearance, fragments, stitch
from autofocuspull.perception.salient import SalientConfig, salient_proposals
from autofocuspull.perception.track import (
    TRACKERS,
    TrackerBuilder,
    TrackerConfig,
    default_class_group,
    link_faces_to_people,
)

log = logging.getLogger(__name__)

SALIENT_CLASS_IDS: tuple[int, ...] = (*(COCO_NAMES.index(n) for n in SALIENT_OBJECTS), OBJECT_CLASS_ID)


@dataclass(frozen=True)
class SubjectConfig:
    """Track filtering and gap filling (seconds are turned into frames with the clip's fps)."""

    min_track_s: float = 0.6
    min_detections: int = 3
    max_gap_s: float = 1.0
    salient_class_ids: tuple[int, ...] = SALIENT_CLASS_IDS
    head_focus_frac: float = 0.12  # focus point of a faceless person: this far down its box
    # ... and of one whose box the top of the frame cuts (the head is out of frame: a torso behind
    # the thing it holds, arms reaching in): the chest, a quarter down what is visible, the middle
    # of the head-and-chest region its distance is read from (perception.distance person_core)
    cropped_focus_frac: float = 0.25


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


def dominant_class(dets: Detections) -> int:
    """The class of a track: the one with the largest summed confidence over its detections (a
    track whose label flickers, "cup" / "cell phone" / "cup", is a cup)."""
    cls = dets.class_id.astype(np.int64)
    ok = cls >= 0
    if not ok.any():
        return -1
    weight = np.bincount(cls[ok], weights=np.maximum(dets.confidence[ok], 1e-6).astype(np.float64))
    return int(weight.argmax())


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
    box: np.ndarray,
    face: np.ndarray,
    lm: np.ndarray,
    image_size: tuple[int, int],
    head_frac: float,
    cropped_frac: float | None = None,
) -> np.ndarray:
    """(T, 2) normalised focus point: eyes midpoint, else face centre, else upper centre of box:
    ``head_frac`` of its height down, or ``cropped_frac`` (default ``head_frac``) where the box
    reaches the top of the frame (within 1 % of its height: the head is cut off)."""
    w, h = image_size
    eyes = lm[:, :2].mean(axis=1)
    face_c = np.stack([(face[:, 0] + face[:, 2]) / 2, face[:, 1] + 0.4 * (face[:, 3] - face[:, 1])], 1)
    cropped = box[:, 1] <= 0.01 * h
    frac = np.where(cropped, head_frac if cropped_frac is None else cropped_frac, head_frac)
    box_c = np.stack([(box[:, 0] + box[:, 2]) / 2, box[:, 1] + frac * (box[:, 3] - box[:, 1])], 1)
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
    people = {t: d for t, d in by_track.items() if t not in faces and dominant_class(d) == PERSON_CLASS_ID}
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
        cls = dominant_class(od)
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
    for s, (_, label, box, fbox, flm, conf) in enumerate(rows):
        tracks.xyxy[s], tracks.face_xyxy[s], tracks.landmarks_px[s] = box, fbox, flm
        tracks.confidence[s] = conf
        cropped = config.cropped_focus_frac if label == "person" else None
        tracks.focus_xy[s] = focus_points(box, fbox, flm, image_size, config.head_focus_frac, cropped)
    tracks.focus_xy[~tracks.present] = np.nan
    if distance_m is not None:
        tracks.distance_m = check_array("distance_m", distance_m(tracks), (len(tracks), n_frames), np.float32)
    return tracks


# --------------------------------------------------------------------------------------------
# Streaming perception pass
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerceiverConfig:
    """Object detection (and salient proposals) every ``object_every`` frames; faces every frame."""

    object_every: int = 3
    tracker: TrackerConfig = TrackerConfig()  # noqa: RUF009 (frozen, immutable)
    cuts: CutConfig = CutConfig()  # noqa: RUF009
    subjects: SubjectConfig = SubjectConfig()
    reid: ReidConfig = ReidConfig()  # noqa: RUF009
    salient: SalientConfig = SalientConfig()  # noqa: RUF009


class Perceiver:
    """Feed frames with ``update(frame)``; ``finish() -> (SubjectTracks, cuts)``.

    Frames may be downscaled (analysis resolution): ``scale`` multiplies their pixel coordinates
    to reach the displayed full-resolution frame of ``image_size`` (width, height), in which the
    returned tracks are. ``object_detector`` may be None (faces only). ``tracker`` and
    ``cut_detector``: names in :data:`~autofocuspull.perception.track.TRACKERS` and
    :data:`~autofocuspull.perception.cuts.CUT_DETECTORS` (``[stages] tracker`` and ``cuts``) or
    builders given directly.

    A frame waits :attr:`CutDetector.latency_frames` frames before it is detected and tracked,
    until the cut detector has decided whether it starts a shot (tracks end at cuts, and objects
    are detected on a shot's first frame). Each detection also gets an appearance descriptor
    (:func:`~autofocuspull.perception.reid.appearance`), with which :meth:`finish` stitches
    tracker fragments into one identity.
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
        tracker: str | TrackerBuilder = "bytetrack",
        cut_detector: str | CutDetectorBuilder = "adaptive",
    ) -> None:
        self.config = config
        self.fps, self.image_size, self.scale = fps, image_size, float(scale)
        self._faces, self._objects = face_detector, object_detector
        ids = itertools.count(1)  # faces and objects share one id space
        make_tracker = TRACKERS.get(tracker)
        self._face_tracker = make_tracker(fps, config.tracker, ids=ids)
        self._object_tracker = make_tracker(fps, config.tracker, ids=ids)
        self._cuts = CUT_DETECTORS.get(cut_detector)(fps, config.cuts)
        self._queue: deque[Frame] = deque()  # frames waiting for their cut decision
        self._object_stage = object_detector is not None or config.salient.enabled
        self._prev_gray: np.ndarray | None = None  # last object frame's small grey (motion cue)
        self._since_cut = -1  # analysed frames since the last cut (the first frame counts as 0)
        self._tracked: list[Detections] = []
        self._desc: list[np.ndarray] = []
        self._n_frames = 0

    def update(self, frame: Frame) -> Detections:
        """Cut-check one frame, then detect and track the frames whose cut decision became final
        with it; returns their tracked detections (full-res px): an earlier frame's, or none."""
        self._queue.append(frame)
        self._cuts.update(frame)
        self._n_frames = max(self._n_frames, frame.index + 1)
        return self._track(keep=self._cuts.latency_frames + 1)

    def _track(self, keep: int) -> Detections:
        """Detect and track the queued frames beyond the last ``keep`` (whose cut decision may
        still change). Objects are detected on a shot's first frame and every ``object_every``-th
        frame after it."""
        cuts, out = set(self._cuts.cuts), []
        while len(self._queue) > keep:
            frame = self._queue.popleft()
            is_cut = frame.index in cuts
            self._since_cut = 0 if is_cut else self._since_cut + 1
            faces = self._faces(frame.rgb)
            fdesc = appearance(frame.rgb, faces.xyxy, self.config.reid)
            f_out, f_keep = self._face_tracker.update_with_index(self._scaled(faces), frame.index, is_cut)
            parts, desc = [f_out], [fdesc[f_keep]]
            if is_cut:
                self._object_tracker.reset()
            if self._object_stage and self._since_cut % self.config.object_every == 0:
                objs = self._detect_objects(frame.rgb, faces.xyxy / np.float32(self.scale), is_cut)
                odesc = appearance(frame.rgb, objs.xyxy, self.config.reid)
                track = self._object_tracker.update_with_index
                o_out, o_keep = track(self._scaled(objs), frame.index, is_cut)
                parts.append(o_out)
                desc.append(odesc[o_keep])
            merged = Detections.merge(parts)
            self._tracked.append(merged)
            self._desc.append(np.concatenate(desc))
            out.append(merged)
        return Detections.merge(out)

    def _detect_objects(self, rgb: np.ndarray, face_xyxy: np.ndarray, is_cut: bool) -> Detections:
        """The object detector's boxes and the salient proposals where nothing was found."""
        objs = self._objects(rgb) if self._objects is not None else Detections.empty()
        if not self.config.salient.enabled:
            return objs
        # every named thing counts: in a frame full of detected cars, what moves and was not named is
        # most likely one more car, not an unnamed subject
        known = np.concatenate([face_xyxy, objs.xyxy])
        props, gray = salient_proposals(
            rgb, None if is_cut else self._prev_gray, known, known, self.config.salient
        )
        self._prev_gray = gray
        return Detections.merge([objs, props]) if len(props) else objs

    def _scaled(self, d: Detections) -> Detections:
        if self.scale != 1.0:
            d.xyxy = d.xyxy * np.float32(self.scale)
            d.landmarks_px = d.landmarks_px * np.float32(self.scale)
        return d

    @property
    def cuts(self) -> list[int]:
        """Frame indices where a new shot starts (decided so far)."""
        return list(self._cuts.cuts)

    @property
    def tracker_detections(self) -> Detections:
        """Every tracked detection so far with the tracker's own ids (before re-identification)."""
        return Detections.merge(self._tracked)

    def finish(self, n_frames: int | None = None) -> tuple[SubjectTracks, list[int]]:
        """Decide the last cuts, track the last frames, stitch fragments into identities, and
        build the subject tracks over ``n_frames`` (default: frames seen); returns them and the cuts."""
        self._cuts.finish()
        self._track(keep=0)
        n = self._n_frames if n_frames is None else n_frames
        tracked = self.tracker_detections
        desc = np.concatenate(self._desc) if self._desc else np.zeros((0, self.config.reid.dim), np.float32)
        tracked.track_id = stitched_ids(tracked, desc, self.fps, self.cuts, self.config.reid)
        tracks = build_subject_tracks(
            tracked, n, image_size=self.image_size, fps=self.fps, config=self.config.subjects
        )
        log.info("perception: %d subjects, %d cuts over %d frames", len(tracks), len(self.cuts), n)
        return tracks, self.cuts


def stitched_ids(
    tracked: Detections, descriptors: np.ndarray, fps: float, cuts: list[int], config: ReidConfig
) -> np.ndarray:
    """(N,) int64 track ids of ``tracked`` after :func:`~autofocuspull.perception.reid.stitch`."""
    if not len(tracked):
        return tracked.track_id.copy()
    groups = np.array([default_class_group(int(c)) for c in tracked.class_id], np.int64)
    root = stitch(fragments(tracked, descriptors, groups), fps, cuts, config)
    return np.array([root.get(int(t), int(t)) for t in tracked.track_id], np.int64)
