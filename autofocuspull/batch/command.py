"""``autofocuspull batch`` and the ``--ray`` / ``--ray-address`` / ``--workers`` flags of the commands
that plan many clips (``eval --dataset``, ``experiment``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from autofocuspull.batch.executors import Executor, make_executor
from autofocuspull.batch.jobs import BatchConfig

log = logging.getLogger(__name__)


def executor_for(config: BatchConfig) -> Executor:
    """The executor ``config`` asks for: Ray (local or the cluster at ``ray_address``), else a local
    process pool."""
    return make_executor(
        ray=config.ray,
        ray_address=config.ray_address,
        workers=config.workers,
        max_retries=config.max_retries,
        gpu_per_worker=config.gpu_per_worker,
    )


def batch_command(args: Any, cfg: Any) -> int:
    """Rack a folder; print the summary (text, or JSON with ``--json``). Exit 1 when a clip failed."""
    from autofocuspull.batch.run import run_batch

    with executor_for(cfg.batch) as executor:
        log.info("batch: %s", executor.describe())
        result = run_batch(args.input, args.output, cfg, cfg.batch, executor)
    print(json.dumps(result.summary()) if args.json else result.summary_text())
    return 1 if result.failed else 0
