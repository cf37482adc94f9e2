"""Progress reporting shared by the stages: tqdm bars on stderr, silent when not wanted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars show unless AUTOFOCUSPULL_PROGRESS=0 (tqdm itself hides them when stderr is not a tty)."""
    return os.environ.get("AUTOFOCUSPULL_PROGRESS", "1") != "0"


def bar(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "frame") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar named ``desc``."""
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
