"""Active speaker detection: a speaking probability per face track per frame.

Main model: Light-ASD (Liao et al., CVPR 2023; 1.0 M parameters, MIT) as ONNX: an encoder taking
MFCCs (1, 4n, 13) at 100 Hz and n grey 112x112 face crops at 25 fps, giving (n, 128), and a head
giving a speaking logit per frame (``FC(128, 2)[:, 1]``, positive = speaking). Crops follow
Light-ASD's demo: a square of side ``(1 + 0.4) * max(w, h) / 2`` centred ``0.2 * max(w, h)`` below
the face box centre, padded with grey 110.

Fallback (:class:`MouthMotionSpeaker`, used with a loud warning when Light-ASD cannot be had):
the correlation, over a sliding window, of mouth-region motion (placed from the mouth-corner
landmarks) with the speech envelope (RMS of the audio per frame).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from autofocuspull.core.arrays import nearest_index
from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.hub import resolve_model_file
from autofocuspull.core.types import Frame, SubjectTracks, check_array
from autofocuspull.cues.mfcc import MfccConfig, mfcc

log = logging.getLogger(__name__)

ASD_FPS = 25.0
AUDIO_RATE = 16000
CROP_PX = 112
AUDIO_TAIL = 240  # window minus hop (400 - 160 samples): n * 640 + 240 samples give exactly 4n MFCCs


@dataclass(frozen=True)
class AsdConfig:
    """How tracks are cropped and scored; ``model_path`` / ``head_path``: local Light-ASD encoder and
    scoring-head ONNX files (None: the download cache)."""

    window_frames: int = 25  # Light-ASD scoring window (1 s at 25 fps)
    crop_scale: float = 0.4  # Light-ASD demo's ``cs``
    pad_grey: int = 110  # Light-ASD demo's padding value
    smooth_frames: int = 5  # moving mean of logits, as in Light-ASD's demo visualisation
    min_run_frames: int = 3  # face runs shorter than this are not scored (probability 0)
    chunk_frames: int = 1500  # longest run kept in memory before scoring (60 s at 25 fps)
    model_path: str | None = None
    head_path: str | None = None


@dataclass
class TrackClip:
    """One contiguous run of a face track resampled to 25 fps: ``crops`` (n, 112, 112) uint8 grey,
    ``mouth_xyxy`` (n, 4) float32 mouth box in crop pixels (NaN when unknown), ``audio``
    (n * 640 + 240,) float32 16 kHz mono in [-1, 1] starting at the first crop's time (the 240-sample
    tail completes the last 25 ms MFCC window, as when Light-ASD slices whole-file MFCCs)."""

    crops: np.ndarray
    mouth_xyxy: np.ndarray
    audio: np.ndarray


class SpeakerModel(Protocol):
    name: str

    def score(self, clip: TrackClip) -> np.ndarray:
        """(n,) float32 speaking logit per crop of the clip."""
        ...


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class LightASD:
    """Light-ASD encoder + head as two onnxruntime sessions; scores in windows of 25 frames."""

    name = "light-asd"

    def __init__(
        self, encoder: Any, head: Any, config: AsdConfig | None = None, mfcc_config: MfccConfig | None = None
    ) -> None:
        self.encoder = encoder
        self.head = head
        self.config = config or AsdConfig()
        self.mfcc_config = mfcc_config

    def score(self, clip: TrackClip) -> np.ndarray:
        n = len(clip.crops)
        audio = clip.audio.astype(np.float64) * 32768.0  # Light-ASD was trained on int16 units
        feats = mfcc(audio, self.mfcc_config)
        if len(feats) < 4 * n:
            feats = np.concatenate([feats, np.repeat(feats[-1:], 4 * n - len(feats), axis=0)])
        out = np.zeros(n, np.float32)
        w = self.config.window_frames
        for i in range(0, n, w):
            j = min(i + w, n)
            if j - i < 2 and i > 0:  # a 1-frame tail: score it with the previous window's context
                i = j - 2
            inputs = {
                "audio": feats[4 * i : 4 * j][None].astype(np.float32),
                "visual": clip.crops[i:j][None].astype(np.float32),
            }
            emb = self.encoder.run(None, inputs)[0]
            out[i:j] = self.head.run(None, {self.head.get_inputs()[0].name: emb})[0].reshape(-1)
        return out


@dataclass(frozen=True)
class MouthMotionConfig:
    window_frames: int = 25  # correlation window (1 s at 25 fps)
    gain: float = 6.0  # logit = gain * (correlation - offset)
    offset: float = 0.2


class MouthMotionSpeaker:
    """Fallback: windowed Pearson correlation of mouth motion with the speech envelope, as a logit."""

    name = "mouth-motion"

    def __init__(self, config: MouthMotionConfig | None = None) -> None:
        self.config = config or MouthMotionConfig()

    def score(self, clip: TrackClip) -> np.ndarray:
        motion = mouth_motion(clip.crops, clip.mouth_xyxy)
        env = speech_envelope(clip.audio, len(clip.crops))
        corr = windowed_correlation(motion, env, self.config.window_frames)
        return (self.config.gain * (corr - self.config.offset)).astype(np.float32)


def mouth_motion(crops: np.ndarray, mouth_xyxy: np.ndarray) -> np.ndarray:
    """Mean absolute grey change inside the mouth box between consecutive crops (n,) float32
    (first frame 0). Where the box is NaN the lower-middle of the crop is used."""
    crops = check_array("crops", crops, (None, CROP_PX, CROP_PX))
    boxes = check_array("mouth_xyxy", mouth_xyxy, (len(crops), 4), np.float32)
    default = np.array([28, 64, 84, 100], np.float32)
    out = np.zeros(len(crops), np.float32)
    for k in range(1, len(crops)):
        b = boxes[k] if np.isfinite(boxes[k]).all() else default
        x1, y1 = np.clip(np.floor(b[:2]).astype(int), 0, CROP_PX - 1)
        x2, y2 = np.clip(np.ceil(b[2:]).astype(int), x1 + 1, CROP_PX)
        d = crops[k, y1:y2, x1:x2].astype(np.float32) - crops[k - 1, y1:y2, x1:x2].astype(np.float32)
        out[k] = np.abs(d).mean()
    return out


def speech_envelope(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS of 16 kHz audio per 25 fps frame (640 samples) -> (n_frames,) float32."""
    a = check_array("audio", audio, (None,), np.float32)
    hop = int(AUDIO_RATE / ASD_FPS)
    padded = np.zeros(n_frames * hop, np.float32)
    m = min(len(a), len(padded))
    padded[:m] = a[:m]
    return np.sqrt((padded.reshape(n_frames, hop) ** 2).mean(axis=1)).astype(np.float32)


