"""Random-weight Depth Anything checkpoints, for tests and benchmarks on machines without a hub.

:func:`save_random_depth_anything` writes ``config.json`` + ``model.safetensors`` +
``preprocessor_config.json`` to a folder, which then loads the real way through
:func:`~autofocuspull.perception.depth.estimator.build_depth_estimator`. ``"small"`` is the
architecture of Depth Anything V2 Small (DINOv2-S/14 backbone, features of layers 3/6/9/12,
24.8 M parameters); ``"tiny"`` a 4-layer, 32-wide model for fast tests. The weights are random:
the maps mean nothing about the scene.
"""

from __future__ import annotations

import os
from typing import Any

import torch

# (backbone kwargs, head kwargs) per size.
RANDOM_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tiny": (
        {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64,
         "out_indices": [1, 2, 3, 4]},
        {"reassemble_hidden_size": 32, "neck_hidden_sizes": [8, 16, 32, 32], "fusion_hidden_size": 16,
         "head_hidden_size": 8},
    ),
    "small": (
        {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536,
         "out_indices": [3, 6, 9, 12]},
        {"reassemble_hidden_size": 384, "neck_hidden_sizes": [48, 96, 192, 384], "fusion_hidden_size": 64,
         "head_hidden_size": 32},
    ),
}  # fmt: skip

# The Depth Anything V2 processor settings (ImageNet mean/std, patch multiple 14, bicubic).
PROCESSOR_KWARGS: dict[str, Any] = {
    "do_resize": True,
    "size": {"height": 518, "width": 518},
    "keep_aspect_ratio": True,
    "ensure_multiple_of": 14,
    "resample": 3,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "do_pad": False,
}


# Weight init std per size: the 4-layer model needs 0.2 (the library's 0.02 leaves its ReLU
# output near 1e-8), the 12-layer one keeps the library's 0.02 (0.2 makes it overflow to ~1e7).
INIT_RANGE: dict[str, float] = {"tiny": 0.2, "small": 0.02}


def save_random_depth_anything(
    path: str | os.PathLike[str], *, size: str = "tiny", seed: int = 0, initializer_range: float | None = None
) -> None:
    """Save a random-weight Depth Anything of ``size`` ("tiny" | "small") with its processor config.

    ``initializer_range`` defaults to :data:`INIT_RANGE` of the size, which gives maps with a
    usable spread (most pixels positive, not overflowing).
    """
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.dpt import DPTImageProcessorPil

    if size not in RANDOM_SIZES:
        raise ValueError(f"size: expected one of {sorted(RANDOM_SIZES)}, got {size!r}")
    backbone_kw, head_kw = RANDOM_SIZES[size]
    initializer_range = INIT_RANGE[size] if initializer_range is None else initializer_range
    torch.manual_seed(seed)
    backbone = Dinov2Config(
        patch_size=14,
        image_size=518,
        reshape_hidden_states=False,
        initializer_range=initializer_range,
        **backbone_kw,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, initializer_range=initializer_range, **head_kw
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(path)
    DPTImageProcessorPil(**PROCESSOR_KWARGS).save_pretrained(path)
