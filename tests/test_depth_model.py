"""Depth estimator: preprocessing, loading a tiny random Depth Anything the real way, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.perception.depth import (
    DEFAULT_DEPTH_MODEL,
    DEPTH_MODELS,
    DepthPreprocess,
    build_depth_estimator,
    inference_size_hw,
)
from autofocuspull.perception.depth.estimator import build_transformers_depth, preprocess_batch
from autofocuspull.perception.depth.random_model import save_random_depth_anything


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_depth_anything")
    save_random_depth_anything(path, size="tiny")
    return path


def _images(n: int, seed: int = 0, hw=(144, 176)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]


def test_inference_size_keeps_aspect_shorter_side_rounded_up():
    # 360x640 at 518: 640 * 518 / 360 = 920.9 -> 66 patches of 14 = 924.
    assert inference_size_hw(360, 640, 518, 14) == (518, 924)
    # 144x176 at 28: 176 * 28 / 144 = 34.2 -> 3 patches = 42.
    assert inference_size_hw(144, 176, 28, 14) == (28, 42)
    # Portrait: the width is the shorter side.
    assert inference_size_hw(640, 360, 518, 14) == (924, 518)
    with pytest.raises(ValueError, match="positive"):
        inference_size_hw(0, 10, 518, 14)


def test_preprocess_constant_image_matches_hand_normalisation():
    spec = DepthPreprocess(input_size=28, multiple_of=14)
    img = np.full((30, 40, 3), (51, 102, 204), np.uint8)
    x = preprocess_batch([img, img], spec, device=torch.device("cpu"), dtype=torch.float32)
    assert x.shape == (2, 3, 28, 42)
    expected = [(51 / 255 - 0.485) / 0.229, (102 / 255 - 0.456) / 0.224, (204 / 255 - 0.406) / 0.225]
    for c in range(3):
        torch.testing.assert_close(x[:, c], torch.full((2, 28, 42), expected[c]), atol=1e-5, rtol=0)


def test_preprocess_rejects_mixed_sizes_and_dtypes():
    spec = DepthPreprocess(input_size=28)
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match=r"images\[1\]: expected shape \(30, 40, 3\)"):
        preprocess_batch(
            [np.zeros((30, 40, 3), np.uint8), np.zeros((30, 41, 3), np.uint8)],
            spec,
            device=cpu,
            dtype=torch.float32,
        )
    with pytest.raises(ValueError, match="uint8"):
        preprocess_batch([np.zeros((30, 40, 3), np.float32)], spec, device=cpu, dtype=torch.float32)


def test_processor_dict_is_read():
    d = {
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.25, 0.25, 0.25],
        "ensure_multiple_of": 16,
        "rescale_factor": 0.5,
    }
    spec = DepthPreprocess.from_processor_dict(d, 256)
    assert spec == DepthPreprocess(256, 16, 0.5, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_load_tiny_model_shapes_dtype_and_batch_consistency(tiny_model_dir):
    est = build_depth_estimator(str(tiny_model_dir), input_size=28)
    est.batch_size = 2  # 3 images -> batches of 2 + 1
    assert est.kind == "relative_inverse" and est.source == str(tiny_model_dir)
    assert est.spec.mean == (0.485, 0.456, 0.406) and est.spec.multiple_of == 14
    imgs = _images(3)
    out = est.predict(imgs)
    assert out.shape == (3, 28, 42) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.std() > 0
    singles = np.concatenate([est.predict([im]) for im in imgs])
    np.testing.assert_allclose(out, singles, rtol=1e-4, atol=1e-4 * float(np.abs(out).max()))
    # Different images give different maps (the network is really used).
    assert not np.allclose(out[0], out[1])


@pytest.mark.slow
def test_random_small_has_the_depth_anything_v2_small_size(tmp_path):
    from transformers import AutoModelForDepthEstimation

    save_random_depth_anything(tmp_path, size="small")
    model = AutoModelForDepthEstimation.from_pretrained(tmp_path)
    n = sum(p.numel() for p in model.parameters())
    assert 24.0e6 < n < 25.5e6  # Depth Anything V2 Small: 24.8 M parameters
    with pytest.raises(ValueError, match="size"):
        save_random_depth_anything(tmp_path, size="huge")


def test_input_size_controls_resolution(tiny_model_dir):
    est = build_depth_estimator(str(tiny_model_dir), input_size=56)
    assert est.predict(_images(1))[0].shape == (56, 70)  # 176 * 56 / 144 = 68.4 -> 70


def test_bf16_on_cpu_is_the_callers_choice(tiny_model_dir):
    est32 = build_depth_estimator(str(tiny_model_dir), input_size=28)
    est16 = build_depth_estimator(str(tiny_model_dir), input_size=28, dtype=torch.bfloat16)
    assert next(est16.model.parameters()).dtype == torch.bfloat16
    assert next(est32.model.parameters()).dtype == torch.float32
    imgs = _images(2, seed=1)
    a, b = est32.predict(imgs), est16.predict(imgs)
    assert b.dtype == np.float32
    rel_err = np.abs(a - b).mean() / np.abs(a).mean()
    assert rel_err < 0.1


def test_missing_local_dir_raises_with_fetch_hint(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelUnavailableError) as e:
        build_depth_estimator(str(missing))
    msg = str(e.value)
    assert str(missing) in msg and "--depth-model PATH" in msg and "hf download" in msg


def test_local_dir_without_weights_raises(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        build_transformers_depth(str(tmp_path))


def test_hub_id_offline_raises_naming_model_and_flag(monkeypatch, tmp_path):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailableError) as e:
        build_depth_estimator(DEFAULT_DEPTH_MODEL)
    msg = str(e.value)
    assert DEFAULT_DEPTH_MODEL in msg
    assert f"hf download {DEFAULT_DEPTH_MODEL}" in msg and "--depth-model DIR" in msg and "HF_HOME" in msg


def test_registry_names_map_to_hub_ids(monkeypatch):
    seen = []

    def fake(name, **kw):
        seen.append((name, kw["input_size"]))
        return "est"

    monkeypatch.setattr("autofocuspull.perception.depth.estimator.build_transformers_depth", fake)
    assert build_depth_estimator("depth-anything-v2-small", input_size=252) == "est"
    assert build_depth_estimator("some/other-depth", input_size=364) == "est"
    assert seen == [(DEFAULT_DEPTH_MODEL, 252), ("some/other-depth", 364)]
    assert DEFAULT_DEPTH_MODEL in DEPTH_MODELS


def test_preferred_dtype_per_device():
    from autofocuspull.perception.depth import preferred_dtype

    assert preferred_dtype("cuda") == torch.float16
    assert preferred_dtype("cpu") in (torch.bfloat16, torch.float32)
    assert preferred_dtype("mps") == torch.float32
