"""A plain registry per swappable stage: the only way a stage implementation is found by name.

Like segment-anything's ``sam_model_registry``: a name maps to a builder or a callable, nothing
else happens at import time. A :class:`Registry` also loads third-party implementations that a
package declares under the registry's entry-point group (``autofocuspull.planners``,
``autofocuspull.depth``, ``autofocuspull.detectors``, ``autofocuspull.trackers``,
``autofocuspull.cut_detectors``, ``autofocuspull.renderers``) the first time
a name is looked up that is not built in::

    # a third party's pyproject.toml
    [project.entry-points."autofocuspull.planners"]
    my-planner = "my_package.planning:my_planner"

Each registered object may carry a few facts about itself (``info``), such as which section of
the run's configuration a planner takes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from autofocuspull.core.errors import UsageError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> implementation of one stage. ``stage`` names it in errors ("planner"); ``group`` is
    its entry-point group (None: built-ins only)."""

    def __init__(self, stage: str, group: str | None = None) -> None:
        self.stage = stage
        self.group = group
        self._items: dict[str, T] = {}
        self._info: dict[str, dict[str, Any]] = {}
        self._entry_points_loaded = group is None

    def register(self, name: str, obj: T | None = None, *, replace: bool = False, **info: Any) -> Any:
        """Register ``obj`` under ``name`` (or use as a decorator: ``@REG.register("x")``).

        A name already taken is refused unless ``replace``; ``info`` is kept beside it
        (:meth:`info`)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.stage} registry: expected a non-empty name, got {name!r}")

        def add(o: T) -> T:
            if not callable(o):
                raise TypeError(f"{self.stage} {name!r}: expected a callable, got {type(o).__name__}")
            if name in self._items and not replace and self._items[name] is not o:
                raise ValueError(f"{self.stage} {name!r} is already registered (pass replace=True)")
            self._items[name] = o
            self._info[name] = dict(info)
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and notebooks that register something temporarily)."""
        self._items.pop(name, None)
        self._info.pop(name, None)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            if ep.name in self._items:
                continue
            try:
                obj = ep.load()
            except Exception as e:  # a broken plug-in must not break the built-ins
                log.warning(
                    "!!! %s plug-in %r (%s) could not be loaded: %s", self.stage, ep.name, ep.value, e
                )
                continue
            info = getattr(obj, "autofocuspull_info", {})
            self.register(ep.name, obj, **(info if isinstance(info, dict) else {}))

    def get(self, name_or_obj: str | T) -> T:
        """The implementation registered as ``name_or_obj``, or ``name_or_obj`` itself when it is
        already an implementation (a Python object given directly). Unknown names are a usage
        error that lists the known ones."""
        if not isinstance(name_or_obj, str):
            if not callable(name_or_obj):
                raise TypeError(
                    f"{self.stage}: expected a name or a callable, got {type(name_or_obj).__name__}"
                )
            return name_or_obj
        if name_or_obj not in self._items:
            self._load_entry_points()
        try:
            return self._items[name_or_obj]
        except KeyError:
            raise UsageError(
                f"unknown {self.stage} {name_or_obj!r} (choose from {', '.join(self.names())})"
            ) from None

    def info(self, name_or_obj: str | T) -> dict[str, Any]:
        """What was registered beside an implementation (for an object given directly: its
        ``autofocuspull_info`` attribute, or nothing)."""
        if isinstance(name_or_obj, str):
            self.get(name_or_obj)
            return dict(self._info[name_or_obj])
        for name, obj in self._items.items():
            if obj is name_or_obj:
                return dict(self._info[name])
        info = getattr(name_or_obj, "autofocuspull_info", {})
        return dict(info) if isinstance(info, dict) else {}

    def name_of(self, name_or_obj: str | T) -> str:
        """The registered name, or the object's ``__name__`` for an unregistered one."""
        if isinstance(name_or_obj, str):
            return name_or_obj
        for name, obj in self._items.items():
            if obj is name_or_obj:
                return name
        return getattr(name_or_obj, "__name__", type(name_or_obj).__name__)

    def names(self) -> list[str]:
        """Every registered name, plug-ins included, sorted."""
        self._load_entry_points()
        return sorted(self._items)

    # read-only mapping behaviour, so ``"x" in REG``, ``REG["x"]`` and ``sorted(REG)`` work
    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._items:
            self._load_entry_points()
        return name in self._items

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.stage!r}, {self.names()})"
