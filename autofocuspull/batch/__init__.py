"""Batch racking and dataset planning over many clips: a local process pool, or Ray (local or cluster).

- :func:`run_batch`: rack every clip of a folder (recursively) into an output folder, resumable
  through a manifest (input sha256, effective config, output sha256).
- :func:`make_executor`: ``LocalPool`` (default), ``RayExecutor`` (``--ray``, ``--ray-address``).
- :func:`plan_many`: plan a list of clips in parallel (``eval --dataset``, experiments).

Ray is optional (``pip install 'autofocuspull[ray]'``); it is imported only when asked for.
"""

from autofocuspull.batch.executors import Done, Executor, LocalPool, RayExecutor, make_executor
from autofocuspull.batch.jobs import BatchConfig, ClipJob, Manifest, Segment, find_clips

_LAZY = {"BatchResult": "run", "Stages": "run", "run_batch": "run", "plan_segments": "work"}


def __getattr__(name: str):
    """The batch runner's names, imported on first use: they import the pipeline, which imports the
    configuration tree, which holds :class:`BatchConfig` (an eager import would be circular)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"autofocuspull.batch.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'autofocuspull.batch' has no attribute {name!r}")


def plan_many(videos, cfg, executor: Executor) -> dict:
    """``{video: FocusPlan or error text}`` for every clip, planned in parallel by ``executor``.

    The hook ``eval --dataset`` and ``experiment`` use: plan everything first, then score.
    """
    from autofocuspull.batch.work import plan_only

    videos = [str(v) for v in videos]
    done = executor.map(plan_only, [(v, cfg) for v in videos])
    return {v: (done[i].value if done[i].error is None else done[i].error) for i, v in enumerate(videos)}


__all__ = [
    "BatchConfig",
    "BatchResult",
    "ClipJob",
    "Done",
    "Executor",
    "LocalPool",
    "Manifest",
    "RayExecutor",
    "Segment",
    "Stages",
    "find_clips",
    "make_executor",
    "plan_many",
    "plan_segments",
    "run_batch",
]
