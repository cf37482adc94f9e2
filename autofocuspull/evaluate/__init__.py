"""Evaluation against hand-graded pulls: grades files, metrics, the dataset runner, timeline plots.

``plot_timeline`` is imported on first use (it needs matplotlib).
"""

from __future__ import annotations

from typing import Any

from autofocuspull.evaluate.dataset import (
    aggregate,
    confined_to,
    evaluate_dataset,
    find_graded_clips,
    format_comparison,
    format_metrics,
    format_table,
    score_plan_file,
)
from autofocuspull.evaluate.grades import GRADES_FORMAT, GradedPull, Grades, Hold, load_grades, parse_grades
from autofocuspull.evaluate.metrics import METRIC_NAMES, ScoreDetails, score_details, score_plan

__all__ = [
    "GRADES_FORMAT",
    "METRIC_NAMES",
    "GradedPull",
    "Grades",
    "Hold",
    "ScoreDetails",
    "aggregate",
    "confined_to",
    "evaluate_dataset",
    "find_graded_clips",
    "format_comparison",
    "format_metrics",
    "format_table",
    "load_grades",
    "parse_grades",
    "plot_timeline",
    "score_details",
    "score_plan",
    "score_plan_file",
]


def __getattr__(name: str) -> Any:
    if name == "plot_timeline":
        from autofocuspull.evaluate.plot import plot_timeline

        return plot_timeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
