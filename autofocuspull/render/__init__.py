"""Render: physically based shallow depth of field following a focus plan (layered, in torch)."""

from autofocuspull.core.types import Lens
from autofocuspull.render.api import render_frame
from autofocuspull.render.layered import (
    RENDERERS,
    LayeredBokehRenderer,
    RenderConfig,
    Renderer,
    layer_radii_px,
    render_frame_torch,
    render_naive_torch,
)
from autofocuspull.render.optics import coc_px
from autofocuspull.render.video import render_video, upsample_depth

__all__ = [
    "RENDERERS",
    "LayeredBokehRenderer",
    "Lens",
    "RenderConfig",
    "Renderer",
    "coc_px",
    "layer_radii_px",
    "render_frame",
    "render_frame_torch",
    "render_naive_torch",
    "render_video",
    "upsample_depth",
]
