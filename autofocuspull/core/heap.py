"""The C heap for a streaming video process: no page fault per buffer, resident memory bounded.

Two glibc behaviours pull in opposite directions here:

* Every ``malloc`` above ``M_MMAP_THRESHOLD`` gets its own fresh mapping, and every page of it is
  a minor page fault on first touch (zeroed by the kernel) and unmapped again on ``free``. Torch
  allocates each intermediate tensor anew, so with a low threshold (the 256 KiB the CLI used to
  set) the depth network alone took ~300k faults per 518 px pass and a 10 s clip spent 109 of its
  398 CPU seconds in the kernel.
* With the default *dynamic* threshold, large freed frames go back to the heap, where small
  long-lived objects (face crops, per-frame records) can pin them, and resident memory grew with the
  clip's length (``eval/bench_memory.py``).

:func:`configure_heap` keeps large buffers in the heap (a fixed threshold of ``MMAP_THRESHOLD_BYTES``,
far above any frame or activation, and no automatic trimming), so freed buffers are reused without
faults; :func:`trimmed` hands the heap's free pages back to the OS (``malloc_trim``) every
``TRIM_EVERY_FRAMES`` frames of a stream, which bounds resident memory by what one stretch of frames
needs at a cost of one re-fault per page per stretch instead of one per allocation. Both are no-ops
where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Iterator
from typing import TypeVar

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 30  # above a 4K float32 RGB frame (100 MB) and the 518 px attention maps
TRIM_EVERY_FRAMES = 64  # ~2.5 s of 25 fps video between trims; a trim costs ~1 ms plus the re-faults

T = TypeVar("T")


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 (probe: glibc only)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def configure_heap() -> bool:
    """Fixed, high mmap and trim thresholds (see the module doc); True where it took effect."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )


def release_free_memory() -> None:
    """Return the heap's free pages to the OS (``malloc_trim(0)``); no-op without glibc."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def trimmed(items: Iterable[T], every: int = TRIM_EVERY_FRAMES) -> Iterator[T]:
    """``items`` unchanged, with :func:`release_free_memory` after every ``every`` of them."""
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            release_free_memory()
