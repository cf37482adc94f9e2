"""Progress reporting shared by the stages: tqdm bars on stderr, silent when not wanted."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars show unless AUTOFOCUSPULL_PROGRESS=0 (tqdm itself hides them when stderr is not a tty)."""
    return os.environ.get("AUTOFOCUSPULL_PROGRESS", "1") != "0"


ProgressSink = Callable[[str, int, "int | None"], None]
_SINK: list[ProgressSink] = []
SINK_INTERVAL_S = 0.5  # a worker reports a bar's position at most twice a second


def set_progress_sink(sink: ProgressSink | None) -> None:
    """Also send every bar's position, ``sink(desc, done, total)``, at most every 0.5 s and at the
    end (batch workers forward their bars to the driver this way); None stops it."""
    _SINK[:] = [] if sink is None else [_throttled(sink)]


def _throttled(sink: ProgressSink) -> ProgressSink:
    last: dict[str, float] = {}

    def send(desc: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done == total or now - last.get(desc, 0.0) >= SINK_INTERVAL_S:
            last[desc] = now
            sink(desc, done, total)

    return send


def _reported(iterable: Iterable[T], desc: str, total: int | None) -> Iterator[T]:
    done = 0
    for item in iterable:
        yield item
        done += 1
        if _SINK:
            _SINK[0](desc, done, total)
    if _SINK:
        _SINK[0](desc, done, done)


def bar(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "frame") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar named ``desc``."""
    if _SINK:
        iterable = _reported(iterable, desc, total)
    if not progress_enabled():
        yield from iterable
        return
    # disable=None: tqdm shows nothing when stderr is not a terminal (logs, CI, pipes)
    with tqdm(
        iterable, desc=desc, total=total, unit=unit, dynamic_ncols=True, leave=False, disable=None
    ) as it:
        yield from it


class Counter:
    """A progress bar advanced by calls: ``with Counter("render", n) as tick: ... tick(i)``."""

    def __init__(self, desc: str, total: int | None, unit: str = "frame") -> None:
        self._desc, self._total = desc, total
        self._bar = tqdm(
            desc=desc,
            total=total,
            unit=unit,
            dynamic_ncols=True,
            leave=False,
            disable=not progress_enabled() or None,
        )

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def __call__(self, done: int) -> None:
        """Set the bar to ``done`` items finished."""
        self._bar.update(done - self._bar.n)
        if _SINK:
            _SINK[0](self._desc, done, self._total)
