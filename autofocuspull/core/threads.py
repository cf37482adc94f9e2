"""One thread count for every compute library of a run (torch, OpenCV, onnxruntime).

Each library otherwise sizes its own pool to the machine (and onnxruntime spins its workers while
waiting), so on a 2-core machine torch's 2 threads, OpenCV's 2 and onnxruntime's 2 spinning ones
compete for the same cores. :func:`set_threads` is called once by the pipeline (``run.threads``,
default: the cores this process may run on); sessions built afterwards read :func:`onnx_threads`.
Spinning is turned off: a worker that busy-waits takes a core from the stage that has work, which on
a shared or oversubscribed machine costs more than the few microseconds spinning saves.
"""

from __future__ import annotations

import os
from typing import Any

_THREADS: int | None = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`available_cores`) in torch, OpenCV and later ONNX sessions."""
    import cv2
    import torch

    global _THREADS
    n = available_cores() if n is None else int(n)
    if n < 1:
        raise ValueError(f"threads: expected >= 1, got {n}")
    _THREADS = n
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    return n


def onnx_threads() -> int | None:
    """The run's thread count for onnxruntime sessions (None: not set, the library decides)."""
    return _THREADS


def onnx_session_options(intra_op_threads: int | None = None) -> Any:
    """``ort.SessionOptions`` with ``intra_op_threads`` (default :func:`onnx_threads`), no spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    n = intra_op_threads if intra_op_threads is not None else _THREADS
    if n is not None:
        opts.intra_op_num_threads = int(n)
        opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
