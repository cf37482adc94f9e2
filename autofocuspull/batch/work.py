"""The per-clip work, identical in every mode: plan a clip, render its segments, join them.

These functions run inside the workers (a process of the local pool or a Ray actor) and take and
return small records only: paths, configs, frame ranges, hashes. Workers read the clip themselves
and find its analysis in the shared cache, so no frame travels between processes. A stage that is
interrupted leaves nothing half-written: plans, segments and outputs are written to temp files and
renamed, and the analysis cache resumes by itself.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from autofocuspull import pipeline
from autofocuspull.batch.jobs import BatchConfig, ClipJob, Segment, file_record
from autofocuspull.core.models import models_built
from autofocuspull.core.timing import stage
from autofocuspull.core.types import VideoInfo

log = logging.getLogger(__name__)


def worker_tag(cpu0_s: float, cfg: pipeline.RackConfig | None = None) -> dict[str, Any]:
    """Where a stage ran (host, pid), the CPU seconds its process used since ``cpu0_s`` (all threads),
    how many models this worker process has built so far, the GPU share Ray gave it (0: none, or
    not Ray) and, for a stage that runs models (``cfg`` given), the device they ran on;
    ``gpu_unused`` when a GPU share was given but the models ran on the CPU (torch sees no CUDA)."""
    from autofocuspull.batch.executors import assigned_gpus

    tag: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cpu_s": round(time.process_time() - cpu0_s, 4),
        "models_built": models_built(),
        "gpu_share": assigned_gpus(),
    }
    if cfg is not None:
        tag["device"] = pipeline.resolve_device(cfg.run.device).type
        if tag["gpu_share"] > 0 and tag["device"] != "cuda":
            tag["gpu_unused"] = True
    return tag


def plan_segments(
    info: VideoInfo, cut_frames: list[int], config: BatchConfig, splittable: bool = True
) -> list[Segment]:
    """Frame ranges to render in parallel: :func:`~autofocuspull.io.segments.split_frames` of about
    ``segment_s`` (one for a clip shorter than twice that), or one range when the output codec
    can't be joined from segments (``splittable=False``); none for a plan-only run."""
    from autofocuspull.io.segments import split_frames

    if config.plan_only:
        return []
    bounds = split_frames(info.pts_s, cut_frames, config.segment_s if splittable else 0.0)
    return [Segment(i, len(bounds), a, b) for i, (a, b) in enumerate(bounds)]


def analysis_pieces(
    job: ClipJob, cfg: pipeline.RackConfig, config: BatchConfig
) -> tuple[list[Segment], list[int]]:
    """The pieces a clip is analysed in (:attr:`BatchConfig.analysis_piece_s`) and its cuts; no
    pieces for a clip short enough for one task (its cuts are then found by the analysis itself),
    nor without the analysis cache, where the pieces' analyses meet."""
    from autofocuspull.io import probe
    from autofocuspull.io.segments import split_frames

    piece_s = config.analysis_piece_s
    info = probe(job.input)
    if piece_s <= 0 or info.pts_s[-1] - info.pts_s[0] < 2 * piece_s:
        return [], []
    if not cfg.run.use_cache:
        log.warning("%s: analysed in one task: analysis in pieces needs the analysis cache", job.rel)
        return [], []
    cuts = pipeline.detect_clip_cuts(job.input, cfg)
    bounds = split_frames(info.pts_s, cuts, piece_s)
    if len(bounds) < 2:
        return [], cuts
    return [Segment(i, len(bounds), a, b) for i, (a, b) in enumerate(bounds)], cuts


def plan_stage(job: ClipJob, cfg: pipeline.RackConfig, config: BatchConfig) -> dict[str, Any]:
    """Analyse and plan one clip, write its plan JSON; returns what the render stage needs. A long
    clip is not analysed here: the pieces to analyse in parallel come back instead (``"pieces"``,
    with the clip's ``"cuts"``), then :func:`piece_stage` per piece and :func:`merge_stage` plan it."""
    from autofocuspull.io import check_output_path

    t0, cpu0 = time.perf_counter(), time.process_time()
    if not config.plan_only:
        check_output_path(job.output, job.input, cfg.encode)  # -y: a rerun may replace an output
    input_record = file_record(job.input)
    pieces, cuts = analysis_pieces(job, cfg, config)
    if pieces:
        return {"pieces": pieces, "cuts": cuts, "input": input_record,
                "seconds": time.perf_counter() - t0, "worker": worker_tag(cpu0, cfg)}  # fmt: skip
    plan, analysis = pipeline.plan_clip(job.input, cfg)
    return {**_planned(job, cfg, config, plan, analysis, t0, cpu0), "input": input_record}


