"""Helpers for the batch tests and benchmark: short real clips, and a stage that kills its worker.

``kill_once_plan`` is a plan stage that kills its own worker process (SIGKILL, as the OOM killer or
a node failure would) the first time it sees a clip named in ``AUTOFOCUSPULL_TEST_KILL``, leaving a
marker file so that the retry runs normally; a clip named in ``AUTOFOCUSPULL_TEST_KILL_ALWAYS`` kills
its worker on every attempt. Workers import this module by name (tests/ on their PYTHONPATH).
"""

from __future__ import annotations

import os
import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from autofocuspull.batch import work


def trim_clip(src: Path, dst: Path, start_s: float, n_frames: int, max_side: int = 320) -> Path:
    """The ``n_frames`` frames of ``src`` from ``start_s``, scaled to ``max_side``, H.264 (+ AAC audio)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = Fraction(vin.average_rate or 25)
        s = max_side / max(vin.codec_context.width, vin.codec_context.height)
        w, h = round(vin.codec_context.width * s / 2) * 2, round(vin.codec_context.height * s / 2) * 2
        vout = out.add_stream("libx264", rate=rate, options={"crf": "20", "preset": "ultrafast"})
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        has_audio = bool(inp.streams.audio)
        if has_audio:
            aout = out.add_stream("aac", rate=48000, layout="mono")
        k = 0
        for frame in inp.decode(vin):
            if frame.time is None or frame.time < start_s - 1e-6:
                continue
            f = frame.reformat(width=w, height=h, format="yuv420p")
            f.pts, f.time_base = k, 1 / rate
            out.mux(vout.encode(f))
            k += 1
            if k == n_frames:
                break
        out.mux(vout.encode(None))
        if has_audio:
            inp.seek(0)
            res = av.AudioResampler(format="fltp", layout="mono", rate=48000)
            end_s = start_s + n_frames / float(rate)
            for frame in inp.decode(inp.streams.audio[0]):
                if frame.time is None or frame.time < start_s or frame.time > end_s:
                    continue
                frame.pts = None
                for r in res.resample(frame):
                    out.mux(aout.encode(r))
            out.mux(aout.encode(None))
    return dst


def _names(var: str) -> list[str]:
    return [n for n in os.environ.get(var, "").split(",") if n]


def kill_once_plan(job, cfg, config):
    """:func:`work.plan_stage`, but killing the worker as described in the module docstring.

    Every kill leaves ``<name>.killed.<pid>`` in ``AUTOFOCUSPULL_TEST_MARKERS``."""
    name = Path(job.rel).name
    folder = Path(os.environ.get("AUTOFOCUSPULL_TEST_MARKERS", "."))
    first = not list(folder.glob(f"{name}.killed.*"))
    if name in _names("AUTOFOCUSPULL_TEST_KILL_ALWAYS") or (
        first and name in _names("AUTOFOCUSPULL_TEST_KILL")
    ):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.killed.{os.getpid()}").write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return raising_plan(job, cfg, config)


def raising_plan(job, cfg, config):
    """:func:`work.plan_stage`, raising for a clip named in ``AUTOFOCUSPULL_TEST_RAISE``."""
    if Path(job.rel).name in _names("AUTOFOCUSPULL_TEST_RAISE"):
        raise ValueError(f"{job.rel}: injected failure")
    return work.plan_stage(job, cfg, config)


def frames_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def short_clips(folder: Path) -> Path:
    """A batch folder: three short real clips (a shot cut; audio, in a subfolder; a .mov) and a text file."""
    from conftest import footage

    (folder / "sub").mkdir(parents=True, exist_ok=True)
    trim_clip(footage("tears_of_steel_10s.mp4"), folder / "tos.mp4", 0.5, 24)  # a cut at frame 9
    trim_clip(footage("box_in_hand.mp4"), folder / "sub" / "box.mp4", 1.0, 16)  # has audio
    trim_clip(footage("carphone.mp4"), folder / "car.mov", 0.0, 10)
    (folder / "notes.txt").write_text("not a clip")
    return folder


def link_models() -> None:
    """The real weights from ../shared/models in this test's model cache, as a download leaves them."""
    from conftest import shared_model

    from autofocuspull.core.hub import MODEL_CARDS, cache_dir

    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("yunet", "yolox-nano", "deeplabv3", "light-asd", "light-asd-head"):
        target = models / MODEL_CARDS[name].filename
        if not target.exists():
            target.symlink_to(shared_model(MODEL_CARDS[name].filename))
