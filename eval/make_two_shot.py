"""Build the graded two-speaker composition ``two_shot.mp4`` from ../shared/footage/two_speakers.

The source is two real 224x224 face tracks of one conversation (speaker0_crop.avi, speaker1_crop.avi,
25 fps) and the scene's audio (audio.wav, 16 kHz). This script lays them side by side on a 640x360
canvas: speaker0 on the left at 300x300 px (near, sharp), speaker1 on the right at 180x180 px,
slightly blurred and dimmed (farther away), and muxes the audio (H.264 + AAC, via PyAV). The output
is deterministic for a given PyAV/FFmpeg build.

Usage: ``python eval/make_two_shot.py OUT_DIR [--footage DIR] [--with-grades]`` writes
``OUT_DIR/two_shot.mp4`` (never into the repository) and, with ``--with-grades``, copies
``eval/grades/two_shot.grades.json`` beside it so that OUT_DIR is an evaluation dataset.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FOOTAGE = REPO.parent / "shared" / "footage" / "two_speakers"
GRADES = REPO / "eval" / "grades" / "two_shot.grades.json"

CANVAS_WH = (640, 360)
FPS = 25
# (x0, y0, size) in canvas pixels; the grades' boxes are these rectangles normalised by CANVAS_WH.
NEAR_XYS = (30, 30, 300)  # speaker0
FAR_XYS = (420, 70, 180)  # speaker1
FAR_BLUR_SIGMA_PX = 1.5
FAR_GAIN = 0.85


def background() -> np.ndarray:
    """(360, 640, 3) uint8 RGB: a plain vertical grey-blue gradient (a wall)."""
    w, h = CANVAS_WH
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array([150, 160, 170], np.float32), np.array([95, 100, 110], np.float32)
    return np.broadcast_to(top + (bottom - top) * ramp, (h, w, 3)).astype(np.uint8)


def compose(near_rgb: np.ndarray, far_rgb: np.ndarray, base: np.ndarray) -> np.ndarray:
    """One (360, 640, 3) uint8 RGB frame from two (224, 224, 3) uint8 RGB crops."""
    out = base.copy()
    x, y, s = NEAR_XYS
    out[y : y + s, x : x + s] = cv2.resize(near_rgb, (s, s), interpolation=cv2.INTER_CUBIC)
    x, y, s = FAR_XYS
    far = cv2.resize(far_rgb, (s, s), interpolation=cv2.INTER_AREA)
    far = cv2.GaussianBlur(far, (0, 0), FAR_BLUR_SIGMA_PX)
    out[y : y + s, x : x + s] = np.clip(far.astype(np.float32) * FAR_GAIN, 0, 255).astype(np.uint8)
    return out


def _frames(path: Path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def _audio_s16(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        chunks = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
    return np.concatenate(chunks).astype(np.int16), rate


def build_two_shot(footage_dir: Path, out_path: Path) -> Path:
    """Write the composition to ``out_path`` (mp4, 640x360, 25 fps, H.264 + AAC mono)."""
    base = background()
    samples, rate = _audio_s16(footage_dir / "audio.wav")
    tmp = out_path.with_name("." + out_path.name + ".tmp.mp4")
    with av.open(str(tmp), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = CANVAS_WH[0], CANVAS_WH[1], "yuv420p"
        v.options = {"crf": "18", "preset": "medium", "threads": "1"}
        a = out.add_stream("aac", rate=rate, layout="mono")
        near_frames = _frames(footage_dir / "speaker0_crop.avi")
        pairs = zip(near_frames, _frames(footage_dir / "speaker1_crop.avi"), strict=True)
        for i, (near, far) in enumerate(pairs):
            frame = av.VideoFrame.from_ndarray(compose(near, far, base), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for pkt in v.encode(frame):
                out.mux(pkt)
        for pkt in v.encode():
            out.mux(pkt)
        _encode_audio(out, a, samples, rate)
    tmp.replace(out_path)
    return out_path


def _encode_audio(out, stream, samples: np.ndarray, rate: int) -> None:
    step = 1024
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path, help="folder to write two_shot.mp4 into (not the repository)")
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE, help="the two_speakers folder")
    ap.add_argument("--with-grades", action="store_true", help="copy two_shot.grades.json beside the video")
    args = ap.parse_args(argv)
    names = ("speaker0_crop.avi", "speaker1_crop.avi", "audio.wav")
    missing = [n for n in names if not (args.footage / n).is_file()]
    if missing:
        print(f"error: {args.footage}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    out_dir = args.out_dir.resolve()
    if out_dir == REPO or REPO in out_dir.parents:
        print(f"error: {out_dir}: write the footage outside the repository", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    path = build_two_shot(args.footage, out_dir / "two_shot.mp4")
    if args.with_grades:
        shutil.copyfile(GRADES, out_dir / GRADES.name)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
