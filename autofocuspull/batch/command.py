"""``autofocuspull batch`` and the ``--ray`` / ``--ray-address`` / ``--workers`` flags of the commands
that plan many clips (``eval --dataset``, ``experiment``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from autofocuspull.batch.executors import Executor, make_executor
from autofocuspull.batch.jobs import BatchConfig

log = logging.getLogger(__name__)


def executor_from_args(args: Any) -> Executor:
    """The executor asked for on the command line (a local process pool without Ray flags)."""
    defaults = BatchConfig()
    return make_executor(
        ray=bool(getattr(args, "ray", False)),
        ray_address=getattr(args, "ray_address", None),
        workers=getattr(args, "workers", None),
        max_retries=getattr(args, "max_retries", None) or defaults.max_retries,
        gpu_per_worker=getattr(args, "gpu_per_worker", None) or defaults.gpu_per_worker,
    )


def batch_config_from_args(args: Any) -> BatchConfig:
    d = BatchConfig()
    return BatchConfig(
        workers=getattr(args, "workers", None),
        segment_s=d.segment_s if getattr(args, "segment_s", None) is None else args.segment_s,
        max_retries=getattr(args, "max_retries", None) or d.max_retries,
        gpu_per_worker=getattr(args, "gpu_per_worker", None) or d.gpu_per_worker,
        output_suffix=getattr(args, "format", None) or d.output_suffix,
        verify_hashes=bool(getattr(args, "verify", False)),
        plan_only=bool(getattr(args, "plan_only", False)),
    )


def batch_command(args: Any, cfg: Any) -> int:
    """Rack a folder; print the summary (text, or JSON with ``--json``). Exit 1 when a clip failed."""
    from autofocuspull.batch.run import run_batch

    bcfg = batch_config_from_args(args)
    with executor_from_args(args) as executor:
        log.info("batch: %s", executor.describe())
        result = run_batch(args.input, args.output, cfg, bcfg, executor)
    print(json.dumps(result.summary()) if args.json else result.summary_text())
    return 1 if result.failed else 0
