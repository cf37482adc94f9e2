"""Monocular depth networks behind one small interface, with a registry of builders.

A :class:`DepthEstimator` maps a batch of RGB ``uint8`` (H, W, 3) images to relative inverse
depth (B, h, w) float32 (larger = nearer, arbitrary affine scale per frame) at the inference
resolution. The default is Depth Anything V2 Small through transformers; any Depth Anything /
DPT-style checkpoint (hub id or local directory holding ``config.json`` + weights +
``preprocessor_config.json``) loads the same way.

Preprocessing travels with the model: mean/std, rescale factor and patch multiple are read from
the checkpoint's ``preprocessor_config.json``; the resize follows the original Depth Anything
``infer_image`` ("lower_bound": the shorter side becomes ``input_size``, both sides rounded up to
a multiple of the patch size, aspect kept). Device and dtype are the caller's choice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as nnf

from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.registry import Registry
from autofocuspull.core.types import DepthKind, check_array

log = logging.getLogger(__name__)

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DEPTH_MODEL_FLAG = "--depth-model"


class DepthEstimator(Protocol):
    """Anything that turns RGB frames into relative inverse depth."""

    source: str
    kind: DepthKind

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(B, h, w) float32 relative inverse depth for B RGB uint8 (H, W, 3) images."""
        ...


@dataclass(frozen=True)
class DepthPreprocess:
    """Input spec of a depth network, read from its ``preprocessor_config.json``.

    ``input_size`` is the shorter side (px) the image is resized to; ``multiple_of`` the patch
    size both sides are rounded up to; ``mean``/``std`` apply after ``rescale`` (1/255) in RGB.
    """

    input_size: int = 518
    multiple_of: int = 14
    rescale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    colour_order: str = "RGB"

    @classmethod
    def from_processor_dict(cls, d: dict[str, Any], input_size: int) -> DepthPreprocess:
        """Spec from an image-processor dict (DPT keys), with the caller's ``input_size``."""
        mean = tuple(float(x) for x in d.get("image_mean", cls.mean))
        std = tuple(float(x) for x in d.get("image_std", cls.std))
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"image_mean/image_std: expected 3 values each, got {mean} and {std}")
        rescale = float(d.get("rescale_factor", cls.rescale)) if d.get("do_rescale", True) else 1.0
        if not d.get("do_normalize", True):
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        multiple = int(d.get("ensure_multiple_of", 1) or 1)
        return cls(input_size, multiple, rescale, mean, std)  # type: ignore[arg-type]


