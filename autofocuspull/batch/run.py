"""The batch driver: find the clips, skip the finished ones, run the stages, record, summarise.

Per clip: ``plan`` (analysis + plan JSON) -> ``render`` of each segment (in parallel) -> ``finish``
(join, hash) -> a manifest entry. A long clip's ``plan`` returns the pieces to analyse instead:
``piece`` for each (in parallel) -> ``merge`` (join the analyses, plan the whole clip) -> ``render``
and ``finish`` as above. The driver only submits tasks and bookkeeps; it never decodes a frame. A
failing clip is recorded with its error and the batch goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autofocuspull.batch import work
from autofocuspull.batch.executors import Executor
from autofocuspull.batch.jobs import (
    SEGMENTS_DIR,
    BatchConfig,
    ClipJob,
    Manifest,
    Skipped,
    config_digest,
    effective_config,
    find_clips,
)
from autofocuspull.core.cache import atomic_write_bytes
from autofocuspull.core.errors import UsageError

log = logging.getLogger(__name__)

SUMMARY_NAME = "autofocuspull-batch-summary.json"


@dataclass(frozen=True)
class Stages:
    """The per-clip functions the workers run (module-level, so that they pickle by reference)."""

    plan: Callable[..., dict[str, Any]] = work.plan_stage
    piece: Callable[..., dict[str, Any]] = work.piece_stage
    merge: Callable[..., dict[str, Any]] = work.merge_stage
    render: Callable[..., dict[str, Any]] = work.render_stage
    finish: Callable[..., dict[str, Any]] = work.finish_stage


@dataclass
class BatchResult:
    """What a batch did: per-clip entries (as in the manifest) and the run's totals."""

    clips: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_complete: list[str] = field(default_factory=list)
    not_media: list[Skipped] = field(default_factory=list)
    wall_s: float = 0.0
    executor: str = ""

    @property
    def done(self) -> list[str]:
        return [k for k, v in self.clips.items() if v["status"] == "done"]

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.clips.items() if v["status"] == "failed"]

    @property
    def frames(self) -> int:
        return sum(int(self.clips[k].get("frames", 0)) for k in self.done)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "executor": self.executor,
            "done": len(self.done),
            "failed": {k: self.clips[k].get("error") for k in self.failed},
            "skipped_complete": len(self.skipped_complete),
            "not_media": {s.path: s.reason for s in self.not_media},
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "frames_per_s": round(self.frames_per_s, 3),
            "workers": sorted(
                {f"{w['host']}:{w['pid']}" for v in self.clips.values() for w in v.get("workers", [])}
            ),
        }

    def summary_text(self) -> str:
        s = self.summary()
        lines = [
            f"batch ({s['executor']}): {s['done']} done, {len(s['failed'])} failed, "
            f"{s['skipped_complete']} already complete, {len(s['not_media'])} not media; "
            f"{s['frames']} frames in {s['wall_s']:.1f} s = {s['frames_per_s']:.2f} frames/s",
        ]
        lines += [f"  FAILED {k}: {err}" for k, err in s["failed"].items()]
        lines += [f"  skipped {k}: {why}" for k, why in s["not_media"].items()]
        return "\n".join(lines)


