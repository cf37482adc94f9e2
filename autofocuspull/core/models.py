"""One way to build a model: it is there, or the run stops saying what to download, or a
documented fallback takes its place, loudly.

Every stage's model goes through :func:`build_model`. A fallback is logged as a ``!!!`` WARNING and
its one-line note is appended to ``notes``, which the pipeline puts in the plan file's
``meta["warnings"]``; without a fallback the :class:`ModelUnavailableError` (what to download and
where) propagates and the run stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

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
    key: Hashable | None = None,
) -> T | F | None:
    """``build()``; when it raises :class:`ModelUnavailableError`: ``fallback()`` (or None when
    only ``instead`` is given) with a loud, recorded note "``what`` unavailable, ``instead``: why".
    With neither ``fallback`` nor ``instead`` the error propagates (the run stops). ``reasons``
    receives the bare error message (what to download and where), for a fallback that shows it.

    ``key`` names the model and everything it is built from: while :func:`keep_models` is on (a
    batch worker), a model built before under the same key is returned again, and the notes and
    reasons of that build are recorded again, so every clip's plan still carries them."""
    if key is not None and _KEPT is not None and key in _KEPT:
        model, built_notes, built_reasons = _KEPT[key]
        notes.extend(built_notes)
        if reasons is not None:
            reasons.extend(built_reasons)
        return model
    new_notes: list[str] = []
    new_reasons: list[str] = []
    model = _build(what, build, new_notes, fallback, instead, new_reasons)
    notes.extend(new_notes)
    if reasons is not None:
        reasons.extend(new_reasons)
    if model is not None:
        _BUILDS[0] += 1
    if key is not None and _KEPT is not None:
        _KEPT[key] = (model, new_notes, new_reasons)
    return model


def _build(what, build, notes, fallback, instead, reasons):
    try:
        return build()
    except ModelUnavailableError as e:
        if fallback is None and instead is None:
            raise
        note = f"{what} unavailable, {instead or 'using the fallback'}: {e}"
        log.warning("!!! %s", note)
        notes.append(note)
        reasons.append(str(e))
        return fallback() if fallback is not None else None


# Models kept for the next clip of this process (None: off). Batch workers turn it on, so that each
# worker loads each model once; a single-clip command gains nothing and leaves it off.
_KEPT: dict[Hashable, tuple[Any, list[str], list[str]]] | None = None
_BUILDS = [0]


def keep_models(enabled: bool = True) -> None:
    """Reuse every model this process builds with a ``key`` for its later clips (on: batch
    workers), or stop and forget them."""
    global _KEPT
    _KEPT = {} if enabled else None


def models_built() -> int:
    """How many models this process has built (a batch worker reports it: one load per model)."""
    return _BUILDS[0]


def fallback_names(notes: list[str]) -> list[str]:
    """What fell back to what, from :func:`build_model`'s notes, without the error text (which
    varies with the network): part of a cache key, so that results made with a fallback are kept
    apart from the real model's and never served once the model is there."""
    return sorted(n.split(": ", 1)[0] for n in notes)
