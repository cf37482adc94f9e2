"""Notebooks hold no logic: their code cells run top to bottom against the package."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path) -> None:
    matplotlib.use("Agg")
    cells = json.loads(path.read_text())["cells"]
    code = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code"
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in c.splitlines()), (
        f"{path.name} defines functions or classes: logic belongs in the package"
    )
    scope: dict[str, object] = {}
    for src in code:
        exec(compile(src, str(path), "exec"), scope)
    CHECKS[path.name](scope)


def _explore_plan(scope: dict) -> None:
    assert scope["plan"].n_frames == scope["info"].n_frames
    assert scope["out"].shape == scope["frame"].rgb.shape
    assert scope["plan"].meta["run_config"]["lens"]["f_number"] == 1.4


def _compare_planners(scope: dict) -> None:
    results = scope["results"]
    assert list(results) == scope["planners"] and len(results) >= 2
    for r in results.values():
        assert r["mean"]["clips"] >= 1 and 0.0 <= r["mean"]["target_accuracy"] <= 1.0


CHECKS = {"explore_plan.ipynb": _explore_plan, "compare_planners.ipynb": _compare_planners}


def test_every_notebook_is_checked() -> None:
    assert {p.name for p in NOTEBOOKS} == set(CHECKS) and len(NOTEBOOKS) >= 2
