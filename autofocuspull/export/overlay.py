"""Overlay preview: the clip with the plan burned in, so a decision can be checked by watching.

Per frame: every visible subject's box and ``label id`` (the focused one in green, a speaking
one with a red "speaking" tag), the focus point as a cross, the focus distance and f-number, the
reason of the last decision (the pull or hold that explains what focus is doing), and a speech
activity meter (voice activity of the soundtrack) along the bottom edge.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.core.types import FocusPlan, Frame

FOCUSED = (40, 220, 40)
OTHER = (235, 235, 235)
SPEAKING = (230, 40, 40)
SPEAKING_THRESHOLD = 0.5  # the planner's talk threshold: more likely speaking than not


def reason_track(plan: FocusPlan) -> list[tuple[float, str]]:
    """(time, reason) of every explained event, sorted: decisions in ``meta`` and the pulls."""
    events = [(float(p.start_s), p.reason) for p in plan.pulls]
    for d in plan.meta.get("decisions", []) if isinstance(plan.meta, dict) else []:
        if isinstance(d, dict) and "t_s" in d and "reason" in d:
            events.append((float(d["t_s"]), str(d["reason"])))
    return sorted(set(events), key=lambda e: e[0])


def reason_at(events: list[tuple[float, str]], t_s: float) -> str:
    """The most recent reason at ``t_s`` ("" before the first)."""
    current = ""
    for t, r in events:
        if t > t_s + 1e-9:
            break
        current = r
    return current


def _text(img: np.ndarray, s: str, org: tuple[int, int], color, scale: float) -> None:
    th = max(1, round(scale * 2))
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)


def draw_overlay(
    rgb: np.ndarray,
    k: int,
    plan: FocusPlan,
    events: list[tuple[float, str]],
    speech_prob: np.ndarray | None = None,
    speaking: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of frame ``k`` (uint8 (H, W, 3) RGB) with the plan drawn on it.

    ``speech_prob`` (T,) voice activity; ``speaking`` (S, T) per subject (rows as ``plan.subjects``).
    """
    img = np.ascontiguousarray(rgb.copy())
    h, w = img.shape[:2]
    scale = max(0.35, min(w, h) / 900)
    tracks = plan.subjects
    focused = int(plan.subject_id[k])
    for s in np.flatnonzero(tracks.present[:, k]) if len(tracks) else []:
        sid = int(tracks.track_id[s])
        x0, y0, x1, y1 = (round(float(v)) for v in tracks.xyxy[s, k])
        color = FOCUSED if sid == focused else OTHER
        cv2.rectangle(img, (x0, y0), (x1, y1), color, max(1, round(scale * 3)))
        _text(img, f"{tracks.label[s]} {sid}", (x0 + 3, max(12, y0 - 6)), color, scale * 0.8)
        if speaking is not None and speaking[s, k] > SPEAKING_THRESHOLD:
            _text(img, "speaking", (x0 + 3, min(h - 4, y1 + round(22 * scale))), SPEAKING, scale * 0.7)
    fx, fy = plan.focus_xy[k]
    if np.isfinite(fx) and np.isfinite(fy):
        c = (int(fx * w), int(fy * h))
        r = max(6, round(14 * scale))
        cv2.drawMarker(img, c, (255, 230, 0), cv2.MARKER_CROSS, 2 * r, max(1, round(scale * 3)))
        cv2.circle(img, c, r, (255, 230, 0), max(1, round(scale * 2)))
    who = "background" if focused < 0 else f"subject {focused}"
    head = f"t {plan.times_s[k]:.2f} s  focus {plan.focus_m[k]:.2f} m  f/{plan.f_number[k]:.1f}  on {who}"
    _text(img, head, (8, round(26 * scale) + 4), (255, 255, 255), scale * 0.8)
    reason = reason_at(events, float(plan.times_s[k]))
    if reason:
        _text(img, reason[:110], (8, round(52 * scale) + 8), (255, 230, 120), scale * 0.65)
    if speech_prob is not None:
        bh = max(4, round(10 * scale))
        p = float(np.clip(speech_prob[k], 0, 1))
        img[h - bh :, :] = (img[h - bh :, :] * 0.4).astype(np.uint8)
        img[h - bh :, : int(p * w)] = SPEAKING if p > 0.5 else (120, 120, 120)
        _text(img, f"speech {p:.2f}", (8, h - bh - 6), (255, 255, 255), scale * 0.6)
    return img


def overlay_frames(
    frames: Iterator[Frame],
    plan: FocusPlan,
    speech_prob: np.ndarray | None = None,
    speaking: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """:func:`draw_overlay` over a stream of frames (a frame processor for ``io.transcode``)."""
    events = reason_track(plan)
    for f in frames:
        yield draw_overlay(f.rgb, f.index, plan, events, speech_prob, speaking)


def write_overlay(
    clip: str | os.PathLike[str],
    plan: FocusPlan,
    out: str | os.PathLike[str],
    speech_prob: np.ndarray | None = None,
    speaking: np.ndarray | None = None,
    info=None,
    encode=None,
) -> Path:
    """Write the overlay preview of ``clip`` (audio kept) to ``out``, atomically."""
    from autofocuspull.io import probe, transcode
    from autofocuspull.progress import Counter

    info = info or probe(clip)
    with Counter("overlay", info.n_frames) as tick:
        return transcode(
            clip,
            out,
            info,
            lambda frames: overlay_frames(frames, plan, speech_prob, speaking),
            config=encode,
            progress=tick,
        )


def write_overlay_for(clip, plan: FocusPlan, analysis, out, encode=None) -> Path:
    """:func:`write_overlay` with the voice activity and speakers of a pipeline ``Analysis``."""
    from autofocuspull.export.command import speaking_rows

    cues = analysis.cues
    return write_overlay(clip, plan, out, cues.speech_prob, speaking_rows(plan, cues), analysis.info, encode)
