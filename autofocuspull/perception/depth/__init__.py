"""Monocular depth: estimators (registry + builders), temporal alignment, metric scale, keyframed
clip runs with an on-disk chunk store, and a heuristic fallback.

Typical use (pipeline)::

    est, reason = depth_estimator_or_none(args.depth_model, device=dev, dtype=dt, input_size=518)
    if est is not None:
        key = depth_cache_config(est.source, cfg, cuts)
        cache = StageCache.for_clip(video, "depth", key)  # a temp-dir StageCache if caching is off
        depth = clip_depth(iter_frames(video), est, cache, tracks=tracks, frame_size_hw=(H, W),
                           config=cfg, cuts=cuts, n_frames=info.n_frames)
    else:  # loud WARNING; put HEURISTIC_NOTE / depth.note in the plan file
        depth = heuristic_source(tracks, (H, W), (h, w), reason=reason)
    depth.depth_m_at(i)  # (h, w) float32 metres, any frame, memory bounded
    tracks.distance_m[:] = subject_distances_m(depth, tracks, (H, W))
"""

from autofocuspull.perception.depth.align import (
    AlignConfig,
    DepthAligner,
    align_depth_sequence,
    flicker_figure,
    minmax_normalise,
    robust_affine_fit,
    static_mask,
)
from autofocuspull.perception.depth.calibrate import (
    MetricDepthSource,
    calibrate_from_tracks,
    calibrate_store,
    prior_distances_from_tracks,
    subject_distances_m,
)
from autofocuspull.perception.depth.clip import clip_depth, depth_estimator_or_none, heuristic_source
from autofocuspull.perception.depth.estimator import (
    DEFAULT_DEPTH_MODEL,
    DEPTH_MODELS,
    DepthEstimator,
    DepthPreprocess,
    TransformersDepthEstimator,
    build_depth_estimator,
    build_transformers_depth,
    inference_size_hw,
    preferred_dtype,
)
from autofocuspull.perception.depth.heuristic import (
    HEURISTIC_NOTE,
    HeuristicDepth,
    HeuristicDepthSource,
    heuristic_depth_map,
)
from autofocuspull.perception.depth.metric import (
    DEFAULT_HFOV_DEG,
    DEFAULT_SCENE_DISTANCE_M,
    FACE_WIDTH_M,
    PERSON_HEIGHT_M,
    MetricFit,
    fit_from_distance,
    fit_metric_scale,
    focal_length_px,
    prior_distance_m,
)
from autofocuspull.perception.depth.run import (
    ChunkMemory,
    DepthRunConfig,
    DepthStore,
    depth_cache_config,
    run_depth,
)

__all__ = [
    "DEFAULT_DEPTH_MODEL",
    "DEFAULT_HFOV_DEG",
    "DEFAULT_SCENE_DISTANCE_M",
    "DEPTH_MODELS",
    "FACE_WIDTH_M",
    "HEURISTIC_NOTE",
    "PERSON_HEIGHT_M",
    "AlignConfig",
    "ChunkMemory",
    "DepthAligner",
    "DepthEstimator",
    "DepthPreprocess",
    "DepthRunConfig",
    "DepthStore",
    "HeuristicDepth",
    "HeuristicDepthSource",
    "MetricDepthSource",
    "MetricFit",
    "TransformersDepthEstimator",
    "align_depth_sequence",
    "build_depth_estimator",
    "build_transformers_depth",
    "calibrate_from_tracks",
    "calibrate_store",
    "clip_depth",
    "depth_cache_config",
    "depth_estimator_or_none",
    "fit_from_distance",
    "fit_metric_scale",
    "flicker_figure",
    "focal_length_px",
    "heuristic_depth_map",
    "heuristic_source",
    "inference_size_hw",
    "minmax_normalise",
    "preferred_dtype",
    "prior_distance_m",
    "prior_distances_from_tracks",
    "robust_affine_fit",
    "run_depth",
    "static_mask",
    "subject_distances_m",
]
