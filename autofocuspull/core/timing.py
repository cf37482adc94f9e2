"""Per-stage wall time, CPU time and minor page faults of a run, exclusive of nested stages.

The pipeline marks its stages with :func:`stage` (a context manager) and wraps frame iterators
with :func:`timed_iter` (time spent inside ``next()`` counts as that stage, e.g. "decode"). Both
cost a dictionary lookup when no :class:`StageTimes` is active, so they stay in the product code;
``eval/bench_e2e.py`` activates one with :func:`recording` and prints its table.

Times are *exclusive*: while a nested stage runs (decode inside detection, render inside encode)
the outer one is paused, so the stages add up to the run's total. CPU time and minor faults come
from ``resource.getrusage(RUSAGE_SELF)``: they are the process's, so a stage's figure also holds
what background threads (the decoder's, torch's) did while it was the innermost stage.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_ACTIVE: list[StageTimes] = []


def _sample() -> tuple[float, float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt


@dataclass
class StageTotals:
    """Accumulated figures of one stage: wall/user/system seconds, minor page faults, entries."""

    wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    minor_faults: int = 0
    calls: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_s": self.wall_s,
            "user_s": self.user_s,
            "sys_s": self.sys_s,
            "minor_faults": self.minor_faults,
            "calls": self.calls,
        }


@dataclass
class StageTimes:
    """Exclusive per-stage totals; the innermost open stage is charged for the time in between."""

    totals: dict[str, StageTotals] = field(default_factory=dict)
    _stack: list[str] = field(default_factory=list)
    _last: tuple[float, float, float, int] | None = None

    def _charge(self) -> None:
        now = _sample()
        if self._stack and self._last is not None:
            t = self.totals.setdefault(self._stack[-1], StageTotals())
            t.wall_s += now[0] - self._last[0]
            t.user_s += now[1] - self._last[1]
            t.sys_s += now[2] - self._last[2]
            t.minor_faults += now[3] - self._last[3]
        self._last = now

    def push(self, name: str) -> None:
        self._charge()
        self._stack.append(name)
        self.totals.setdefault(name, StageTotals()).calls += 1

    def pop(self) -> None:
        self._charge()
        self._stack.pop()

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {k: v.as_dict() for k, v in self.totals.items()}


@contextmanager
def recording() -> Iterator[StageTimes]:
    """Record stages marked inside the block; yields the :class:`StageTimes` being filled."""
    times = StageTimes()
    _ACTIVE.append(times)
    times.push("other")  # whatever no stage claims (probing, model loading outside a stage...)
    try:
        yield times
    finally:
        times.pop()
        _ACTIVE.remove(times)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Charge the block's time to stage ``name`` (nested stages pause it)."""
    if not _ACTIVE:
        yield
        return
    times = _ACTIVE[-1]
    times.push(name)
    try:
        yield
    finally:
        times.pop()


def timed_iter(name: str, items: Iterable[object]) -> Iterator[object]:
    """``items`` with the time spent producing each item charged to stage ``name``."""
    if not _ACTIVE:
        yield from items
        return
    times = _ACTIVE[-1]
    it = iter(items)
    while True:
        times.push(name)
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            times.pop()
        yield item


class _TimedModel:
    """A model whose calls (``model(x)`` and its methods) are charged to one stage."""

    def __init__(self, model: object, name: str) -> None:
        self._model, self._name = model, name

    def __call__(self, *args: object, **kwargs: object) -> object:
        with stage(self._name):
            return self._model(*args, **kwargs)  # type: ignore[operator]

    def __getattr__(self, attr: str) -> object:
        value = getattr(self._model, attr)
        if not callable(value):
            return value

        def timed(*args: object, **kwargs: object) -> object:
            with stage(self._name):
                return value(*args, **kwargs)

        return timed


def timed_model(model: object, name: str) -> object:
    """``model`` (or None) with its calls charged to stage ``name`` while recording; unchanged else."""
    if model is None or not _ACTIVE:
        return model
    return _TimedModel(model, name)
