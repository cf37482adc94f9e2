"""What every exporter shares: the export settings, the clip a plan was made for, frame rates,
and the one mapping of metres to a depth-map value that the depth pass and the editor scripts
agree on."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.arrays import frame_interval_s
from autofocuspull.core.atomic import atomic_path
from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import FocusPlan
from autofocuspull.export.timecode import parse_rate


@dataclass(frozen=True)
class ExportConfig:
    """Settings of the exports.

    ``depth_near_m``: the depth pass and the editor scripts store depth as normalised dioptres,
    ``value = clip(depth_near_m / depth_m, 0, 1)`` (1 = ``depth_near_m`` or nearer, 0 = infinity).
    Dioptres because a thin lens's blur grows linearly with ``|1/d - 1/focus|``, and the depth-map
    blurs of After Effects (Camera Lens Blur) and Fusion (Depth Blur) grow linearly with the map
    difference: keyed this way they blur like the lens. 0.25 m is nearer than the close focus of
    nearly every cine prime (a 50 mm focuses to about 0.45 m), so no plan's focus is clipped, and
    16 bits still resolve 100 m from infinity (164 levels).
    ``matte_threshold``: a subject matte is the person mask above this probability (the mask
    store's own threshold is the natural choice; 0.5 = more likely person than not).
    """

    depth_near_m: float = 0.25
    matte_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.depth_near_m > 0:
            raise ValueError(f"ExportConfig.depth_near_m: expected > 0, got {self.depth_near_m}")


def depth_to_unit(depth_m: np.ndarray | float, cfg: ExportConfig) -> np.ndarray:
    """Normalised dioptres in [0, 1] of distances in metres (see :class:`ExportConfig`)."""
    d = np.asarray(depth_m, np.float64)
    return np.clip(cfg.depth_near_m / np.maximum(d, 1e-6), 0.0, 1.0)


def unit_to_depth(unit: np.ndarray | float, cfg: ExportConfig) -> np.ndarray:
    """Inverse of :func:`depth_to_unit` (infinity for 0)."""
    u = np.asarray(unit, np.float64)
    with np.errstate(divide="ignore"):
        return np.where(u > 0, cfg.depth_near_m / u, np.inf)


def plan_rate(plan: FocusPlan) -> Fraction:
    """The clip's frame rate from the plan's ``video.frame_rate`` (else the median frame spacing)."""
    rate = plan.video.get("frame_rate")
    if rate:
        return parse_rate(rate)
    if plan.n_frames > 1:
        return parse_rate(1.0 / frame_interval_s(plan.times_s))
    raise UsageError("plan: no video.frame_rate and a single frame: the frame rate is unknown")


def source_range(plan: FocusPlan) -> tuple[str | None, float]:
    """(the source clip a plan's frames come from, seconds of the plan's t=0 in that clip).

    A plan made with ``--start/--end`` records its range in ``meta["range"]``; the editor then
    wants the original clip at that offset, not the trimmed intermediate.
    """
    rng = plan.meta.get("range") if isinstance(plan.meta, dict) else None
    if isinstance(rng, dict) and rng.get("source"):
        return str(rng["source"]), float(rng.get("offset_s", 0.0))
    return plan.video.get("path"), 0.0


def resolve_clip(plan: FocusPlan, plan_path: str | os.PathLike[str] | None, clip: str | None) -> Path:
    """The clip file of a plan: ``clip`` when given, else ``video.path`` (as named, or beside the plan)."""
    if clip is not None:
        return Path(clip)
    named = plan.video.get("path")
    if not named:
        raise UsageError("plan has no video.path: give the clip with --clip")
    p = Path(named)
    if not p.exists() and plan_path is not None and (Path(plan_path).parent / p.name).exists():
        p = Path(plan_path).parent / p.name
    if not p.exists():
        raise UsageError(f"{named}: the plan's clip is not there; give it with --clip")
    return p


def atomic_write(out: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temp path beside ``out``, then rename it into place
    (:func:`autofocuspull.core.atomic.atomic_path`: umask permissions, flushed to disk)."""
    with atomic_path(out) as tmp:
        write(tmp)
    return Path(out)


def atomic_write_text(out: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(out, lambda t: t.write_text(text, encoding="utf-8"))


def change_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame index runs of equal consecutive values."""
    v = np.asarray(values)
    if not len(v):
        return []
    edges = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(v)]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))