def inference_size_hw(height: int, width: int, input_size: int, multiple_of: int) -> tuple[int, int]:
    """Network input size (h, w) px: shorter side -> ``input_size``, aspect kept, rounded up.

    Both sides are rounded up to a multiple of ``multiple_of`` (the original Depth Anything
    "lower_bound" resize), e.g. 360x640 at 518/14 -> (518, 924).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size: expected positive height and width, got {height}x{width}")
    if input_size <= 0 or multiple_of <= 0:
        raise ValueError(f"input_size/multiple_of: expected positive, got {input_size}/{multiple_of}")
    scale = input_size / min(height, width)
    h = max(multiple_of, math.ceil(round(height * scale, 6) / multiple_of) * multiple_of)
    w = max(multiple_of, math.ceil(round(width * scale, 6) / multiple_of) * multiple_of)
    return h, w


def preprocess_batch(
    images: Sequence[np.ndarray], spec: DepthPreprocess, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """(B, 3, h, w) normalised tensor from B same-size RGB uint8 (H, W, 3) images.

    Resized with antialiased bicubic interpolation on ``device`` (float32), then cast to ``dtype``.
    """
    if not len(images):
        raise ValueError("images: expected at least one image, got none")
    first = check_array("images[0]", images[0], (None, None, 3))
    height, width = first.shape[:2]
    arrs = [check_array(f"images[{i}]", im, (height, width, 3)) for i, im in enumerate(images)]
    for i, a in enumerate(arrs):
        if a.dtype != np.uint8:
            raise ValueError(f"images[{i}]: expected dtype uint8, got {a.dtype}")
    x = torch.from_numpy(np.stack(arrs)).to(device).permute(0, 3, 1, 2).float()
    h, w = inference_size_hw(height, width, spec.input_size, spec.multiple_of)
    x = nnf.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    x = x.clamp_(0.0, 255.0) * spec.rescale
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(dtype)


class TransformersDepthEstimator:
    """A transformers ``AutoModelForDepthEstimation`` with its preprocessing (see module doc).

    ``batch_size`` frames go through the network at once; ``kind`` is ``"relative_inverse"``.
    """

    kind: DepthKind = "relative_inverse"

    def __init__(
        self,
        model: torch.nn.Module,
        spec: DepthPreprocess,
        *,
        source: str,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int = 8,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        self.model = model.eval()
        self.spec = spec
        self.source = source
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size

    def output_size_hw(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of :meth:`predict`'s maps for (height, width) px input frames."""
        return inference_size_hw(height, width, self.spec.input_size, self.spec.multiple_of)

    @torch.inference_mode()
    def _forward(self, images: Sequence[np.ndarray]) -> np.ndarray:
        x = preprocess_batch(images, self.spec, device=self.device, dtype=self.dtype)
        out = self.model(pixel_values=x).predicted_depth
        if out.shape[-2:] != x.shape[-2:]:
            out = nnf.interpolate(out[:, None].float(), size=x.shape[-2:], mode="bilinear")[:, 0]
        return out.float().cpu().numpy()

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(B, h, w) float32 relative inverse depth (larger = nearer) of B RGB uint8 (H, W, 3).

        All images must share one size; they run in batches of ``batch_size``.
        """
        parts = [
            self._forward(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)
        ]
        if not parts:
            raise ValueError("images: expected at least one image, got none")
        return np.concatenate(parts).astype(np.float32, copy=False)


def fetch_hint(name_or_path: str) -> str:
    """What to do to get a depth model: fetch command, cache variable and the CLI override."""
    if _looks_local(name_or_path):
        return (
            f"the directory {name_or_path} must hold config.json, the weights (model.safetensors) and "
            f"preprocessor_config.json of a transformers depth model (e.g. from `hf download "
            f"{DEFAULT_DEPTH_MODEL} --local-dir {name_or_path}`); or pass {DEPTH_MODEL_FLAG} PATH "
            "with another model directory"
        )
    return (
        f"fetch it on a machine with internet with `hf download {name_or_path}` (older hubs: "
        f"`huggingface-cli download {name_or_path}`) into the Hugging Face cache ($HF_HOME, "
        f"default ~/.cache/huggingface), or download it to a folder with `--local-dir DIR` and pass "
        f"{DEPTH_MODEL_FLAG} DIR"
    )


def _looks_local(name_or_path: str) -> bool:
    p = Path(name_or_path)
    return p.exists() or p.is_absolute() or name_or_path.startswith((".", "~"))


def _load_transformers(name_or_path: str, local_files_only: bool) -> tuple[torch.nn.Module, dict[str, Any]]:
    from transformers import AutoModelForDepthEstimation
    from transformers.image_processing_utils import ImageProcessingMixin

    if _looks_local(name_or_path) and not Path(name_or_path).is_dir():
        raise FileNotFoundError(f"no such directory: {name_or_path}")
    model = AutoModelForDepthEstimation.from_pretrained(name_or_path, local_files_only=local_files_only)
    try:
        proc, _ = ImageProcessingMixin.get_image_processor_dict(
            name_or_path, local_files_only=local_files_only
        )
    except OSError:
        log.warning(
            "%s has no preprocessor_config.json; using Depth Anything's ImageNet mean/std and patch 14",
            name_or_path,
        )
        proc = {}
    return model, proc


def build_transformers_depth(
    name_or_path: str = DEFAULT_DEPTH_MODEL,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    input_size: int = 518,
    local_files_only: bool = False,
    batch_size: int = 8,
) -> TransformersDepthEstimator:
    """Load a transformers depth model (hub id or local dir) on ``device`` in ``dtype``.

    ``dtype=None`` keeps float32. Raises :class:`ModelUnavailableError` naming the model, how to
    fetch it and ``--depth-model PATH`` when it cannot be loaded.
    """
    dev = torch.device(device)
    dt = torch.float32 if dtype is None else dtype
    try:
        model, proc = _load_transformers(name_or_path, local_files_only)
    except Exception as e:
        raise ModelUnavailableError(
            f"depth model {name_or_path} could not be loaded ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}): {fetch_hint(name_or_path)}"
        ) from e
    model = model.to(device=dev, dtype=dt)
    spec = DepthPreprocess.from_processor_dict(proc, input_size)
    return TransformersDepthEstimator(
        model, spec, source=str(name_or_path), device=dev, dtype=dt, batch_size=batch_size
    )


def _hub_builder(repo_id: str) -> Callable[..., DepthEstimator]:
    def build(**kwargs: Any) -> DepthEstimator:
        return build_transformers_depth(repo_id, **kwargs)

    build.__doc__ = f"Build ``{repo_id}`` through :func:`build_transformers_depth`."
    return build


class DepthBuilder(Protocol):
    """Builds a :class:`DepthEstimator` on ``device`` in ``dtype`` (None: float32) for frames whose
    shorter side the network sees at ``input_size`` px; ``local_files_only``: no network. Raises
    :class:`ModelUnavailableError` (what to download and where) when the model can't be had."""

    def __call__(
        self,
        *,
        device: str | torch.device,
        dtype: torch.dtype | None,
        input_size: int,
        local_files_only: bool,
    ) -> DepthEstimator: ...


