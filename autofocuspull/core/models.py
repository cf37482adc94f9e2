"""One way to build a model: it is there, or the run stops saying what to download, or a
documented fallback takes its place, loudly.

Every stage's model goes through :func:`build_model`. A fallback is logged as a ``!!!`` WARNING and
its one-line note is appended to ``notes``, which the pipeline puts in the plan file's
``meta["warnings"]``; without a fallback the :class:`ModelUnavailableError` (what to download and
where) propagates and the run stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from autofocuspull.core.errors import ModelUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F")


def build_model(
    what: str,
    build: Callable[[], T],
    notes: list[str],
    *,
    fallback: Callable[[], F] | None = None,
    instead: str | None = None,
    reasons: list[str] | None = None,
) -> T | F | None:
    """``build()``; when it raises :class:`ModelUnavailableError`: ``fallback()`` (or None when
    only ``instead`` is given) with a loud, recorded note "``what`` unavailable, ``instead``: why".
    With neither ``fallback`` nor ``instead`` the error propagates (the run stops). ``reasons``
    receives the bare error message (what to download and where), for a fallback that shows it."""
    try:
        return build()
    except ModelUnavailableError as e:
        if fallback is None and instead is None:
            raise
        note = f"{what} unavailable, {instead or 'using the fallback'}: {e}"
        log.warning("!!! %s", note)
        notes.append(note)
        if reasons is not None:
            reasons.append(str(e))
        return fallback() if fallback is not None else None
