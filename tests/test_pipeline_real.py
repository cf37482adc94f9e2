"""A whole rack on real footage: frames, timing and audio survive; the plan names its subjects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import footage, shared_model

from autofocuspull.core.hub import MODEL_CARDS, cache_dir
from autofocuspull.io import EncodeConfig, probe
from autofocuspull.pipeline import RackConfig, rack


@pytest.mark.slow
@pytest.mark.shared
def test_rack_round_trip_on_real_footage_keeps_frames_timing_and_audio(tmp_path: Path) -> None:
    clip = footage("box_in_hand.mp4")
    models = cache_dir() / "models"
    models.mkdir(parents=True)
    for name in ("yunet", "yolox-nano", "deeplabv3"):  # the real weights, as the download cache holds them
        (models / MODEL_CARDS[name].filename).symlink_to(shared_model(MODEL_CARDS[name].filename))
    out, plan_json = tmp_path / "racked.mp4", tmp_path / "plan.json"
    plan = rack(clip, out, RackConfig(encode=EncodeConfig(preset="ultrafast")), plan_out=plan_json)
    src, dst = probe(clip), probe(out)
    assert dst.n_frames == src.n_frames == plan.n_frames == 455
    np.testing.assert_allclose(dst.pts_s, src.pts_s, atol=1e-6)
    assert len(dst.audio) == 1
    assert dst.audio[0].duration_s == pytest.approx(src.audio[0].duration_s, abs=src.frame_duration_s)
    saved = json.loads(plan_json.read_text())
    labels = {s["label"] for s in saved["subjects"]}
    assert "person" in labels and len(labels) >= 2  # the hand's person and the box (YOLOX calls it a cake)
    assert any("depth model unavailable" in w.lower() for w in saved["meta"]["warnings"])  # said, not silent
    assert saved["depth_source"] == "heuristic"
