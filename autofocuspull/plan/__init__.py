"""Planning: who is in focus when, and the pulls between them.

A planner is any callable ``fn(inputs: PlanInputs, config) -> FocusPlan`` (:class:`Planner`).
:data:`PLANNERS` is the only way one is found by name: ``"default"`` is the exact whole-clip planner
(:func:`plan_focus`), the baselines of :mod:`autofocuspull.plan.baselines` are registered beside
it, and third-party packages add theirs through the ``autofocuspull.planners`` entry-point group.
Each entry says which section of the run's configuration it takes (``config="planner"``: the
:class:`PlannerConfig`; None: it takes none) and whether it follows user keyframes
(``PlanInputs.keyframes``).
"""

from __future__ import annotations

from typing import Any, Protocol

from autofocuspull.core.registry import Registry
from autofocuspull.core.types import FocusPlan, PlanInputs
from autofocuspull.plan.baselines import BASELINE_PLANNERS, BaselineConfig
from autofocuspull.plan.keyframes import Keyframe, load_keyframes, parse_keyframes
from autofocuspull.plan.planfile import dumps_plan, load_plan, plan_from_dict, plan_to_dict, save_plan
from autofocuspull.plan.planner import PlannerConfig, default_planner, plan_focus
from autofocuspull.plan.rules import background_distance_m, background_distances_m


class Planner(Protocol):
    """Plans a whole clip: ``(inputs, config) -> FocusPlan`` with one entry per frame of
    ``inputs.video``. ``config`` is the configuration section the planner was registered with
    (``PLANNERS.register(name, fn, config="planner")``), or None."""

    def __call__(self, inputs: PlanInputs, config: Any, /) -> FocusPlan: ...


PLANNERS: Registry[Planner] = Registry("planner", "autofocuspull.planners")
PLANNERS.register("default", default_planner, config="planner", keyframes=True)
for _name, _fn in BASELINE_PLANNERS.items():
    PLANNERS.register(_name, _fn, config="baselines", keyframes=False)

__all__ = [
    "PLANNERS",
    "BaselineConfig",
    "Keyframe",
    "Planner",
    "PlannerConfig",
    "background_distance_m",
    "background_distances_m",
    "dumps_plan",
    "load_keyframes",
    "load_plan",
    "parse_keyframes",
    "plan_focus",
    "plan_from_dict",
    "plan_to_dict",
    "save_plan",
]
