"""Typed containers passed between stages.

Every container validates itself on construction; shape errors say expected versus actual.
Column-per-field containers (:class:`Detections`, :class:`SubjectTracks`) support boolean-mask
and integer indexing, returning the same type (in the style of supervision's ``Detections``).

Conventions: times in seconds (``_s``), distances in metres (``_m``), boxes as pixel ``xyxy`` in
the *displayed* frame (after rotation metadata), images as RGB ``uint8`` (H, W, 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np

DepthKind = Literal["relative_inverse", "metric_m"]


def check_array(
    name: str,
    arr: Any,
    shape: Sequence[int | None],
    dtype: Any | None = None,
) -> np.ndarray:
    """Return ``arr`` as an ndarray, raising ``ValueError`` if its shape does not match.

    ``shape`` uses ``None`` for free dimensions. With ``dtype`` the array is cast (copy-free when
    already of that dtype).
    """
    a = np.asarray(arr) if dtype is None else np.asarray(arr, dtype=dtype)
    ok = a.ndim == len(shape) and all(e is None or e == s for e, s in zip(shape, a.shape, strict=False))
    if not ok:
        expected = "(" + ", ".join("N" if e is None else str(e) for e in shape) + ")"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(a.shape)}")
    return a


def _check_len(name: str, arr: np.ndarray, n: int, axis: int = 0) -> None:
    if arr.shape[axis] != n:
        raise ValueError(f"{name}: expected length {n} along axis {axis}, got {arr.shape[axis]}")


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a container."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None


@dataclass(frozen=True)
class ColourInfo:
    """How a clip's pixels encode colour, as FFmpeg codes them (``AVColorSpace``,
    ``AVColorRange``, ``AVColorPrimaries``, ``AVColorTransferCharacteristic``) after the player
    rules for untagged files (see :func:`autofocuspull.io.colour.resolve_colour`), plus the bit
    depth of the luma samples. ``tagged`` says which of the four the file itself declared.

    Defaults: 8-bit BT.709, limited range (what an untagged HD clip is played as).
    """

    matrix: int = 1  # AVColorSpace: 1 BT.709, 5/6 BT.601 (625/525), 9 BT.2020 NCL
    range: int = 1  # AVColorRange: 1 limited (MPEG), 2 full (JPEG)
    primaries: int = 1  # AVColorPrimaries: 1 BT.709, 5 BT.470BG, 6 SMPTE 170M, 9 BT.2020
    transfer: int = 1  # AVColorTRC: 1 BT.709, 13 sRGB, 16 PQ (SMPTE 2084), 18 HLG (ARIB STD-B67)
    bit_depth: int = 8
    tagged: tuple[str, ...] = ()  # subset of ("matrix", "range", "primaries", "transfer")

    @property
    def high_bit_depth(self) -> bool:
        return self.bit_depth > 8


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a clip, with exact per-frame presentation times.

    ``width``/``height`` are the *displayed* size (rotation applied); ``coded_width``/``coded_height``
    the stored size. ``pts_s`` holds every frame's presentation time in seconds (float64, (T,)),
    taken from the container's pts, never from index / rounded fps.
    """

    path: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation_deg: int
    frame_rate: Fraction
    time_base: Fraction
    pts_s: np.ndarray
    duration_s: float
    codec: str
    container: str
    audio: tuple[AudioStreamInfo, ...] = ()
    colour: ColourInfo = ColourInfo()

    def __post_init__(self) -> None:
        pts = check_array("VideoInfo.pts_s", self.pts_s, (None,), np.float64)
        object.__setattr__(self, "pts_s", pts)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"VideoInfo: expected positive size, got {self.width}x{self.height}")
        if self.rotation_deg not in (0, 90, 180, 270):
            raise ValueError(f"VideoInfo.rotation_deg: expected 0/90/180/270, got {self.rotation_deg}")
        if pts.size and np.any(np.diff(pts) <= 0):
            raise ValueError("VideoInfo.pts_s: expected strictly increasing times")

    @property
    def n_frames(self) -> int:
        return int(self.pts_s.shape[0])

    @property
    def has_audio(self) -> bool:
        return len(self.audio) > 0

    @property
    def frame_duration_s(self) -> float:
        """Nominal duration of one frame (1 / frame_rate) in seconds."""
        return float(1 / self.frame_rate) if self.frame_rate else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "rotation_deg": self.rotation_deg,
            "frame_rate": f"{self.frame_rate.numerator}/{self.frame_rate.denominator}",
            "n_frames": self.n_frames,
            "duration_s": self.duration_s,
            "codec": self.codec,
            "container": self.container,
            "audio_streams": len(self.audio),
        }


