"""One call for the pipeline: depth of a whole clip, calibrated to metres, or the heuristic fallback."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from autofocuspull.core.cache import StageCache
from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.types import Frame, SubjectTracks
from autofocuspull.perception.depth.calibrate import MetricDepthSource, calibrate_store
from autofocuspull.perception.depth.estimator import DepthEstimator, build_depth_estimator
from autofocuspull.perception.depth.heuristic import HeuristicDepthSource, MaskFn
from autofocuspull.perception.depth.run import (
    ChunkMemory,
    DepthRunConfig,
    DepthStore,
    Progress,
    RegionsFn,
    finished_run,
    run_depth,
)

log = logging.getLogger(__name__)


def clip_depth(
    frames: Iterable[Frame],
    estimator: DepthEstimator,
    cache: StageCache,
    *,
    tracks: SubjectTracks | None,
    frame_size_hw: tuple[int, int],
    config: DepthRunConfig | None = None,
    focal_px: float | None = None,
    user_distance_m: float | None = None,
    progress: Progress | None = None,
    n_frames: int | None = None,
    cuts: Sequence[int] = (),
    regions: RegionsFn | None = None,
) -> DepthStore:
    """Run (or reuse) :func:`run_depth` into ``cache`` and return a metric-calibrated store.

    ``cache`` must be directory backed (the store reads its chunks); use a temporary folder's
    :class:`StageCache` when the user turned caching off. ``cuts``: frame indices starting a
    shot (each shot is aligned and calibrated on its own); ``regions``: subjects' boxes per frame,
    whose motion forces depth keyframes (see :func:`run_depth`).
    """
    if not cache.enabled:
        raise ValueError("clip_depth: expected a directory-backed StageCache (enabled, with a root)")
    config = config if config is not None else DepthRunConfig()
    memory = ChunkMemory()  # the chunks just computed serve the later stages without a re-read
    if finished_run(cache) is None:  # a finished run is read by the store as it is needed, not replayed
        for _ in run_depth(
            frames,
            estimator,
            config=config,
            cache=cache,
            progress=progress,
            n_frames=n_frames,
            cuts=cuts,
            regions=regions,
            on_chunk=memory.keep,
        ):
            pass
    store = DepthStore(cache, memory=memory)
    fits = calibrate_store(store, tracks, frame_size_hw, focal_px=focal_px, user_distance_m=user_distance_m)
    for seg, fit in enumerate(fits):
        start, stop = store.segment_range(seg)
        log.info(
            "depth metric fit, frames %d-%d: %s (a=%.4g, b=%.4g, %d samples)",
            start, stop - 1, fit.how, fit.a, fit.b, fit.n_samples,
        )  # fmt: skip
    return store


def depth_estimator_or_none(name_or_path: str, **kwargs: object) -> tuple[DepthEstimator | None, str]:
    """``(estimator, "")`` or, when the model cannot be loaded, ``(None, reason)`` with the error logged.

    The reason (what to download, ``--depth-model PATH``) goes to :class:`HeuristicDepthSource`
    and into the plan file.
    """
    try:
        return build_depth_estimator(name_or_path, **kwargs), ""  # type: ignore[arg-type]
    except ModelUnavailableError as e:
        log.error("%s", e)
        return None, str(e)


def heuristic_source(
    tracks: SubjectTracks,
    frame_size_hw: tuple[int, int],
    shape_hw: tuple[int, int],
    *,
    reason: str,
    focal_px: float | None = None,
    mask_fn: MaskFn | None = None,
) -> MetricDepthSource:
    """The documented fallback (:class:`HeuristicDepthSource`); logs its loud WARNING right away."""
    src = HeuristicDepthSource(
        tracks, frame_size_hw, shape_hw, focal_px=focal_px, mask_fn=mask_fn, reason=reason
    )
    src.heuristic.warn_once()
    return src
