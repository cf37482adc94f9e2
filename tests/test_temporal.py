"""Temporal stability: a static scene with a static focus renders without shimmer, and
``eval --flicker`` reports a render's flicker beside its input's."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from autofocuspull.core.types import Frame, Lens
from autofocuspull.evaluate.flicker import frame_flicker
from autofocuspull.render import RenderConfig, render_video

LENS = Lens(85.0, 1.4)
H, W, T = 96, 160, 8


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Textured background at 6 m with clipped point lights, a subject at 1.5 m (in focus)."""
    tex = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 1.5)
    img = (30 + 170 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.float32)
    for y, x in rng.integers(4, [H - 4, W - 4], (12, 2)):
        img[y : y + 2, x : x + 2] = 255
    depth = np.full((H, W), 6.0, np.float32)
    cv2.ellipse(depth, (W // 2, H // 2), (22, 34), 0, 0, 360, 1.5, -1)
    return img, depth


def _render(frames: list[np.ndarray], depths: list[np.ndarray]) -> list[np.ndarray]:
    focus = np.full(len(frames), 1.5, np.float32)
    return list(
        render_video(
            (Frame(i, i / 25, f) for i, f in enumerate(frames)), lambda fr: depths[fr.index],
            focus, np.full(len(frames), 1.4, np.float32), LENS, config=RenderConfig(max_coc_frac=0.08),
            progress=False,
        )
    )  # fmt: skip


def test_identical_frames_render_identically() -> None:
    img, depth = _scene(np.random.default_rng(0))
    out = _render([img.astype(np.uint8)] * 3, [depth] * 3)
    assert all(np.array_equal(out[0], o) for o in out[1:])


def test_static_scene_with_noise_and_depth_jitter_does_not_shimmer() -> None:
    """Sensor noise (sigma 2 codes) and a depth network's jitter (1 % per frame, smooth in space)
    on a static shot: the render's flicker stays below the footage's (blur averages noise) and
    far below what a layer or highlight switching on and off would add."""
    rng = np.random.default_rng(1)
    img, depth = _scene(rng)
    frames, depths = [], []
    for _ in range(T):
        frames.append(np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8))
        coarse = rng.normal(0, 0.01, (4, 6)).astype(np.float32)
        jitter = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
        depths.append(depth * (1.0 + jitter))
    out = _render(frames, depths)
    f = frame_flicker(frames, out)
    assert f["static_share"] > 0.8
    assert f["ratio"] < 1.0, f
    worst = max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in itertools.pairwise(out))
    assert worst <= 40, worst  # no pixel jumps like a switching layer or bloom would make


def test_frame_flicker_sees_a_shimmering_render() -> None:
    rng = np.random.default_rng(2)
    still = [np.full((H, W, 3), 120, np.uint8)] * T
    shimmer = [np.full((H, W, 3), 120 + 4 * (t % 2), np.uint8) for t in range(T)]
    f = frame_flicker(still, shimmer)
    assert f["input"] == 0.0 and f["output"] == pytest.approx(4.0, abs=0.05) and f["ratio"] is None
    noisy = [np.clip(120 + rng.normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8) for _ in range(T)]
    assert frame_flicker(noisy, noisy)["ratio"] == pytest.approx(1.0)


def test_eval_flicker_command(tmp_path, capsys) -> None:
    from autofocuspull.cli import main
    from autofocuspull.io import probe, transcode
    from autofocuspull.io.synth import write_clip

    rng = np.random.default_rng(3)
    img, depth = _scene(rng)
    src = tmp_path / "in.mp4"
    write_clip(src, [np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8) for _ in range(T)])
    info = probe(src)

    def process(frames):
        return render_video(
            frames, lambda fr: depth, np.full(T, 1.5, np.float32), np.full(T, 1.4, np.float32), LENS,
            progress=False,
        )  # fmt: skip

    out = transcode(src, tmp_path / "out.mp4", info, process)
    assert main(["eval", "--flicker", str(src), str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # x264 keeps a static shot's noise nearly constant: the render adds nothing on top.
    assert result["pairs"] == T - 1 and result["output"] <= result["input"] + 0.05, result
    assert main(["eval", "--flicker", str(src), str(out)]) == 0
    assert "ratio" in capsys.readouterr().out