def windowed_correlation(x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """Pearson correlation of x and y (n,) over a centred window of ``window`` samples -> (n,) float32
    (0 where either is constant in the window)."""
    x = check_array("x", x, (None,), np.float64)
    y = check_array("y", y, (len(x),), np.float64)
    out = np.zeros(len(x), np.float32)
    h = window // 2
    for k in range(len(x)):
        a, b = x[max(0, k - h) : k + h + 1], y[max(0, k - h) : k + h + 1]
        sa, sb = a.std(), b.std()
        if sa > 1e-9 and sb > 1e-9:
            out[k] = float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))
    return out


def build_active_speaker_model(
    model_path: str | None = None,
    head_path: str | None = None,
    *,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    allow_fallback: bool = True,
    config: AsdConfig | None = None,
    mouth_config: MouthMotionConfig | None = None,
    mfcc_config: MfccConfig | None = None,
) -> LightASD | MouthMotionSpeaker:
    """Light-ASD from ``model_path``/``head_path`` (or the cache / a checked download).

    If it cannot be had: with ``allow_fallback`` log a WARNING and return :class:`MouthMotionSpeaker`,
    else raise :class:`ModelUnavailableError` saying what to download and where.
    ``providers``: onnxruntime execution providers and ``threads`` its intra-op threads (caller's
    choice; default CPU, onnxruntime's thread count).
    """
    try:
        enc_path = resolve_model_file("light-asd", model_path, flag="--asd-model")
        head_file = resolve_model_file("light-asd-head", head_path, flag="--asd-head")
    except ModelUnavailableError as e:
        if not allow_fallback:
            raise
        log.warning(
            "Light-ASD unavailable (%s); FALLING BACK to mouth-motion/speech-envelope correlation, "
            "which is much less reliable",
            e,
        )
        return MouthMotionSpeaker(mouth_config)
    import onnxruntime as ort

    prov = list(providers) if providers else ["CPUExecutionProvider"]
    from autofocuspull.core.threads import onnx_session_options

    opts = onnx_session_options(int(threads) if threads else None)  # the run's thread count, no spinning
    return LightASD(
        ort.InferenceSession(str(enc_path), opts, providers=prov),
        ort.InferenceSession(str(head_file), opts, providers=prov),
        config,
        mfcc_config,
    )


# --------------------------------------------------------------------------------------------
# Cropping
# --------------------------------------------------------------------------------------------


def face_crop_transform(face_xyxy: np.ndarray, crop_scale: float = 0.4) -> np.ndarray:
    """2x3 affine matrix mapping frame pixels to the 112x112 Light-ASD crop of a face box (4,)."""
    x1, y1, x2, y2 = (float(v) for v in face_xyxy)
    bs = max(x2 - x1, y2 - y1) / 2
    side = (1 + crop_scale) * bs
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + crop_scale * bs
    s = CROP_PX / side
    return np.array([[s, 0, CROP_PX / 2 - s * cx], [0, s, CROP_PX / 2 - s * cy]], np.float64)


def crop_face(rgb: np.ndarray, face_xyxy: np.ndarray, config: AsdConfig | None = None) -> np.ndarray:
    """Grey 112x112 uint8 Light-ASD crop of an RGB (H, W, 3) uint8 frame around a face box (4,) in
    that frame's pixels."""
    cfg = config or AsdConfig()
    rgb = check_array("rgb", rgb, (None, None, 3))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    m = face_crop_transform(face_xyxy, cfg.crop_scale)
    return cv2.warpAffine(grey, m, (CROP_PX, CROP_PX), flags=cv2.INTER_LINEAR, borderValue=cfg.pad_grey)


