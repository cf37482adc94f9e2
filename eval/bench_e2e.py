"""End-to-end speed of ``rack``: per stage, on real footage, with the real-size depth network.

A clip of ``--seconds`` (default 3; the issue's figure is 10) is cut from a real interview with
speech (``../shared/footage/dev/talking_head_guardian_interview.mp4``, 1280x720) and scaled to each
``--sizes`` entry (640x360, 1080p, 4K: down- or upscaled with area / bicubic filtering, audio
kept) in a temp folder. Depth Anything V2 Small is built from its config with random weights,
``save_pretrained`` to a folder and loaded through ``--depth-model DIR`` exactly as a downloaded
checkpoint (the architecture fixes the cost; the weights don't). Every run starts from a cold
cache (a fresh cache folder) and the shared detector weights.

For each size it runs, in this process and one after the other:

* ``ours``: ``autofocuspull rack`` with the default settings;
* ``naive`` (``--naive``): the pipeline a user would write first: the depth network on every frame
  at its full inference size (518 px), one frame per forward pass, the per-pixel Gaussian blur by
  circle of confusion (:func:`autofocuspull.render.render_naive_torch`), no caching. It shares
  detection, tracking, cues and planning with ``ours`` (those are not what "naive" is about), so
  the ratio is of the depth and render paths a user would write.

and prints seconds per frame, wall time over the clip's duration, each stage's share (exclusive
time, see :mod:`autofocuspull.core.timing`), peak resident memory, user and system CPU seconds,
minor page faults, the load average, and the speed ratio naive / ours. ``--fidelity`` adds the
project's render fidelity benchmark (``eval/bench_render_fidelity.py``) for both renderers.
``--profile FILE`` writes a cProfile of the ``ours`` run of the first size.

    python eval/bench_e2e.py                                   # 3 s at 640x360, ours only
    python eval/bench_e2e.py --seconds 10 --naive --fidelity   # the issue's 640x360 figure
    python eval/bench_e2e.py --seconds 10 --sizes 640x360,1080p,4K --json out.json

Run with ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine (see ``eval/bench_render_speed.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SOURCE = SHARED / "footage" / "dev" / "talking_head_guardian_interview.mp4"
SIZES = {"640x360": (640, 360), "1080p": (1920, 1080), "4K": (3840, 2160)}
STAGES = (
    "decode", "depth", "depth-other", "detection", "segmentation", "tracking", "distances", "cues",
    "planning", "rendering", "encode", "other",
)  # fmt: skip


def make_clip(src: Path, dst: Path, seconds: float, size_wh: tuple[int, int]) -> Path:
    """The first ``seconds`` of ``src`` scaled to ``size_wh`` (H.264 crf 16, AAC audio) at ``dst``."""
    from autofocuspull.io import iter_frames, probe, read_audio
    from autofocuspull.io.synth import AudioSpec, write_clip

    info = probe(src)
    n = min(info.n_frames, int(round(seconds * float(info.frame_rate))))
    w, h = size_wh
    interp = cv2.INTER_AREA if w < info.width else cv2.INTER_CUBIC

    def frames():
        for f in iter_frames(src, info):
            if f.index >= n:
                return
            yield cv2.resize(f.rgb, (w, h), interpolation=interp)

    audio = read_audio(src, 48000) if info.has_audio else None
    tracks = [AudioSpec(audio[: int(n / float(info.frame_rate) * 48000)], 48000)] if audio is not None else []
    write_clip(dst, frames(), rate=info.frame_rate, audio=tracks, options={"crf": "16", "preset": "fast"})
    return dst


def depth_model_dir(folder: Path) -> Path:
    """Depth Anything V2 Small with random weights, saved the way a downloaded one is."""
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    if not (folder / "model.safetensors").exists():
        save_random_depth_anything(folder, size="small")
    return folder


def model_cache(folder: Path) -> Path:
    """A cache folder whose ``models/`` links the shared detector weights (as a user's would hold)."""
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    for f in (SHARED / "models").iterdir():
        link = models / f.name
        if not link.exists():
            link.symlink_to(f)
    return folder


def _child(argv: list[str], cache: Path, out_json: Path, profile: Path | None) -> None:
    """Body of a forked run: ``autofocuspull`` main with stage timing, results to ``out_json``."""
    os.environ["AUTOFOCUSPULL_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from autofocuspull import cli
    from autofocuspull.core.timing import recording

    prof = cProfile.Profile() if profile is not None else None
    t0 = time.perf_counter()
    with recording() as times:
        if prof is not None:
            prof.enable()
        rc = cli.main(argv)
        if prof is not None:
            prof.disable()
    wall = time.perf_counter() - t0
    if prof is not None:
        prof.dump_stats(str(profile))
    out_json.write_text(json.dumps({"rc": rc, "wall_s": wall, "stages": times.as_dict()}))


def run_case(argv: list[str], work: Path, name: str, profile: Path | None = None) -> dict:
    """Run ``autofocuspull argv`` in a forked child with a fresh cache; its stages and rusage."""
    cache = model_cache(work / f"cache-{name}")
    out_json = work / f"{name}.json"
    load = os.getloadavg()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            _child(argv, cache, out_json, profile)
            code = 0
        finally:
            os._exit(code)
    _, status, ru = os.wait4(pid, 0)
    if status != 0 or not out_json.exists():
        raise RuntimeError(f"{name}: the run failed (status {status}); see its log above")
    res = json.loads(out_json.read_text())
    res.update(
        user_s=ru.ru_utime, sys_s=ru.ru_stime, peak_rss_mib=ru.ru_maxrss / 1024, minor_faults=ru.ru_minflt,
        load_before=load, load_after=os.getloadavg(),
    )  # fmt: skip
    return res