@dataclass(frozen=True)
class Frame:
    """One decoded frame: index in the clip, presentation time (s) and RGB (H, W, 3) pixels.

    ``rgb`` is uint8, or uint16 (full 16-bit scale) on the render path of a clip deeper than 8 bits;
    analysis always gets uint8."""

    index: int
    t_s: float
    rgb: np.ndarray

    def __post_init__(self) -> None:
        check_array("Frame.rgb", self.rgb, (None, None, 3))
        if self.rgb.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"Frame.rgb: expected dtype uint8 or uint16, got {self.rgb.dtype}")


# --------------------------------------------------------------------------------------------
# Detections (one frame or many), column per field
# --------------------------------------------------------------------------------------------


@dataclass
class Detections:
    """Detections as columns: ``xyxy`` (N, 4) float32 pixels, ``confidence`` (N,) float32,
    ``class_id`` (N,) int32 (see :data:`CLASS_NAMES`), ``frame_index`` (N,) int64,
    ``landmarks_px`` (N, 5, 2) float32 (NaN where the detector gives none: right eye, left eye,
    nose, right mouth corner, left mouth corner), ``track_id`` (N,) int64 (-1 when untracked).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    frame_index: np.ndarray | None = None
    landmarks_px: np.ndarray | None = None
    track_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.xyxy = check_array("Detections.xyxy", self.xyxy, (None, 4), np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = check_array("Detections.confidence", self.confidence, (n,), np.float32)
        self.class_id = check_array("Detections.class_id", self.class_id, (n,), np.int32)
        fi = np.zeros(n, np.int64) if self.frame_index is None else self.frame_index
        self.frame_index = check_array("Detections.frame_index", fi, (n,), np.int64)
        lm = np.full((n, 5, 2), np.nan, np.float32) if self.landmarks_px is None else self.landmarks_px
        self.landmarks_px = check_array("Detections.landmarks_px", lm, (n, 5, 2), np.float32)
        tid = np.full(n, -1, np.int64) if self.track_id is None else self.track_id
        self.track_id = check_array("Detections.track_id", tid, (n,), np.int64)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.frame_index[index],
            self.landmarks_px[index],
            self.track_id[index],
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        cols = [f.name for f in dataclasses.fields(cls)]
        return cls(*[np.concatenate([getattr(p, c) for p in parts]) for c in cols])

    @property
    def has_landmarks(self) -> np.ndarray:
        """(N,) bool: rows whose landmarks are all finite."""
        return np.isfinite(self.landmarks_px).all(axis=(1, 2))

    @property
    def area_px(self) -> np.ndarray:
        w = np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None)
        h = np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)
        return w * h


# --------------------------------------------------------------------------------------------
# Subject tracks: dense over the clip's frames
# --------------------------------------------------------------------------------------------


@dataclass
class SubjectTracks:
    """Subjects tracked over a clip of T frames, dense per frame (NaN where absent).

    ``track_id`` (S,) int64; ``label`` S strings (e.g. "person", "cup"); ``xyxy`` (S, T, 4) float32
    pixel box of the subject (for people: the person box, or the face box where no body was seen);
    ``face_xyxy`` (S, T, 4) float32 (NaN where no face); ``landmarks_px`` (S, T, 5, 2) float32;
    ``distance_m`` (S, T) float32 focus distance (NaN where absent); ``confidence`` (S, T) float32
    (0 where absent); ``focus_xy`` (S, T, 2) float32 normalised point to focus on (eyes for faces).
    """

    track_id: np.ndarray
    label: list[str]
    xyxy: np.ndarray
    face_xyxy: np.ndarray
    landmarks_px: np.ndarray
    distance_m: np.ndarray
    confidence: np.ndarray
    focus_xy: np.ndarray

    def __post_init__(self) -> None:
        self.track_id = check_array("SubjectTracks.track_id", self.track_id, (None,), np.int64)
        s = len(self.track_id)
        self.label = list(self.label)
        if len(self.label) != s:
            raise ValueError(f"SubjectTracks.label: expected {s} labels, got {len(self.label)}")
        self.xyxy = check_array("SubjectTracks.xyxy", self.xyxy, (s, None, 4), np.float32)
        t = self.xyxy.shape[1]
        self.face_xyxy = check_array("SubjectTracks.face_xyxy", self.face_xyxy, (s, t, 4), np.float32)
        self.landmarks_px = check_array(
            "SubjectTracks.landmarks_px", self.landmarks_px, (s, t, 5, 2), np.float32
        )
        self.distance_m = check_array("SubjectTracks.distance_m", self.distance_m, (s, t), np.float32)
        self.confidence = check_array("SubjectTracks.confidence", self.confidence, (s, t), np.float32)
        self.focus_xy = check_array("SubjectTracks.focus_xy", self.focus_xy, (s, t, 2), np.float32)
        if len(set(self.track_id.tolist())) != s:
            raise ValueError("SubjectTracks.track_id: ids must be unique")

    @classmethod
    def empty(cls, n_frames: int) -> SubjectTracks:
        return cls.allocate(np.zeros(0, np.int64), [], n_frames)

    @classmethod
    def allocate(cls, track_id: Sequence[int], label: Sequence[str], n_frames: int) -> SubjectTracks:
        """All-absent tracks for ``len(track_id)`` subjects over ``n_frames`` frames, to fill in."""
        s = len(track_id)
        nan = np.float32(np.nan)
        return cls(
            np.asarray(track_id, np.int64),
            list(label),
            np.full((s, n_frames, 4), nan, np.float32),
            np.full((s, n_frames, 4), nan, np.float32),
            np.full((s, n_frames, 5, 2), nan, np.float32),
            np.full((s, n_frames), nan, np.float32),
            np.zeros((s, n_frames), np.float32),
            np.full((s, n_frames, 2), nan, np.float32),
        )

    def __len__(self) -> int:
        return len(self.track_id)

    @property
    def n_frames(self) -> int:
        return int(self.xyxy.shape[1])

    @property
    def present(self) -> np.ndarray:
        """(S, T) bool: subject visible in frame."""
        return np.isfinite(self.xyxy).all(axis=-1)

    @property
    def has_face(self) -> np.ndarray:
        """(S, T) bool: subject's face visible in frame."""
        return np.isfinite(self.face_xyxy).all(axis=-1)

    def index_of(self, track_id: int) -> int:
        hits = np.flatnonzero(self.track_id == track_id)
        if not len(hits):
            raise KeyError(f"no subject with id {track_id}")
        return int(hits[0])

    def __getitem__(self, index: Any) -> SubjectTracks:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.arange(len(self))[index]
        return SubjectTracks(
            self.track_id[idx],
            [self.label[i] for i in np.atleast_1d(idx)],
            self.xyxy[idx],
            self.face_xyxy[idx],
            self.landmarks_px[idx],
            self.distance_m[idx],
            self.confidence[idx],
            self.focus_xy[idx],
        )

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["label"] = np.asarray(self.label, dtype=str)
        return d

    @classmethod
    def from_npz_dict(cls, d: Any) -> SubjectTracks:
        kw = {f.name: np.asarray(d[f.name]) for f in dataclasses.fields(cls)}
        kw["label"] = [str(x) for x in kw["label"]]
        return cls(**kw)


