"""Write clips from numpy arrays: any container/codec PyAV has, optional audio tracks and rotation.

Used to make the demo clip and the test media (odd sizes, VFR, rotation, several audio tracks,
MPEG-4/MS-MPEG4 AVI, MKV, WebM...). Not used on the product's render path (see :mod:`writer`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np


@dataclass(frozen=True)
class AudioSpec:
    """One audio track to write: float32 samples (N,) or (C, N) in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int = 48000
    codec: str = "aac"


_PCM_FORMATS = {"pcm_s16le": "s16", "pcm_s24le": "s32", "pcm_f32le": "flt"}


def write_clip(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    rate: Fraction | int | float = 25,
    times_s: Sequence[float] | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: Sequence[AudioSpec] = (),
    rotation_deg: int = 0,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
) -> None:
    """Encode RGB uint8 (H, W, 3) ``frames`` (and ``audio`` tracks) into ``path``.

    ``times_s`` gives each frame's presentation time (variable frame rate); by default frame i is
    at i / rate. ``rotation_deg`` stores a display-matrix rotation (counter-clockwise degrees).
    """
    rate = Fraction(rate).limit_denominator(100000)
    tb = time_base or (Fraction(1, 90000) if times_s is not None else 1 / rate)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("write_clip: expected at least one frame")
    with av.open(str(path), mode="w") as c:
        v = c.add_stream(codec, rate=rate, options=options or {})
        v.height, v.width = first.shape[:2]
        v.pix_fmt = pix_fmt
        v.time_base = tb
        v.codec_context.time_base = tb
        if rotation_deg:
            v.set_display_rotation(rotation_deg)
        a_streams = [_add_audio(c, spec) for spec in audio]
        queued = sorted(
            (p for st, spec in zip(a_streams, audio, strict=True) for p in _encode_audio(st, spec)),
            key=lambda p: float(p.pts * p.time_base),
        )
        for i, rgb in enumerate(itertools.chain([first], it)):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            t = times_s[i] if times_s is not None else i / rate
            while queued and float(queued[0].pts * queued[0].time_base) <= t:
                c.mux(queued.pop(0))  # interleave audio by time, as a real recorder does
            f.pts, f.time_base = round(Fraction(t).limit_denominator(10**6) / tb), tb
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        c.mux(queued)


def _add_audio(c: av.container.OutputContainer, spec: AudioSpec) -> av.audio.stream.AudioStream:
    channels = 1 if spec.samples.ndim == 1 else spec.samples.shape[0]
    s = c.add_stream(spec.codec, rate=spec.sample_rate, layout="mono" if channels == 1 else "stereo")
    return s


def _encode_audio(s: av.audio.stream.AudioStream, spec: AudioSpec) -> list[av.Packet]:
    x = np.atleast_2d(np.asarray(spec.samples, np.float32))
    layout = "mono" if x.shape[0] == 1 else "stereo"
    fmt = s.codec_context.format.name if s.codec_context.format else "fltp"
    frame_size = s.codec_context.frame_size or 1024
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=spec.sample_rate)
    packets: list[av.Packet] = []
    for start in range(0, x.shape[1], frame_size):
        chunk = np.ascontiguousarray(x[:, start : start + frame_size])
        packed = chunk.T.reshape(1, -1) if layout != "mono" else chunk
        af = av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
        af.sample_rate, af.pts = spec.sample_rate, start
        for rf in resampler.resample(af):
            packets.extend(s.encode(rf))
    for rf in resampler.resample(None):
        packets.extend(s.encode(rf))
    packets.extend(s.encode(None))
    return [p for p in packets if p.pts is not None]


