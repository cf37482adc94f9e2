"""MFCC features compatible with ``python_speech_features.mfcc`` (the features Light-ASD was trained on).

Defaults match Light-ASD's training: 16 kHz audio in int16 units, 25 ms rectangular windows every
10 ms (100 Hz), pre-emphasis 0.97, 512-point FFT, 26 mel filters from 0 Hz to Nyquist, 13 cepstra,
a sinusoidal lifter of 22, and the first cepstrum replaced by the log frame energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct

from autofocuspull.core.types import check_array

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class MfccConfig:
    """Hyperparameters of :func:`mfcc` (python_speech_features defaults)."""

    sample_rate: int = 16000
    win_s: float = 0.025
    hop_s: float = 0.010
    n_ceps: int = 13
    n_filters: int = 26
    n_fft: int = 512
    preemph: float = 0.97
    ceplifter: int = 22
    append_energy: bool = True


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 * log10(1 + hz / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """Triangular mel filters (n_filters, n_fft // 2 + 1) float64 from 0 Hz to Nyquist."""
    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_filters + 2)
    bins = np.floor((n_fft + 1) * mel_to_hz(mels) / sample_rate).astype(np.int64)
    fbank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(lo, mid):
            fbank[j, i] = (i - lo) / (mid - lo)
        for i in range(mid, hi):
            fbank[j, i] = (hi - i) / (hi - mid)
    return fbank


def frame_signal(signal: np.ndarray, frame_len: int, hop: int) -> np.ndarray:
    """Cut (N,) into (F, frame_len) frames every ``hop`` samples, zero-padding the last one."""
    n = len(signal)
    n_frames = 1 if n <= frame_len else 1 + int(np.ceil((n - frame_len) / hop))
    padded = np.zeros((n_frames - 1) * hop + frame_len)
    padded[:n] = signal
    idx = np.arange(frame_len)[None, :] + hop * np.arange(n_frames)[:, None]
    return padded[idx]


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def mfcc(signal: np.ndarray, config: MfccConfig | None = None) -> np.ndarray:
    """MFCCs of a mono signal (N,) (any scale; Light-ASD expects int16 units) -> (F, n_ceps) float32.

    ``F = 1 + ceil((N - win) / hop)`` frames at ``1 / hop_s`` Hz, frame ``k`` starting at ``k * hop_s``.
    """
    cfg = config or MfccConfig()
    x = check_array("mfcc.signal", signal, (None,), np.float64)
    x = np.append(x[:1], x[1:] - cfg.preemph * x[:-1])
    frame_len = _round_half_up(cfg.win_s * cfg.sample_rate)
    frames = frame_signal(x, frame_len, _round_half_up(cfg.hop_s * cfg.sample_rate))
    power = np.abs(np.fft.rfft(frames, cfg.n_fft)) ** 2 / cfg.n_fft
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, _EPS, energy)
    feat = power @ mel_filterbank(cfg.n_filters, cfg.n_fft, cfg.sample_rate).T
    feat = np.where(feat == 0, _EPS, feat)
    ceps = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, : cfg.n_ceps]
    if cfg.ceplifter > 0:
        n = np.arange(cfg.n_ceps)
        ceps = ceps * (1 + (cfg.ceplifter / 2.0) * np.sin(np.pi * n / cfg.ceplifter))
    if cfg.append_energy:
        ceps[:, 0] = np.log(energy)
    return ceps.astype(np.float32)
