"""The demo clip, generated on the user's machine (nothing to download; one public-domain photo crop shipped).

Two people at different distances in front of a far, lamp-lit wall: the near one (A) leaves the
frame at 3-4 s and comes back at 5.5-6.5 s to stay until the end (11 s); the far one (B) stays.
A focus puller holds A, racks to B when A leaves and back to A when A returns; the wall's lamps
bloom into bokeh discs. The faces come from a head-and-shoulders crop of the astronaut photograph
that scikit-image ships as ``data.astronaut()`` (Eileen Collins, NASA, public domain), rows 20:300
and columns 110:340, stored losslessly as ``autofocuspull/assets/astronaut_head.png``; the
soundtrack is a soft synthetic chord so the audio path is
exercised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.io.synth import AudioSpec, write_clip


@dataclass(frozen=True)
class DemoClipConfig:
    """Size, rate and length of the demo clip; the story's timing is fixed relative to it."""

    width: int = 640
    height: int = 360
    fps: int = 25
    duration_s: float = 11.0
    seed: int = 7


ASTRONAUT_HEAD = Path(__file__).resolve().parents[1] / "assets" / "astronaut_head.png"


def astronaut_head() -> np.ndarray:
    """The astronaut crop, RGB uint8 (280, 230, 3); her face spans about x 68..160, y 45..157."""
    bgr = cv2.imread(str(ASTRONAUT_HEAD), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{ASTRONAUT_HEAD}: package data missing; reinstall autofocuspull")
    return np.ascontiguousarray(bgr[:, :, ::-1])  # OpenCV reads BGR; the demo is RGB


def _person_sprite(scale: float, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """Head-and-shoulders cut-out of the astronaut photo: RGB uint8 and alpha float32 in [0, 1]."""
    crop = astronaut_head()  # face at about x 68..159, y 45..156 of this crop
    h, w = crop.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2 + 8, 100), (62, 88), 0, 0, 360, 1.0, -1)  # head and hair
    cv2.ellipse(alpha, (w // 2 + 5, h + 40), (w // 2 + 10, 150), 0, 180, 360, 1.0, -1)  # shoulders
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    if mirror:
        crop, alpha = crop[:, ::-1], alpha[:, ::-1]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return (
        cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA),
        cv2.resize(np.ascontiguousarray(alpha), size, interpolation=cv2.INTER_AREA),
    )


def _wall(cfg: DemoClipConfig) -> np.ndarray:
    """A far wall: shelves of coloured books and small bright lamps (which become bokeh discs)."""
    rng = np.random.default_rng(cfg.seed)
    img = np.zeros((cfg.height, cfg.width, 3), np.float32)
    img[:] = np.linspace(70, 40, cfg.height)[:, None, None] * np.array([1.0, 0.9, 0.8])
    for y0 in range(20, cfg.height - 40, 70):
        x = 0
        while x < cfg.width:
            bw = int(rng.integers(8, 22))
            bh = int(rng.integers(35, 55))
            img[y0 + 55 - bh : y0 + 55, x : x + bw - 2] = rng.uniform(40, 200, 3)
            x += bw
        img[y0 + 55 : y0 + 60] = (110, 80, 50)
    for _ in range(14):
        cx, cy = int(rng.integers(10, cfg.width - 10)), int(rng.integers(10, cfg.height // 2))
        cv2.circle(img, (cx, cy), 2, (255, 240, 200), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, cx: float, bottom: float) -> None:
    h, w = sprite.shape[:2]
    x0, y0 = round(cx - w / 2), round(bottom - h)
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + w, img.shape[1]), min(y0 + h, img.shape[0])
    if xb <= xa or yb <= ya:
        return
    s = sprite[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32)
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    img[ya:yb, xa:xb] = (a * s + (1 - a) * img[ya:yb, xa:xb]).astype(np.uint8)


def near_subject_x(t_s: float, width: int) -> float:
    """Horizontal centre (px) of the near person A at time ``t_s``: leaves at 3-4 s, back at 5.5-6.5 s."""
    home, away = 0.3 * width, -0.5 * width
    if t_s < 3.0:
        return home
    if t_s < 4.0:
        return home + (away - home) * (t_s - 3.0)
    if t_s < 5.5:
        return away
    if t_s < 6.5:
        return away + (home - away) * (t_s - 5.5)
    return home


def demo_frames(cfg: DemoClipConfig) -> Iterator[np.ndarray]:
    """The demo's RGB uint8 (H, W, 3) frames."""
    wall = _wall(cfg)
    near, near_a = _person_sprite(1.45, mirror=False)
    far, far_a = _person_sprite(0.55, mirror=True)
    for i in range(round(cfg.duration_s * cfg.fps)):
        t = i / cfg.fps
        img = wall.copy()
        _paste(img, far, far_a, 0.74 * cfg.width + 6 * np.sin(t), cfg.height + 8)
        _paste(img, near, near_a, near_subject_x(t, cfg.width), cfg.height + 30)
        yield img


def demo_audio(cfg: DemoClipConfig, sample_rate: int = 48000) -> np.ndarray:
    """A soft stereo chord (float32 (2, N)) with a slow swell."""
    t = np.arange(round(cfg.duration_s * sample_rate)) / sample_rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    env = 0.15 * (0.6 + 0.4 * np.sin(2 * np.pi * t / cfg.duration_s))
    return np.stack([chord * env, chord * env * 0.9]).astype(np.float32)


def make_demo_clip(path: str | os.PathLike[str], cfg: DemoClipConfig | None = None) -> None:
    """Write the demo clip (H.264 + AAC) to ``path``."""
    cfg = cfg or DemoClipConfig()
    write_clip(
        path,
        demo_frames(cfg),
        rate=cfg.fps,
        options={"crf": "20"},
        audio=[AudioSpec(demo_audio(cfg), 48000, "aac")],
    )
