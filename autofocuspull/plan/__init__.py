"""Planning: who is in focus when, and the pulls between them.

:data:`PLANNERS` maps a name to ``fn(inputs: PlanInputs, config | None) -> FocusPlan``;
``"default"`` is the exact whole-clip planner (:func:`plan_focus`); baselines from
:mod:`autofocuspull.plan.baselines` are merged in when that module is present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autofocuspull.core.types import FocusPlan, PlanInputs
from autofocuspull.plan.keyframes import Keyframe, load_keyframes, parse_keyframes
from autofocuspull.plan.planfile import dumps_plan, load_plan, plan_from_dict, plan_to_dict, save_plan
from autofocuspull.plan.planner import PlannerConfig, default_planner, plan_focus

PLANNERS: dict[str, Callable[[PlanInputs, Any], FocusPlan]] = {"default": default_planner}

try:
    from autofocuspull.plan.baselines import BASELINE_PLANNERS
except ImportError:  # the baselines module is optional
    BASELINE_PLANNERS = {}
PLANNERS.update(BASELINE_PLANNERS)

__all__ = [
    "PLANNERS",
    "Keyframe",
    "PlannerConfig",
    "dumps_plan",
    "load_keyframes",
    "load_plan",
    "parse_keyframes",
    "plan_focus",
    "plan_from_dict",
    "plan_to_dict",
    "save_plan",
]
