"""Whole-clip voice diarisation and a voice-to-face assignment: who speaks when, and which face it is.

Per-frame active speaker detection fails on small, turned-away faces (issue 11: Light-ASD gives
both men of a wide two-shot 0.2-0.35 and the higher score to the silent one half the time). A
planner that sees the whole clip can do better:

1. **Voice embeddings**: the soundtrack's speech (voice activity > 0.5) is cut into windows of
   ``window_s`` every ``hop_s``; each is embedded by the GE2E speaker encoder of Resemblyzer 0.1.4
   (Wan et al. 2018; 3-layer LSTM on 40 mel bands, 256-d L2-normalised embedding; Apache-2.0).
2. **Diarisation**: the windows are clustered by average-linkage agglomerative clustering on
   cosine distance, cut at ``cluster_distance`` (at most ``max_voices`` voices); every speech frame
   takes the voice of the nearest window centred in its own run of speech (one utterance), else
   of the nearest window. A short utterance that no window holds (a closing "Thank you.") is
   embedded on its own from its speech frames, so it is not given the voice of the turn before.
3. **Assignment**: evidence that face f is voice c is pooled over *all* of c's frames where f is
   visible: f's speaking logit there against the other faces in the same frame (who on screen
   is rated higher while c talks) and against f's own mean while other voices talk (per-track
   normalisation: a face the model always rates high, or always low, is judged on how its scores
   rise when that voice talks), the mean of the two where both exist, the model's threshold
   where neither does (:func:`voice_face_evidence`); shrunk towards 0 by ``prior_frames``
   pseudo-frames (a face seen for a few frames of a voice is weak evidence). Each face takes the
   voice with the most evidence when it exceeds ``min_evidence`` (a voice may have several
   tracks: one person split by cuts); a voice with no face is off screen.
4. **Fusion**: ``speaking = (1 - voice_weight) * asd + voice_weight * [f's voice speaks]``.

The encoder weights ship inside the ``resemblyzer`` wheel: ``pip install --no-deps
resemblyzer==0.1.4`` installs them without librosa or webrtcvad, which this module does not need
(the mel spectrogram is computed here). Without them the cue falls back loudly to Light-ASD alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.arrays import frame_interval_s, runs
from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.types import SubjectTracks, check_array

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
GE2E_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
GE2E_SOURCE = "resemblyzer 0.1.4 wheel (PyPI), resemblyzer/pretrained.pt, Apache-2.0"
N_MELS = 40
N_FFT = 400  # 25 ms at 16 kHz, as the encoder was trained
HOP = 160  # 10 ms
NORM_DBFS = -30.0  # Resemblyzer's volume normalisation target (only ever raised)


@dataclass(frozen=True)
class VoiceConfig:
    """Diarisation and voice-to-face assignment (see the module docstring).

    ``window_s``, ``hop_s``: embedding windows (1 s: the shortest turn worth a rack, and long
    enough for a stable GE2E embedding; issue 11 measured 0.78 two-voice accuracy with 1 s
    windows on the wide two-shot). ``min_speech``: share of a window's frames that must be speech
    for it to be embedded. ``cluster_distance`` (fitted): cosine distance at which clusters stop
    merging (GE2E same-speaker windows sit at about 0.1-0.3, different speakers above 0.4).
    ``min_run_s``: a run of speech that no window can embed (shorter than ``min_speech`` of a
    window, with silence around it: "Thank you." closing an interview, 0.4 s) is embedded on its
    own, from its speech frames only, when it lasts at least this long; 0.3 s is a word or two,
    the shortest utterance that can open or close a turn (shorter runs are blips of the voice
    activity detector, and too short for an embedding that says whose voice it is).
    ``max_voices``: cap on voices per clip. ``prior_frames`` (fitted): shrinkage of the evidence
    (25 frames = 1 s at 25 fps). ``min_evidence`` (fitted): normalised logit a face must gain when
    a voice speaks to be that voice. ``voice_weight`` (fitted): share of the diarised voice in the
    fused speaking probability; 1 (fitted 0.6 -> 1): a face with a voice speaks exactly when its
    voice does, Light-ASD's per-frame score only decides, pooled over the clip, which face has
    which voice (and decides alone when the encoder is missing). ``weights_path``: a local
    ``pretrained.pt`` (None: the installed wheel's).
    """

    window_s: float = 1.0
    hop_s: float = 0.25
    min_speech: float = 0.5
    min_run_s: float = 0.3
    cluster_distance: float = 0.4
    max_voices: int = 6
    prior_frames: float = 25.0
    min_evidence: float = 0.0
    voice_weight: float = 1.0
    weights_path: str | None = None


# --------------------------------------------------------------------------------------------
# The GE2E encoder
# --------------------------------------------------------------------------------------------


def ge2e_weights_path(override: str | None = None) -> Path:
    """``pretrained.pt`` of the GE2E encoder: ``override``, else the installed resemblyzer wheel's.
    Raises :class:`ModelUnavailableError` saying how to get it."""
    if override is not None:
        p = Path(override)
        if not p.is_file():
            raise ModelUnavailableError(f"{p}: GE2E voice encoder weights not found")
        return p
    spec = importlib.util.find_spec("resemblyzer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        p = Path(loc) / "pretrained.pt"
        if p.is_file():
            got = hashlib.sha256(p.read_bytes()).hexdigest()
            if got != GE2E_SHA256:
                raise ModelUnavailableError(f"{p}: sha256 {got} is not the {GE2E_SOURCE} ({GE2E_SHA256})")
            return p
    raise ModelUnavailableError(
        "GE2E voice encoder not installed: `pip install --no-deps resemblyzer==0.1.4` "
        "(or the `voices` extra), or pass VoiceConfig.weights_path"
    )


class VoiceEncoder:
    """GE2E: 3-layer LSTM (40 -> 256) on mel frames, last hidden state -> Linear -> ReLU -> L2 norm."""

    name = "ge2e-resemblyzer"

    def __init__(self, state: dict[str, Any], device: Any = None) -> None:
        import torch

        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.device = device or torch.device("cpu")
        self.lstm.to(self.device).eval()
        self.linear.to(self.device).eval()

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> VoiceEncoder:
        import torch

        weights = Path(path)
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        return cls(ckpt["model_state"], device)

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """(B, n, 40) float32 mel power frames -> (B, 256) float32 L2-normalised embeddings."""
        import torch

        x = torch.from_numpy(check_array("mels", mels, (None, None, N_MELS), np.float32)).to(self.device)
        with torch.no_grad():
            _, (hidden, _) = self.lstm(x)
            e = torch.relu(self.linear(hidden[-1]))
            e = e / torch.clamp_min(torch.linalg.norm(e, dim=1, keepdim=True), 1e-9)
        return e.cpu().numpy().astype(np.float32)


def build_voice_encoder(config: VoiceConfig | None = None, device: Any = None) -> VoiceEncoder | None:
    """The GE2E encoder, or None with a loud warning when its weights cannot be had."""
    cfg = config or VoiceConfig()
    try:
        return VoiceEncoder.load(ge2e_weights_path(cfg.weights_path), device)
    except ModelUnavailableError as e:
        log.warning("!!! voice diarisation OFF (speaker detection from Light-ASD alone): %s", e)
        return None


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney mel filterbank (librosa's default, the encoder's training)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64)
        return np.where(
            f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return (weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


def mel_power(audio_16k: np.ndarray) -> np.ndarray:
    """(N,) float32 audio -> (frames, 40) mel power spectrogram, 25 ms Hann windows every 10 ms,
    frame k centred at sample ``k * 160`` (zero padded), after Resemblyzer's volume normalisation."""
    a = check_array("audio_16k", audio_16k, (None,), np.float32).astype(np.float64)
    rms_db = 10 * np.log10(max(float(np.mean(a**2)), 1e-12))
    if rms_db < NORM_DBFS:
        a = a * 10 ** ((NORM_DBFS - rms_db) / 20)
    padded = np.pad(a, N_FFT // 2)
    n = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    return (power @ mel_filterbank().T).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Diarisation
# --------------------------------------------------------------------------------------------


@dataclass
class VoiceWindows:
    """Embedded speech windows: ``centres_s`` (W,) seconds, ``embeddings`` (W, 256) float32."""

    centres_s: np.ndarray
    embeddings: np.ndarray


def speech_runs(speech_prob: np.ndarray, times_s: np.ndarray) -> list[tuple[int, int, float, float]]:
    """(first frame, end frame, start_s, end_s) of each run of frames with voice activity > 0.5
    (end_s: the last frame's time plus one frame interval)."""
    dt = frame_interval_s(times_s)
    spans = runs(np.asarray(speech_prob) > 0.5)
    return [(a, b, float(times_s[a]), float(times_s[b - 1]) + dt) for a, b in spans]


def embed_speech_windows(
    audio_16k: np.ndarray,
    speech_prob: np.ndarray,
    times_s: np.ndarray,
    encoder: VoiceEncoder,
    config: VoiceConfig | None = None,
) -> VoiceWindows:
    """GE2E embedding of every window of ``window_s`` (every ``hop_s``) that is mostly speech, and
    of every run of speech no such window is centred in (at least ``min_run_s`` long: embedded
    from its own frames, centred on the run). Sorted by centre."""
    cfg = config or VoiceConfig()
    mel = mel_power(audio_16k)
    speech = np.asarray(speech_prob) > 0.5
    win = round(cfg.window_s * 100)
    end_s = min(float(times_s[-1]), len(mel) / 100.0) if len(times_s) else 0.0
    centres = np.arange(cfg.window_s / 2, max(end_s - cfg.window_s / 2, 0.0) + 1e-9, cfg.hop_s)
    keep, starts = [], []
    for c in centres:
        inside = (times_s >= c - cfg.window_s / 2) & (times_s < c + cfg.window_s / 2)
        start = round((c - cfg.window_s / 2) * 100)
        if inside.any() and speech[inside].mean() >= cfg.min_speech and start + win <= len(mel):
            keep.append(c)
            starts.append(start)
    out_c, out_e = [], []
    if keep:
        out_c, out_e = list(keep), list(encoder.embed(np.stack([mel[s : s + win] for s in starts])))
    for _, _, a, b in speech_runs(speech_prob, times_s):
        covered = any(a <= c < b for c in keep)
        frames = mel[round(a * 100) : min(round(b * 100), len(mel))]
        if covered or b - a < cfg.min_run_s - 1e-9 or len(frames) < round(cfg.min_run_s * 100):
            continue
        out_c.append((a + b) / 2)
        out_e.append(encoder.embed(frames[None])[0])
    if not out_c:
        return VoiceWindows(np.zeros(0), np.zeros((0, 256), np.float32))
    order = np.argsort(out_c, kind="stable")
    return VoiceWindows(np.asarray(out_c, np.float64)[order], np.stack(out_e).astype(np.float32)[order])


def cluster_voices(windows: VoiceWindows, config: VoiceConfig | None = None) -> np.ndarray:
    """(W,) int64 voice label of each window (0..V-1, by first appearance)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    cfg = config or VoiceConfig()
    w = len(windows.centres_s)
    if w < 2:
        return np.zeros(w, np.int64)
    z = linkage(windows.embeddings.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(z, t=cfg.cluster_distance, criterion="distance")
    if labels.max() > cfg.max_voices:
        labels = fcluster(z, t=cfg.max_voices, criterion="maxclust")
    order = {lab: i for i, lab in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[lab] for lab in labels.tolist()], np.int64)


def voice_per_frame(
    windows: VoiceWindows, labels: np.ndarray, speech_prob: np.ndarray, times_s: np.ndarray
) -> np.ndarray:
    """(T,) int64 voice of each speech frame, -1 elsewhere: the voice of the nearest window
    centred in the frame's own run of speech, else of the nearest window (a run is one
    utterance: across a pause the nearest window may be the other speaker's)."""
    out = np.full(len(times_s), -1, np.int64)
    if not len(labels):
        return out
    centres = windows.centres_s
    for i, j, a, b in speech_runs(speech_prob, times_s):
        own = np.flatnonzero((centres >= a) & (centres < b))
        pool = own if len(own) else np.arange(len(centres))
        nearest = pool[np.abs(times_s[i:j, None] - centres[None, pool]).argmin(axis=1)]
        out[i:j] = labels[nearest]
    return out


# --------------------------------------------------------------------------------------------
# Assignment and fusion
# --------------------------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p.astype(np.float64), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


def voice_face_evidence(
    voice: np.ndarray, speaking: np.ndarray, has_face: np.ndarray, config: VoiceConfig | None = None
) -> np.ndarray:
    """(V, S) pooled, normalised, shrunk evidence that face s is voice v (see the module
    docstring); ``voice`` (T,) per-frame voice (-1: none), ``speaking`` (S, T) ASD probability,
    ``has_face`` (S, T) bool.

    Each of s's frames while v speaks compares s's logit with two references, and the frame's
    evidence is the mean of the comparisons it has:

    * the mean logit of the *other faces in the same frame*, when there are any: who of the
      faces on screen the speaker model rates higher while this voice talks. A frame-by-frame
      contrast is immune to what moves every face's score together (noise in the soundtrack, a
      shot's lighting);
    * s's own mean while *other* voices speak, when s was seen for at least ``prior_frames`` of
      them (per-track normalisation: a face the model always rates high, or always low, beside
      another is judged on how its scores rise when this voice talks).

    With neither (a close-up seen only while one voice speaks, a talking head: one face, one
    voice) the reference is logit 0, the speaker model's own decision threshold: compared with
    itself, the face would have no evidence and its voice would be taken for an off-screen one.

    The differences are summed and shrunk by ``prior_frames`` pseudo-frames of no evidence.
    """
    cfg = config or VoiceConfig()
    n_v = int(voice.max()) + 1 if len(voice) and voice.max() >= 0 else 0
    ev = np.zeros((n_v, len(speaking)))
    logit = _logit(speaking)
    seen = has_face.astype(np.float64)
    sum_all, n_all = (logit * seen).sum(axis=0), seen.sum(axis=0)
    for s in range(len(speaking)):
        n_other = n_all - seen[s]
        co = (sum_all - logit[s] * seen[s]) / np.maximum(n_other, 1.0)
        for v in range(n_v):
            m = has_face[s] & (voice == v)
            if not m.any():
                continue
            others = has_face[s] & (voice >= 0) & (voice != v)
            has_own = others.sum() >= cfg.prior_frames
            d_own = logit[s, m] - (float(logit[s, others].mean()) if has_own else 0.0)
            d_co = logit[s, m] - co[m]
            both = 0.5 * (d_co + d_own) if has_own else d_co
            d = np.where(n_other[m] > 0, both, d_own)
            ev[v, s] = float(d.sum()) / (m.sum() + cfg.prior_frames)
    return ev


def assign_voices(evidence: np.ndarray, config: VoiceConfig | None = None) -> dict[int, int]:
    """Face row -> voice: each face takes the voice with the most evidence for it, when that
    exceeds ``min_evidence``. A voice may have several faces (one person's tracks split by cuts or
    dropouts); a voice with none is off screen."""
    cfg = config or VoiceConfig()
    if evidence.size == 0:
        return {}
    best = evidence.argmax(axis=0)
    return {int(s): int(v) for s, v in enumerate(best.tolist()) if evidence[v, s] > cfg.min_evidence}


@dataclass
class Diarisation:
    """Result of :func:`diarise`: per-frame ``voice`` (T,) (-1 no speech), ``assignment`` face row
    -> voice, the ``evidence`` (V, S) and the fused ``speaking`` (S, T) float32."""

    voice: np.ndarray
    assignment: dict[int, int]
    evidence: np.ndarray
    speaking: np.ndarray


def fuse_speaking(
    speaking: np.ndarray, voice: np.ndarray, assignment: dict[int, int], has_face: np.ndarray, weight: float
) -> np.ndarray:
    """(S, T) ``(1 - weight) * asd + weight * [the face's voice speaks]`` on the face's frames."""
    diar = np.zeros_like(speaking, dtype=np.float32)
    for s, v in assignment.items():
        diar[s] = (voice == v) & has_face[s]
    return ((1 - weight) * speaking + weight * diar).astype(np.float32)


def diarise(
    windows: VoiceWindows,
    speech_prob: np.ndarray,
    times_s: np.ndarray,
    tracks: SubjectTracks,
    speaking: np.ndarray,
    config: VoiceConfig | None = None,
) -> Diarisation:
    """Cluster the voice windows, assign voices to faces over the whole clip, fuse with ASD."""
    cfg = config or VoiceConfig()
    labels = cluster_voices(windows, cfg)
    voice = voice_per_frame(windows, labels, speech_prob, times_s)
    has_face = tracks.has_face
    ev = voice_face_evidence(voice, speaking, has_face, cfg)
    assignment = assign_voices(ev, cfg)
    fused = fuse_speaking(speaking, voice, assignment, has_face, cfg.voice_weight)
    return Diarisation(voice, assignment, ev, fused)


def apply_voices(cues: Any, tracks: SubjectTracks, windows: VoiceWindows, config: VoiceConfig | None = None):
    """``cues`` (:class:`~autofocuspull.core.types.CueSeries`) with ``speaking`` fused with the
    whole-clip diarisation of ``windows``; unchanged when there is no face or no speech window."""
    import dataclasses

    if not len(tracks) or not len(windows.centres_s) or not tracks.has_face.any():
        return cues
    d = diarise(windows, cues.speech_prob, cues.times_s, tracks, cues.speaking, config)
    sources = {**cues.sources, "speaking": cues.sources.get("speaking", "none") + "+voices"}
    return dataclasses.replace(cues, speaking=d.speaking, sources=sources)