# --------------------------------------------------------------------------------------------
# Depth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthFrame:
    """One frame of depth: ``values`` (h, w) float32 at analysis resolution.

    ``kind`` says what the values are: ``"relative_inverse"`` (larger = nearer, arbitrary affine
    scale) or ``"metric_m"`` (metres). ``source`` names the model or heuristic that made it.
    """

    index: int
    t_s: float
    values: np.ndarray
    kind: DepthKind
    source: str

    def __post_init__(self) -> None:
        check_array("DepthFrame.values", self.values, (None, None))
        if self.kind not in ("relative_inverse", "metric_m"):
            raise ValueError(f"DepthFrame.kind: expected relative_inverse|metric_m, got {self.kind!r}")


# --------------------------------------------------------------------------------------------
# Cues
# --------------------------------------------------------------------------------------------


@dataclass
class CueSeries:
    """Per-frame cues over T frames for S subjects (rows follow ``track_id``).

    ``times_s`` (T,) float64; ``speech_prob`` (T,) float32 voice activity of the soundtrack in
    [0, 1]; ``speaking`` (S, T) float32 probability that subject speaks; ``saliency`` (S, T)
    float32 in [0, 1]; ``components`` named (S, T) float32 parts of saliency (size, motion, ...),
    for explanations; ``sources`` names what produced each cue (e.g. ``{"speaking": "light-asd"}``).
    """

    times_s: np.ndarray
    track_id: np.ndarray
    speech_prob: np.ndarray
    speaking: np.ndarray
    saliency: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times_s = check_array("CueSeries.times_s", self.times_s, (None,), np.float64)
        t = len(self.times_s)
        self.track_id = check_array("CueSeries.track_id", self.track_id, (None,), np.int64)
        s = len(self.track_id)
        self.speech_prob = check_array("CueSeries.speech_prob", self.speech_prob, (t,), np.float32)
        self.speaking = check_array("CueSeries.speaking", self.speaking, (s, t), np.float32)
        self.saliency = check_array("CueSeries.saliency", self.saliency, (s, t), np.float32)
        self.components = {
            k: check_array(f"CueSeries.components[{k!r}]", v, (s, t), np.float32)
            for k, v in self.components.items()
        }
        self.sources = dict(self.sources)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        d = {k: getattr(self, k) for k in ("times_s", "track_id", "speech_prob", "speaking", "saliency")}
        d.update({f"component.{k}": v for k, v in self.components.items()})
        d["sources"] = np.asarray([f"{k}={v}" for k, v in self.sources.items()], dtype=str)
        return d

    @classmethod
    def from_npz_dict(cls, d: Any) -> CueSeries:
        comps = {k.split(".", 1)[1]: np.asarray(d[k]) for k in d if k.startswith("component.")}
        sources = dict(str(x).split("=", 1) for x in np.asarray(d["sources"]).tolist())
        return cls(
            d["times_s"], d["track_id"], d["speech_prob"], d["speaking"], d["saliency"], comps, sources
        )