# Registry of named builders (:class:`DepthBuilder`; plug-ins through the ``autofocuspull.depth``
# entry points). Names not in here are treated as a hub id or a local directory. All Depth Anything
# V2 sizes output relative inverse depth; Small is Apache-2.0, Base/Large are CC-BY-NC-4.0 (see
# models/depth-anything-v2-small.md).
DEPTH_MODELS: Registry[DepthBuilder] = Registry("depth model", "autofocuspull.depth")
DEPTH_MODELS.register("depth-anything-v2-small", _hub_builder(DEFAULT_DEPTH_MODEL))
DEPTH_MODELS.register(DEFAULT_DEPTH_MODEL, _hub_builder(DEFAULT_DEPTH_MODEL))
DEPTH_MODELS.register("depth-anything-v2-base", _hub_builder("depth-anything/Depth-Anything-V2-Base-hf"))
DEPTH_MODELS.register("depth-anything-v2-large", _hub_builder("depth-anything/Depth-Anything-V2-Large-hf"))


def build_depth_estimator(
    name_or_path: str = DEFAULT_DEPTH_MODEL,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    input_size: int = 518,
    local_files_only: bool = False,
    batch_size: int = 8,
) -> DepthEstimator:
    """A depth estimator from a registry name (:data:`DEPTH_MODELS`), a hub id or a local directory.

    Loading happens here, never at import. Raises :class:`ModelUnavailableError` (naming the
    model, how to fetch it and ``--depth-model PATH``) when it cannot be loaded.
    """
    kwargs = {
        "device": device,
        "dtype": dtype,
        "input_size": input_size,
        "local_files_only": local_files_only,
        "batch_size": batch_size,
    }
    if name_or_path in DEPTH_MODELS:
        return DEPTH_MODELS.get(name_or_path)(**kwargs)
    return build_transformers_depth(name_or_path, **kwargs)


def preferred_dtype(device: str | torch.device) -> torch.dtype:
    """A sensible inference dtype for ``device``: fp16 on CUDA, bf16 on CPU where supported, else fp32.

    A helper for callers (the CLI); estimators never choose a dtype themselves.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.float16
    if dev.type == "cpu" and _cpu_bf16_ok():
        return torch.bfloat16
    return torch.float32


def _cpu_bf16_ok() -> bool:
    try:
        a = torch.ones(4, 4, dtype=torch.bfloat16)
        return bool(torch.isfinite((a @ a).float()).all())
    except RuntimeError:
        return False