def tone(duration_s: float, freq_hz: float = 440.0, sample_rate: int = 48000, amp: float = 0.3) -> np.ndarray:
    """A sine tone, float32 (N,) — a simple audible test signal."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def moving_pattern(n: int, width: int, height: int, seed: int = 0) -> Iterable[np.ndarray]:
    """``n`` RGB frames of a textured background with a moving bright square (frame i differs)."""
    rng = np.random.default_rng(seed)
    base = (rng.random((height, width, 3)) * 180 + 40).astype(np.uint8)
    for i in range(n):
        img = base.copy()
        x = (i * 7) % max(1, width - width // 4)
        y = (i * 3) % max(1, height - height // 4)
        img[y : y + height // 4, x : x + width // 4] = (255, 230, 40)
        yield img


def clip_palette(images: Sequence[np.ndarray], k: int = 8, seed: int = 0) -> np.ndarray:
    """One k-colour palette for a whole clip: k-means over pixels sampled from ``images`` (RGB
    uint8), (k, 3) uint8. With :func:`posterize` every shot is painted from the same colours."""
    import cv2

    rng = np.random.default_rng(seed)
    step = max(1, len(images) // 60)
    px = np.concatenate(
        [im.reshape(-1, 3)[rng.integers(0, im.shape[0] * im.shape[1], 400)] for im in images[::step]]
    ).astype(np.float32)
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, _, centres = cv2.kmeans(px, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    return np.clip(centres, 0, 255).astype(np.uint8)


def posterize(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) drawn with the nearest colour of ``palette`` (K, 3) uint8 and flattened
    into cel-shaded regions (a 5 px median first): how animation looks to a cut detector, where every
    shot is painted from the same few colours so colour histograms barely change at a cut."""
    import cv2

    img = cv2.medianBlur(np.ascontiguousarray(rgb), 5).astype(np.int32)
    pal = np.asarray(palette, np.int32)
    d = ((img[:, :, None, :] - pal[None, None, :, :]) ** 2).sum(-1)
    return pal[d.argmin(-1)].astype(np.uint8)


def cross_occluder(rgb: np.ndarray, step: int, n_steps: int, color=(24, 24, 30), seed: int = 0) -> np.ndarray:
    """``rgb`` with a dark vehicle-sized block crossing the foreground: step ``step`` of ``n_steps``.

    The block is 60 % of the frame wide and 70 % high, sits on the bottom edge and moves left to
    right so that over ``n_steps`` frames it sweeps the whole width (a car passing close to the lens
    in 2-3 frames). A little texture keeps it from being one flat colour.
    """
    h, w = rgb.shape[:2]
    bw, bh = round(0.6 * w), round(0.7 * h)
    x0 = round(-bw + (step + 1) * (w + bw) / (n_steps + 1))
    out = rgb.copy()
    xa, xb = max(0, x0), min(w, x0 + bw)
    if xb > xa:
        rng = np.random.default_rng(seed + step)
        tex = rng.integers(-12, 13, (bh, xb - xa, 3))
        block = np.clip(np.asarray(color, np.int32) + tex, 0, 255).astype(np.uint8)
        out[h - bh :, xa:xb] = block
    return out


def _grass_texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A (height, width) float32 grey texture in 0..255: fractal noise stretched vertically."""
    import cv2

    acc = np.zeros((height, width), np.float32)
    cell = max(width, height) // 4
    while cell >= 2:
        shape = (max(2, height // cell), max(2, width // (3 * cell) + 1))  # streaks 3x taller than wide
        small = rng.standard_normal(shape).astype(np.float32)
        acc += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        cell //= 2
    acc = (acc - acc.mean()) / (acc.std() + 1e-6)
    return np.clip(110 + 30 * acc, 0, 255).astype(np.float32)


def toy_approach(n: int, width: int = 320, height: int = 240, seed: int = 0):
    """``n`` RGB frames of a thing no detector names (a red-and-yellow toy: a textured star) walking
    up to a static camera over a real grass texture, and its (n, 4) boxes in pixels.

    The toy enters small at the back left and ends large in the middle right (8 % -> 30 % of the
    width), as an animal walking up to the lens does. The background is a grass-like texture:
    fractal noise (octaves from 1/4 of the frame down to 2 px, the same amplitude in each) with
    blade-like vertical streaks, so it is busy at every scale as real grass is.
    """
    import cv2

    grass = _grass_texture(width, height, np.random.default_rng(seed + 1))
    bg = np.stack([0.55 * grass, 0.85 * grass, 0.35 * grass], -1)
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 11)[:-1]
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.5)
    star = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1)
    frames, boxes = [], []
    for i in range(n):
        a = i / max(1, n - 1)
        size = width * (0.08 + 0.22 * a)
        cx, cy = width * (0.25 + 0.4 * a), height * (0.45 + 0.15 * a)
        pts = (star * size / 2 + [cx, cy]).round().astype(np.int32)
        img = bg.copy()
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [pts], 1)
        tex = rng.integers(-20, 21, (height, width, 1))
        stripe = (np.indices((height, width))[0] // 6 % 2 == 0)[..., None]
        toy = np.where(stripe, [220, 40, 30], [240, 200, 40])
        img = np.where(mask[..., None] > 0, toy + tex, img)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        boxes.append([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
    return frames, np.asarray(boxes, np.float32)