def piece_stage(job: ClipJob, cfg: pipeline.RackConfig, piece: Segment) -> dict[str, Any]:
    """Analyse one piece of a long clip (:func:`autofocuspull.pipeline.analyse_piece`; kept in the cache)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    pipeline.analyse_piece(job.input, piece.start, piece.stop, cfg)
    seconds = time.perf_counter() - t0
    return {"frames": piece.stop - piece.start, "seconds": seconds, "worker": worker_tag(cpu0, cfg)}


def merge_stage(
    job: ClipJob, cfg: pipeline.RackConfig, config: BatchConfig, pieces: list[Segment], cuts: list[int]
) -> dict[str, Any]:
    """Join the pieces' analyses into the whole clip's and plan it once; as :func:`plan_stage` after."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    analysis = pipeline.analyse_in_pieces(job.input, [(p.start, p.stop) for p in pieces], cuts, cfg)
    with stage("planning"):
        plan = pipeline.plan_from_analysis(analysis, cfg)
    return _planned(job, cfg, config, plan, analysis, t0, cpu0)


def _planned(job: ClipJob, cfg, config: BatchConfig, plan, analysis, t0: float, cpu0: float) -> dict:
    """Save the plan; what the render stage and the manifest need from it."""
    from autofocuspull.io.segments import SEGMENT_FORMAT
    from autofocuspull.io.writer import codec_for
    from autofocuspull.plan import save_plan

    save_plan(plan, job.plan)
    return {
        "n_frames": analysis.info.n_frames,
        "duration_s": analysis.info.duration_s,
        "segments": plan_segments(
            analysis.info,
            analysis.cut_frames,
            config,
            codec_for(cfg.encode, analysis.info.colour) in SEGMENT_FORMAT,
        ),
        "pulls": len(plan.pulls),
        "depth_source": plan.depth_source,
        "warnings": list(plan.meta.get("warnings", [])),
        "seconds": time.perf_counter() - t0,
        "worker": worker_tag(cpu0, cfg),
    }


def segment_path(job: ClipJob, segment: Segment, key: str) -> Path:
    """Where ``segment`` of ``job`` is kept until joined: named by the run's config and plan, so a
    rerun with the same ones reuses it and any other run can't mistake it for its own."""
    from autofocuspull.io.segments import SEGMENT_SUFFIX

    name = f"{key[:16]}-{segment.index:04d}of{segment.count:04d}{SEGMENT_SUFFIX}"
    return Path(job.segments_dir) / name


def render_stage(
    job: ClipJob, cfg: pipeline.RackConfig, segment: Segment, key: str, pieces: list[Segment] | None = None
) -> dict[str, Any]:
    """Render ``segment`` of the clip following its plan file (the whole clip, with its audio, straight
    to the output when it is the only segment). ``key`` names this run's config and plan; ``pieces``
    the clip's analysis pieces, whose depth it reads (none: the clip was analysed in one)."""
    from autofocuspull.io import probe
    from autofocuspull.io.segments import encode_segment
    from autofocuspull.plan import load_plan
    from autofocuspull.progress import Counter

    t0, cpu0 = time.perf_counter(), time.process_time()
    frames = segment.stop - segment.start
    out = Path(job.output) if segment.count == 1 else segment_path(job, segment, key)
    if segment.count > 1 and out.exists():  # rendered by an earlier, interrupted run
        return {"frames": frames, "seconds": 0.0, "reused": True, "worker": worker_tag(cpu0, cfg)}
    plan = load_plan(job.plan)
    info = probe(job.input)
    pipeline.check_plan_fits(plan, info)
    depth = pipeline.render_depth(job.input, info, cfg, [(p.start, p.stop) for p in pieces or []])
    if segment.count == 1:
        pipeline.render_clip(job.input, plan, out, cfg, depth, info)
    else:
        process = pipeline.frame_processor(plan, cfg, depth, info)
        with Counter("render", frames) as tick:
            encode_segment(
                job.input, out, info, segment.start, segment.stop, process, config=cfg.encode, progress=tick
            )
    seconds = time.perf_counter() - t0
    return {"frames": frames, "seconds": seconds, "reused": False, "worker": worker_tag(cpu0, cfg)}


def finish_stage(
    job: ClipJob,
    cfg: pipeline.RackConfig,
    segments: list[Segment],
    key: str,
    pieces: list[Segment] | None = None,
) -> dict[str, Any]:
    """Join the rendered segments (lossless packet copy + the input's audio) and hash the outputs;
    drop the lossless clips the analysis ``pieces`` were read from (tens of times the input's size;
    their analysis stays in the cache, under their content's key, and a later run that needs them
    makes them again, bit for bit)."""
    import shutil

    from autofocuspull.io import probe
    from autofocuspull.io.segments import join_segments

    t0, cpu0 = time.perf_counter(), time.process_time()
    outputs = {"plan": file_record(job.plan)}
    if len(segments) > 1:
        rendered = [(segment_path(job, s, key), s.start) for s in segments]
        join_segments(job.input, rendered, job.output, probe(job.input), config=cfg.encode)
        shutil.rmtree(job.segments_dir, ignore_errors=True)
    if segments:
        outputs["video"] = file_record(job.output)
    if pieces:
        pipeline.drop_piece_clips(job.input, [(p.start, p.stop) for p in pieces], cfg)
    return {"outputs": outputs, "seconds": time.perf_counter() - t0, "worker": worker_tag(cpu0)}


def plan_only(video: str, cfg: pipeline.RackConfig) -> Any:
    """Plan one clip and return the :class:`FocusPlan` (``eval --dataset``, experiments)."""
    return pipeline.plan_clip(video, cfg)[0]