class _Progress:
    """Bars over clips and frames (analysed, rendered), fed by the workers' reports."""

    def __init__(self, n_clips: int, frames: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        kw = {"dynamic_ncols": True, "disable": not enabled or None}
        self.clips = tqdm(total=n_clips, desc="clips", unit="clip", position=0, **kw)
        self.analysed = tqdm(total=frames, desc="analysed", unit="frame", position=1, **kw)
        self.rendered = tqdm(total=frames, desc="rendered", unit="frame", position=2, **kw)
        self._last: dict[tuple[Any, str], int] = {}

    def update(self, reports: list[tuple[tuple[Any, str], int, int | None]]) -> None:
        for key, done, _total in reports:
            prev = self._last.get(key, 0)
            delta = done - prev if done >= prev else done  # a smaller count: the worker's next clip
            self._last[key] = done
            bar = {"detect+track": self.analysed, "render": self.rendered}.get(key[1])
            if bar is not None and delta > 0:
                bar.update(delta)

    def close(self) -> None:
        for b in (self.clips, self.analysed, self.rendered):
            b.close()


def _segment_key(config_sha: str, plan_sha: str) -> str:
    return hashlib.sha256(f"{config_sha}:{plan_sha}".encode()).hexdigest()


_GPU_UNUSED: set[tuple[str, int]] = set()  # workers already reported as given a GPU they can't use


class _Clip:
    """Driver-side state of one clip in flight."""

    def __init__(self, job: ClipJob) -> None:
        self.job = job
        self.entry: dict[str, Any] = {"input_path": job.input, "workers": [], "stage_seconds": {}}
        self.segments: list[Any] = []
        self.pieces: list[Any] = []  # analysis pieces of a long clip (none: analysed in one task)
        self.cuts: list[int] = []
        self.left = 0
        self.key = ""

    def add(self, stage: str, value: dict[str, Any]) -> None:
        worker = value["worker"]
        if worker.get("gpu_unused") and (worker["host"], worker["pid"]) not in _GPU_UNUSED:
            _GPU_UNUSED.add((worker["host"], worker["pid"]))
            log.warning(
                "!!! worker %s:%s was given %g GPU but runs on the CPU: torch sees no CUDA device there",
                worker["host"], worker["pid"], worker["gpu_share"],
            )  # fmt: skip
        self.entry["workers"].append({**worker, "stage": stage})
        secs, cpu = self.entry["stage_seconds"], self.entry.setdefault("stage_cpu_s", {})
        secs[stage] = round(secs.get(stage, 0.0) + float(value.get("seconds", 0.0)), 3)
        cpu[stage] = round(cpu.get(stage, 0.0) + float(value["worker"].get("cpu_s", 0.0)), 3)


def run_batch(
    folder: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    cfg: Any,
    config: BatchConfig,
    executor: Executor,
    *,
    stages: Stages | None = None,
    show_progress: bool | None = None,
) -> BatchResult:
    """Rack every clip under ``folder`` into ``outdir`` with ``executor``; see the module docstring.

    ``cfg`` is the :class:`~autofocuspull.config.RackConfig` of every clip (its analysis cache
    defaults to ``outdir/.cache``, which a cluster's workers must see at the same path, as they
    must the input folder and ``outdir``).
    """
    from autofocuspull.progress import progress_enabled

    stages = stages or Stages()
    src, out = Path(folder), Path(outdir)
    if not src.is_dir():
        raise UsageError(f"{src}: not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if cfg.run.cache_dir is None:
        cfg = dataclasses.replace(
            cfg, run=dataclasses.replace(cfg.run, cache_dir=str(out.resolve() / ".cache"))
        )
    t0 = time.perf_counter()
    jobs, not_media = find_clips(src, out, config)
    result = BatchResult(not_media=not_media, executor=executor.describe())
    for s in not_media:
        log.info("batch: skipping %s: %s", s.path, s.reason)
    manifest = Manifest(out)
    effective = effective_config(cfg, config)
    config_sha = config_digest(effective)
    todo = []
    for job in jobs:
        if manifest.complete(job, config_sha, verify=config.verify_hashes):
            result.skipped_complete.append(job.rel)
        else:
            todo.append(job)
    if result.skipped_complete:
        log.info("batch: %d clip(s) already complete, skipped", len(result.skipped_complete))
    enabled = progress_enabled() if show_progress is None else show_progress
    bars = _Progress(len(todo), sum(j.est_frames for j in todo), enabled)
    clips = {job.rel: _Clip(job) for job in todo}
    for job in todo:
        executor.submit(stages.plan, (job, cfg, config), ("plan", job.rel, None))
    try:
        while executor.busy():
            for done in executor.poll(0.5):
                _handle(
                    done, clips, executor, stages, cfg, config, config_sha, effective, manifest, result, bars
                )
            bars.update(executor.progress())
    finally:
        executor.release()  # idle workers would hold CPUs and GPUs that other jobs of a cluster need
        bars.close()
        with contextlib.suppress(OSError):  # the segments of finished clips are gone: drop the folder
            (out / SEGMENTS_DIR).rmdir()
        result.wall_s = time.perf_counter() - t0
        _write_summary(out, result)
    return result


def _handle(
    done, clips, executor, stages, cfg, config, config_sha, effective, manifest, result, bars
) -> None:
    stage, rel, seg = done.tag
    clip = clips.get(rel)
    if clip is None:  # the clip already failed in another task
        return
    if done.error is not None:
        _fail(clip, stage, done, manifest, result, bars, config_sha)
        clips.pop(rel)
        return
    value = done.value
    clip.add(stage, value)
    attempts = clip.entry.setdefault("attempts", {})
    if stage == "plan" and "pieces" in value:  # a long clip: analysed in pieces, then merged
        clip.entry["input"] = value["input"]
        clip.pieces, clip.cuts, clip.left = value["pieces"], value["cuts"], len(value["pieces"])
        clip.entry["analysis_pieces"] = [[p.start, p.stop] for p in clip.pieces]
        attempts["plan"] = done.attempts
        for p in clip.pieces:
            executor.submit(stages.piece, (clip.job, cfg, p), ("piece", rel, p.index))
    elif stage == "piece":
        attempts[f"piece{seg}"] = done.attempts
        clip.left -= 1
        if clip.left == 0:
            args = (clip.job, cfg, config, clip.pieces, clip.cuts)
            executor.submit(stages.merge, args, ("merge", rel, None), light=True)
    elif stage in ("plan", "merge"):
        from autofocuspull.batch.jobs import sha256_file

        clip.entry.update(
            frames=value["n_frames"], duration_s=value["duration_s"], pulls=value["pulls"],
            depth_source=value["depth_source"], warnings=value["warnings"],
        )  # fmt: skip
        clip.entry.setdefault("input", value.get("input"))
        attempts[stage] = done.attempts
        clip.segments = value["segments"]
        clip.key = _segment_key(config_sha, sha256_file(clip.job.plan))
        clip.left = len(clip.segments)
        clip.entry["segments"] = [[s.start, s.stop] for s in clip.segments]
        if not clip.segments:  # plan only
            args = (clip.job, cfg, [], clip.key, clip.pieces)
            executor.submit(stages.finish, args, ("finish", rel, None), light=True)
        for s in clip.segments:
            args = (clip.job, cfg, s, clip.key, clip.pieces)
            executor.submit(stages.render, args, ("render", rel, s.index))
    elif stage == "render":
        attempts[f"render{seg}"] = done.attempts
        clip.left -= 1
        if clip.left == 0:
            args = (clip.job, cfg, clip.segments, clip.key, clip.pieces)
            executor.submit(stages.finish, args, ("finish", rel, None), light=True)
    else:
        clip.entry.update(status="done", outputs=value["outputs"], config=effective, config_sha256=config_sha)
        clip.entry.pop("error", None)
        manifest.record(rel, clip.entry)
        result.clips[rel] = clip.entry
        clips.pop(rel)
        bars.clips.update(1)


def _fail(
    clip: _Clip, stage: str, done, manifest: Manifest, result: BatchResult, bars, config_sha: str
) -> None:
    log.error(
        "batch: %s failed in %s after %d attempt(s): %s", clip.job.rel, stage, done.attempts, done.error
    )
    clip.entry.update(status="failed", stage=stage, error=done.error, attempts={stage: done.attempts},
                      config_sha256=config_sha)  # fmt: skip
    manifest.record(clip.job.rel, clip.entry)
    result.clips[clip.job.rel] = clip.entry
    bars.clips.update(1)


def _write_summary(out: Path, result: BatchResult) -> None:
    atomic_write_bytes(out / SUMMARY_NAME, (json.dumps(result.summary(), indent=1) + "\n").encode())
