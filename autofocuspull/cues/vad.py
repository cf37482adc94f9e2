"""Voice activity of the soundtrack with silero-vad (the model ships inside its wheel, no download)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from autofocuspull.core.types import check_array

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VadConfig:
    """silero-vad runs on 512-sample chunks (32 ms) of 16 kHz audio."""

    sample_rate: int = 16000
    chunk: int = 512


def load_vad_model() -> Any:
    """silero-vad's TorchScript model from the wheel (needs torch only, not torchaudio)."""
    from silero_vad import load_silero_vad

    with warnings.catch_warnings():  # its loader uses deprecated importlib / torch.jit APIs
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_silero_vad(onnx=False)


def vad_chunk_probs(audio_16k: np.ndarray, model: Any | None = None, config: VadConfig | None = None):
    """Speech probability per 32 ms chunk of (N,) float32 mono audio in [-1, 1] -> (ceil(N/512),) float32."""
    import torch

    cfg = config or VadConfig()
    audio = check_array("audio_16k", audio_16k, (None,), np.float32)
    if len(audio) == 0:
        return np.zeros(0, np.float32)
    model = model if model is not None else load_vad_model()
    with torch.inference_mode():
        probs = model.audio_forward(torch.from_numpy(np.ascontiguousarray(audio))[None], cfg.sample_rate)
    return probs.numpy()[0].astype(np.float32)


def chunk_probs_to_frames(chunk_probs: np.ndarray, times_s: np.ndarray, chunk_s: float) -> np.ndarray:
    """Resample per-chunk probabilities (C,) (chunk k centred at ``(k + 0.5) * chunk_s``) onto frame
    times (T,) s by linear interpolation -> (T,) float32 (0 beyond the audio)."""
    p = check_array("chunk_probs", chunk_probs, (None,), np.float64)
    t = check_array("times_s", times_s, (None,), np.float64)
    if len(p) == 0:
        return np.zeros(len(t), np.float32)
    centres = (np.arange(len(p)) + 0.5) * chunk_s
    out = np.interp(t, centres, p, left=p[0], right=0.0)
    out[t > len(p) * chunk_s] = 0.0
    return out.astype(np.float32)


def compute_vad(
    audio_16k: np.ndarray | None,
    times_s: np.ndarray,
    *,
    model: Any | None = None,
    config: VadConfig | None = None,
) -> np.ndarray:
    """Speech probability at each frame time: audio (N,) float32 16 kHz mono or None, times (T,) s
    -> (T,) float32 in [0, 1]. Without audio: zeros, and a logged note."""
    cfg = config or VadConfig()
    times = check_array("times_s", times_s, (None,), np.float64)
    if audio_16k is None:
        log.warning("no audio track: voice activity is 0 everywhere (dialogue cues are off)")
        return np.zeros(len(times), np.float32)
    probs = vad_chunk_probs(audio_16k, model, cfg)
    return chunk_probs_to_frames(probs, times, cfg.chunk / cfg.sample_rate)
