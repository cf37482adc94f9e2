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
faults; :func:`trimmed` looks at the heap every ``TRIM_EVERY_FRAMES`` frames of a stream and hands its
free pages back to the OS (``malloc_trim``) when more lies free than both ``KEEP_FREE_BYTES`` and
what is in use. That bounds resident memory by twice the live data (or the live data plus
``KEEP_FREE_BYTES``) plus what one stretch of frames allocates, and a stage whose working set fits in
that (the depth network's activations, the render batches in flight) reuses its freed buffers
without a fault. Trimming on every check instead re-faulted
the depth network's and the renderer's whole working set every 64 frames: on a 10 s 640x360 clip 0.5 M
faults and 1.3 s of system time, 4 % of the run (``eval/bench_e2e.py``). Both are no-ops where the C
library is not glibc.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Iterator
from typing import TypeVar

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 30  # above a 4K float32 RGB frame (100 MB) and the 518 px attention maps
TRIM_EVERY_FRAMES = 64  # ~2.5 s of 25 fps video between checks; a check is one mallinfo2 call
# Free heap always kept for reuse: above the 700-900 MB that lie free between the depth network's
# passes on a 640x360 or 1080p clip (measured at the checks of eval/bench_e2e.py's runs); below it a
# trim only hands back pages that the next pass faults in again.
KEEP_FREE_BYTES = 1 << 30

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
    """Fixed, high mmap and trim thresholds and one arena for all threads (see the module doc);
    True where it took effect. Call it before any thread starts allocating."""
    libc = _libc()
    if libc is None:
        return False
    return (
        bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        and bool(libc.mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD_BYTES))
        and bool(libc.mallopt(M_ARENA_MAX, 1))
    )


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost",
    )]  # fmt: skip


def heap_usage() -> tuple[int, int] | None:
    """``(in use, free)`` bytes of the heap (glibc ``mallinfo2``: ``uordblks``, ``fordblks``; large
    mapped blocks not counted); None without glibc >= 2.33."""
    libc = _libc()
    fn = getattr(libc, "mallinfo2", None) if libc is not None else None
    if fn is None:
        return None
    fn.restype = _MallInfo2
    info = fn()
    return int(info.uordblks), int(info.fordblks)


def release_free_memory() -> None:
    """Return the heap's free pages to the OS (``malloc_trim(0)``); no-op without glibc."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def trimmed(
    items: Iterable[T], every: int = TRIM_EVERY_FRAMES, keep_free_bytes: int = KEEP_FREE_BYTES
) -> Iterator[T]:
    """``items`` unchanged; after every ``every`` of them, :func:`release_free_memory` when more of
    the heap lies free than both ``keep_free_bytes`` and what is in use (always, where that can't be
    read). Free memory up to the live data is what the next frames' buffers will take again (a
    1080p render batch in flight holds as much as it frees); more than that is what fragmentation
    left behind, and resident memory stays within twice the live data or ``keep_free_bytes``."""
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            usage = heap_usage()
            if usage is None or usage[1] > max(keep_free_bytes, usage[0]):
                release_free_memory()