# --------------------------------------------------------------------------------------------
# Focus plan
# --------------------------------------------------------------------------------------------

PLAN_FORMAT = "autofocuspull.plan/1"


@dataclass(frozen=True)
class Pull:
    """A rack from one subject to another: ``start_s``..``end_s``, ids (-1 = none), and why."""

    start_s: float
    end_s: float
    from_id: int
    to_id: int
    reason: str
    from_m: float = float("nan")
    to_m: float = float("nan")

    def __post_init__(self) -> None:
        if not self.end_s >= self.start_s:
            raise ValueError(f"Pull: end_s ({self.end_s}) must be >= start_s ({self.start_s})")


@dataclass(frozen=True)
class Lens:
    """Virtual lens: focal length (mm), f-number (N) and sensor width (mm, full frame = 36)."""

    focal_length_mm: float = 50.0
    f_number: float = 1.4
    sensor_width_mm: float = 36.0

    def __post_init__(self) -> None:
        for name in ("focal_length_mm", "f_number", "sensor_width_mm"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"Lens.{name}: expected a positive number, got {v!r}")

    @property
    def aperture_mm(self) -> float:
        return self.focal_length_mm / self.f_number


@dataclass
class FocusPlan:
    """Where focus is, frame by frame, and the pulls that get it there.

    ``times_s`` (T,) float64 frame times; ``subject_id`` (T,) int64 (-1 = no subject);
    ``focus_xy`` (T, 2) float32 normalised focus point (0..1, NaN when none); ``focus_m`` (T,)
    float32 focus distance in metres; ``f_number`` (T,) float32; ``pulls`` the racks; ``subjects``
    the tracks the ids refer to; ``cuts_s`` shot changes; ``depth_source`` where depth came from;
    ``meta`` free-form provenance (planner name, config, warnings).
    """

    times_s: np.ndarray
    subject_id: np.ndarray
    focus_xy: np.ndarray
    focus_m: np.ndarray
    f_number: np.ndarray
    pulls: list[Pull]
    subjects: SubjectTracks
    cuts_s: list[float]
    depth_source: str
    video: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times_s = check_array("FocusPlan.times_s", self.times_s, (None,), np.float64)
        t = len(self.times_s)
        self.subject_id = check_array("FocusPlan.subject_id", self.subject_id, (t,), np.int64)
        self.focus_xy = check_array("FocusPlan.focus_xy", self.focus_xy, (t, 2), np.float32)
        self.focus_m = check_array("FocusPlan.focus_m", self.focus_m, (t,), np.float32)
        self.f_number = check_array("FocusPlan.f_number", self.f_number, (t,), np.float32)
        if self.subjects.n_frames != t and len(self.subjects):
            raise ValueError(
                f"FocusPlan.subjects: expected tracks over {t} frames, got {self.subjects.n_frames}"
            )
        if t and not np.all(np.isfinite(self.focus_m) & (self.focus_m > 0)):
            raise ValueError("FocusPlan.focus_m: expected finite positive metres in every frame")
        if t and not np.all(np.isfinite(self.f_number) & (self.f_number > 0)):
            raise ValueError("FocusPlan.f_number: expected finite positive f-numbers in every frame")
        self.pulls = list(self.pulls)
        self.cuts_s = [float(c) for c in self.cuts_s]

    @property
    def n_frames(self) -> int:
        return len(self.times_s)