def mouth_box_in_crop(landmarks_px: np.ndarray, face_xyxy: np.ndarray, crop_scale: float = 0.4):
    """Mouth box (4,) in crop pixels from the two mouth-corner landmarks (5, 2) (frame pixels);
    NaN when they are missing."""
    corners = landmarks_px[3:5]
    if not np.isfinite(corners).all():
        return np.full(4, np.nan, np.float32)
    m = face_crop_transform(face_xyxy, crop_scale)
    c = corners @ m[:, :2].T + m[:, 2]
    w = max(abs(c[1, 0] - c[0, 0]), 8.0)
    cx, cy = c.mean(axis=0)
    return np.array([cx - 0.75 * w, cy - 0.5 * w, cx + 0.75 * w, cy + 0.6 * w], np.float32)


# --------------------------------------------------------------------------------------------
# Scoring a clip
# --------------------------------------------------------------------------------------------


def _score_run(
    model: SpeakerModel,
    crops: np.ndarray,
    mouths: np.ndarray,
    times_s: np.ndarray,
    audio_16k: np.ndarray,
) -> np.ndarray:
    """Logits (n,) for one contiguous face run at arbitrary frame times (resampled to 25 fps)."""
    t0 = float(times_s[0])
    n25 = max(1, round((times_s[-1] - t0) * ASD_FPS) + 1)
    grid = t0 + np.arange(n25) / ASD_FPS
    nearest = nearest_index(times_s, grid)
    hop = int(AUDIO_RATE / ASD_FPS)
    a0 = round(t0 * AUDIO_RATE)
    seg = np.zeros(n25 * hop + AUDIO_TAIL, np.float32)
    part = audio_16k[max(a0, 0) : a0 + len(seg)]
    seg[: len(part)] = part
    logits25 = model.score(TrackClip(crops[nearest], mouths[nearest], seg))
    back = np.clip(np.round((times_s - t0) * ASD_FPS).astype(int), 0, n25 - 1)
    return logits25[back]


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or len(x) < 2:
        return x
    pad = n // 2
    xp = np.pad(x, pad, mode="edge")
    return np.convolve(xp, np.ones(n) / n, mode="valid")[: len(x)].astype(np.float32)


def score_active_speakers(
    frames: Iterable[Frame],
    tracks: SubjectTracks,
    audio_16k: np.ndarray | None,
    times_s: np.ndarray,
    model: SpeakerModel,
    *,
    scale: float = 1.0,
    config: AsdConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Speaking probability (S, T) float32 per face track per frame (0 where no face / no audio).

    ``frames`` are streamed once in increasing index order; each track's face is cropped and kept
    only until its run of frames ends (or reaches ``chunk_frames``), then scored, so memory stays
    bounded. ``scale`` maps the tracks' full-resolution pixels to the given frames' pixels (e.g.
    0.5 for half-size frames). ``audio_16k`` (N,) float32 mono 16 kHz in [-1, 1]; ``times_s`` (T,)
    frame times in seconds.
    """
    cfg = config or AsdConfig()
    times = check_array("times_s", times_s, (tracks.n_frames,), np.float64)
    out = np.zeros((len(tracks), len(times)), np.float32)
    if audio_16k is None or len(tracks) == 0:
        log.warning("active speaker scores are 0: %s", "no audio" if audio_16k is None else "no tracks")
        return out
    audio = check_array("audio_16k", audio_16k, (None,), np.float32)
    has_face = tracks.has_face
    buffers: list[list[tuple[int, np.ndarray, np.ndarray]]] = [[] for _ in range(len(tracks))]

    def flush(i: int) -> None:
        buf, buffers[i] = buffers[i], []
        if len(buf) < cfg.min_run_frames:
            return
        ks = np.array([b[0] for b in buf])
        logits = _score_run(
            model, np.stack([b[1] for b in buf]), np.stack([b[2] for b in buf]), times[ks], audio
        )
        out[i, ks] = 1.0 / (1.0 + np.exp(-_moving_mean(logits, cfg.smooth_frames)))

    for frame in frames:
        k = frame.index
        if not 0 <= k < len(times):
            raise ValueError(f"frame index {k} outside the tracks' {len(times)} frames")
        for i in range(len(tracks)):
            if buffers[i] and (not has_face[i, k] or buffers[i][-1][0] != k - 1):
                flush(i)
            if has_face[i, k]:
                box = tracks.face_xyxy[i, k] * scale
                mouth = mouth_box_in_crop(tracks.landmarks_px[i, k] * scale, box, cfg.crop_scale)
                buffers[i].append((k, crop_face(frame.rgb, box, cfg), mouth))
                if len(buffers[i]) >= cfg.chunk_frames:
                    flush(i)
        if progress is not None:
            progress(k)
    for i in range(len(tracks)):
        flush(i)
    return out
