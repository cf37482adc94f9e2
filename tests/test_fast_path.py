"""No loss from the speed-ups: the default (fast) path plans and renders like the slow path.

The slow path is what the speed-ups replaced: the depth network on every frame, one frame per
forward pass, faces detected on every frame, person masks on every 3rd. The fast path is
``RackConfig()``: depth on keyframes (shot starts, every ``depth.keyframe_interval`` frames, large
motion over the frame or inside a subject's box) propagated by optical flow between them; faces
every 2nd frame, masks every 6th. Both run on 3 s of a real interview (speech, one seated subject),
from 1 s in, after the title card is wiped away (in a wipe half the frame is the card: the depth of
the man appearing there is ill-defined in both paths, and since the shot opens on him, preset at
that depth, the hold's deadband keeps either path's guess for the whole excerpt: 0.05 D apart),
at 320x180 with a tiny random-weight Depth Anything loaded the real way, at the same network input
size: what a smaller input does to a *trained* network's depth cannot be judged with random
weights (at 518 vs 308 px the random network's maps differ arbitrarily, and the focus distances
with them: 0.6 dioptres at the 95th percentile), so the input size is left to a measurement with
real weights (eval/README.md, "Speed knobs").

Tolerances, and why:

* the subject in focus is the same on >= 98 % of the frames, and the number of pulls is equal
  (who and when is the plan; depth only scales distances);
* pulls start within 0.12 s (3 frames) of each other;
* outside the pulls, focus distance within 0.034 dioptres (median) and 0.068 (95th percentile):
  the depth of field of the default lens (50 mm f/1.4, 0.03 mm circle of confusion) spans about
  2·N·c/f² = 0.034 dioptres, so the median error stays inside it. (During a rack focus sweeps
  dioptres quickly, so a pull a frame later is a large but invisible error: the onset bound
  covers it.) Measured before this bound was set: same subject on every frame, the same one
  pull, 0.019 dioptres median over all frames;
* the rendered frames within 30 dB PSNR of each other (mean over frames; both outputs also carry
  H.264 noise at crf 18, ~45 dB), i.e. differences of about 3 % of the signal, in out-of-focus
  regions only.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import footage, shared_model

from autofocuspull.config import RackConfig, apply_overrides
from autofocuspull.core.hub import MODEL_CARDS, cache_dir
from autofocuspull.evaluate.compare import plan_agreement
from autofocuspull.io import iter_frames, probe, read_audio
from autofocuspull.io.synth import AudioSpec, write_clip
from autofocuspull.perception.depth.random_model import save_random_depth_anything
from autofocuspull.pipeline import rack

SLOW = {
    "depth.keyframe_interval": 1,
    "depth.batch_size": 1,
    "perception.perceiver.mask_every": 3,
}


def _short_clip(src: Path, dst: Path, seconds: float, size_wh: tuple[int, int], start_s: float = 0.0) -> Path:
    info = probe(src)
    k0 = round(start_s * float(info.frame_rate))
    n = k0 + round(seconds * float(info.frame_rate))
    head = itertools.takewhile(lambda f: f.index < n, iter_frames(src, info))
    frames = (cv2.resize(f.rgb, size_wh, interpolation=cv2.INTER_AREA) for f in head if f.index >= k0)
    audio = read_audio(src, 48000)
    assert audio is not None
    part = audio[int(start_s * 48000) : int((start_s + seconds) * 48000)]
    write_clip(dst, frames, rate=info.frame_rate, audio=[AudioSpec(part, 48000)])
    return dst


def _interview_setup(tmp_path: Path, seconds: float, start_s: float = 0.0) -> tuple[Path, RackConfig]:
    """``seconds`` of the real interview from ``start_s`` at 320x180, the shared detector weights in
    the test's model cache, and a config with a tiny random depth network loaded the real way."""
    src = footage("dev/talking_head_guardian_interview.mp4")
    clip = _short_clip(src, tmp_path / "clip.mp4", seconds, (320, 180), start_s)
    models = cache_dir() / "models"
    models.mkdir(parents=True)
    for name in ("yunet", "yolox-nano", "deeplabv3", "light-asd", "light-asd-head"):
        (models / MODEL_CARDS[name].filename).symlink_to(shared_model(MODEL_CARDS[name].filename))
    save_random_depth_anything(tmp_path / "depth", size="tiny")
    base = apply_overrides(
        RackConfig(), {"depth.model": str(tmp_path / "depth"), "encode.preset": "ultrafast"}
    )
    return clip, base


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.mark.slow
@pytest.mark.shared
def test_fast_path_plans_and_renders_within_tolerance_of_the_slow_path(tmp_path: Path) -> None:
    clip, base = _interview_setup(tmp_path, 3.0, start_s=1.0)  # after the title card's wipe
    fast = rack(clip, tmp_path / "fast.mp4", base)
    slow = rack(clip, tmp_path / "slow.mp4", apply_overrides(base, SLOW))

    assert fast.depth_source == slow.depth_source != "heuristic"
    agree = plan_agreement(fast, slow)  # subjects matched by their boxes: track ids differ between runs
    assert agree["same_subject"] >= 0.98, agree
    assert agree["n_pulls"] == agree["n_pulls_ref"], agree
    assert agree["onset_max_s"] <= 0.12, agree  # three frames at 25 fps
    assert agree["dioptre_median_holds"] <= 0.034 and agree["dioptre_p95_holds"] <= 0.068, agree

    psnr = [
        _psnr(a.rgb, b.rgb)
        for a, b in zip(iter_frames(tmp_path / "fast.mp4"), iter_frames(tmp_path / "slow.mp4"), strict=True)
    ]
    assert np.mean(psnr) >= 30.0, np.mean(psnr)


@pytest.mark.slow
@pytest.mark.shared
def test_rack_is_reproducible_from_a_cold_cache_with_any_render_workers(tmp_path: Path) -> None:
    """Two racks of the same clip, the second with nothing cached and one render worker instead of
    two: the same plan and the same decoded frames (bit for bit)."""
    clip, base = _interview_setup(tmp_path, 2.0)
    first = rack(clip, tmp_path / "a.mp4", apply_overrides(base, {"run.render_workers": 2}))
    again = rack(
        clip, tmp_path / "b.mp4", apply_overrides(base, {"run.render_workers": 1, "run.use_cache": False})
    )

    assert first.depth_source == again.depth_source != "heuristic"
    np.testing.assert_array_equal(first.focus_m, again.focus_m)
    np.testing.assert_array_equal(first.subject_id, again.subject_id)
    for a, b in zip(iter_frames(tmp_path / "a.mp4"), iter_frames(tmp_path / "b.mp4"), strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