def _default_saliency() -> Any:
    from autofocuspull.cues.saliency import SaliencyConfig  # a stage's config; imported on use

    return SaliencyConfig()


@dataclass
class PlanInputs:
    """Everything a planner sees about a clip (the whole clip at once).

    ``cuts_s`` are shot-change times (a new shot starts at each); ``background_m`` is the focus
    distance used when no subject is worth focusing on (the scene at the frame's centre,
    :func:`~autofocuspull.plan.background_distance_m`), and ``shot_background_m`` (T,) the same per
    frame, from each shot's first frame (None: ``background_m`` everywhere); ``lens`` the virtual
    lens the plan is for;
    ``saliency`` the :class:`~autofocuspull.cues.SaliencyConfig` the cues were computed with (a
    planner that reasons about what the cues mean, such as a product held by a person, reads
    the same thresholds); ``keyframes`` the user's focus decisions
    (:class:`~autofocuspull.plan.Keyframe`), for planners registered as taking them.
    """

    video: VideoInfo
    tracks: SubjectTracks
    cues: CueSeries
    cuts_s: list[float]
    depth_source: str
    background_m: float = 10.0
    lens: Lens = field(default_factory=Lens)
    saliency: Any = field(default_factory=_default_saliency)
    keyframes: Sequence[Any] = ()
    shot_background_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = self.video.n_frames
        if self.shot_background_m is not None:
            scene = check_array("shot_background_m", self.shot_background_m, (t,), np.float64)
            self.shot_background_m = scene
        if self.tracks.n_frames != t and len(self.tracks):
            raise ValueError(f"PlanInputs.tracks: expected {t} frames, got {self.tracks.n_frames}")
        if len(self.cues.times_s) != t:
            raise ValueError(f"PlanInputs.cues: expected {t} frames, got {len(self.cues.times_s)}")
