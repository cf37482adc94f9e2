"""Parameter fitting on synthetic graded clips with a known best value, and the fitted TOML."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from test_plan import make_inputs, speaking  # tests/ is on sys.path (pytest rootdir mode)

from autofocuspull.evaluate.fit import (
    SEARCH_SPACE,
    FitClip,
    FitConfig,
    Param,
    Scorer,
    clip_objective,
    configs_from_values,
    coordinate_descent,
    default_values,
    fitted_toml,
    leave_one_out,
)
from autofocuspull.evaluate.grades import parse_grades
from autofocuspull.evaluate.snapshot import ClipSnapshot
from autofocuspull.plan.planner import PlannerConfig


def graded_clip(stem: str, onset_s: float) -> FitClip:
    """Person A (left) speaks until ``onset_s + 0.6``, B (right) from then on; the grades put the
    rack at ``onset_s``: 0.6 s before B's first word (a long lead is right on these clips)."""
    change = onset_s + 0.6
    inputs = make_inputs(speaking((0, 0.0, change), (1, change, 10.0)))
    snap = ClipSnapshot(inputs.video, inputs.tracks, inputs.cues, [], 10.0, "test", None)
    grades = parse_grades({
        "format": "autofocuspull.grades/1",
        "video": f"{stem}.mp4",
        "notes": "synthetic",
        "cuts_s": [],
        "subjects": {
            "a": {"boxes": [[0.0, 0.05, 0.1, 0.45, 0.9]]},
            "b": {"boxes": [[0.0, 0.55, 0.1, 0.95, 0.9]]},
        },
        "holds": [
            {"start_s": 0.0, "end_s": onset_s, "subject": "a"},
            {"start_s": onset_s, "end_s": 10.0, "subject": "b"},
        ],
    })  # fmt: skip
    return FitClip(stem, grades, snap)


SPACE = (Param("planner.lead_s", (0.0, 0.3, 0.6)), Param("planner.switch_cost", (0.25, 0.5)))


def test_objective_terms_by_hand():
    m = {"target_accuracy": 0.8, "pull_f1": 0.5, "onset_mae_s": 0.1, "pulls_per_min": 5.0,
         "graded_pulls_per_min": 2.0}  # fmt: skip
    # onset 1 - 0.1/0.5 = 0.8; rate r = 6/3 = 2 -> 1.5/2 = 0.75
    assert clip_objective(m) == pytest.approx(np.mean([0.8, 0.5, 0.8, 0.75]))
    none = {"target_accuracy": None, "pull_f1": 1.0, "onset_mae_s": None, "pulls_per_min": 0.0,
            "graded_pulls_per_min": 0.0}  # fmt: skip
    assert clip_objective(none) == pytest.approx(1.0)  # no judged frame, no pull graded or made
    missed = {"target_accuracy": 1.0, "pull_f1": 0.0, "onset_mae_s": None, "pulls_per_min": 0.0,
              "graded_pulls_per_min": 6.0}  # fmt: skip
    assert clip_objective(missed) == pytest.approx(np.mean([1.0, 0.0, 0.0, 1.5 / 7.0]))


def test_fit_finds_the_lead_the_grades_ask_for_and_loo_scores_held_out_clips():
    clips = [graded_clip(f"c{i}", onset) for i, onset in enumerate((3.0, 4.0, 5.0))]
    scorer = Scorer(clips, FitConfig(space=SPACE))
    start = default_values(SPACE)
    shipped = PlannerConfig()
    assert start == {"planner.lead_s": shipped.lead_s, "planner.switch_cost": shipped.switch_cost}
    values, objective = coordinate_descent(scorer, range(3), start)
    assert values["planner.lead_s"] == 0.6
    m = scorer.metrics(values)[0]
    assert m["onset_mae_s"] == pytest.approx(0.0, abs=0.051) and m["pull_f1"] == 1.0
    assert objective > scorer.objective(start, range(3))
    per_clip, fits = leave_one_out(scorer, start)
    assert list(per_clip) == ["c0", "c1", "c2"]
    assert all(f["planner.lead_s"] == 0.6 for f in fits.values())
    assert all(r["pull_f1"] == 1.0 for r in per_clip.values())


def test_saliency_switch_cost_is_never_below_the_switch_cost():
    cfgs = configs_from_values({"planner.switch_cost": 1.0, "planner.saliency_switch_cost": 0.75})
    assert cfgs["planner"].saliency_switch_cost == 1.0


def test_fitted_toml_has_the_config_sections():
    text = fitted_toml(
        {"planner.lead_s": 0.6, "cues.saliency.w_size": 0.3, "perception.distance.median_frames": 5},
        header="fitted on 3 clips",
    )
    data = tomllib.loads(text)
    assert data == {
        "planner": {"lead_s": 0.6},
        "cues": {"saliency": {"w_size": 0.3}},
        "perception": {"distance": {"median_frames": 5}},
    }
    assert text.startswith("# fitted on 3 clips")


def test_every_fitted_default_is_on_its_grid():
    from autofocuspull.evaluate.fit import SEARCH_SPACE

    defaults = default_values(SEARCH_SPACE)
    assert all(defaults[p.key] in p.grid for p in SEARCH_SPACE)


def test_forked_workers_give_the_same_metrics():
    clips = [graded_clip(f"c{i}", onset) for i, onset in enumerate((3.0, 4.0))]
    values = default_values(SPACE)
    serial = Scorer(clips, FitConfig(space=SPACE)).metrics(values)
    with Scorer(clips, FitConfig(space=SPACE, jobs=2)) as scorer:
        assert scorer.metrics(values) == serial


def test_fit_command_refuses_a_bad_output_or_folder(tmp_path, capsys):
    from autofocuspull.cli import main

    assert main(["fit", "--dataset", str(tmp_path), "-o", str(tmp_path / "fitted.json"), "-q"]) == 2
    assert "must end in .toml" in capsys.readouterr().err
    assert main(["fit", "--dataset", str(tmp_path / "nope"), "-o", str(tmp_path / "f.toml"), "-q"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "f.toml").exists()


@pytest.mark.slow
def test_fit_command_end_to_end_writes_a_loadable_config(tmp_path, capsys):
    """A generated clip graded as "no story" (nothing to hold, no pull): analysed once, fitted,
    reported beside the defaults and the baselines; the fitted file loads as a run config."""
    import json

    from autofocuspull.cli import main
    from autofocuspull.config import load_config
    from autofocuspull.io.synth import moving_pattern, write_clip

    data = tmp_path / "set"
    data.mkdir()
    write_clip(data / "c.mp4", moving_pattern(20, 64, 48), rate=10)
    grades = {"format": "autofocuspull.grades/1", "video": "c.mp4", "notes": "nothing to follow",
              "cuts_s": [], "subjects": {}, "holds": []}  # fmt: skip
    (data / "c.grades.json").write_text(json.dumps(grades))
    out, report = tmp_path / "fitted.toml", tmp_path / "fit.json"
    args = ["fit", "--dataset", str(data), "-o", str(out), "--report", str(report), "--rounds", "1",
            "--no-loo", "--cache-dir", str(tmp_path / "cache"), "-q"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| defaults |" in printed and "| largest-face |" in printed
    cfg = load_config(out)
    assert cfg.planner.lead_s in dict((p.key, p.grid) for p in SEARCH_SPACE)["planner.lead_s"]
    rep = json.loads(report.read_text())
    assert rep["methods"]["defaults"]["mean"]["clips"] == 1 and rep["failed"] == {}


def test_set_objective_weighs_targets_not_clips():
    """Nine pull-less clips held perfectly and one dialogue clip whose graded pulls are all
    missed: per clip the set scores 0.95, per target the missed pulls weigh two of five terms."""
    from autofocuspull.evaluate.fit import set_objective

    held = {"target_accuracy": 1.0, "pull_f1": 1.0, "onset_mae_s": None, "pulls_per_min": 0.0,
            "graded_pulls_per_min": 0.0}  # fmt: skip
    missed = {"target_accuracy": 1.0, "pull_f1": 0.0, "onset_mae_s": None, "pulls_per_min": 0.0,
              "graded_pulls_per_min": 6.0}  # fmt: skip
    rows = [held] * 9 + [missed]
    rate = (9 * 1.0 + 1.5 / 7.0) / 10
    assert set_objective(rows) == pytest.approx(np.mean([1.0, 0.9, 0.0, 0.0, rate]))
    assert set_objective([held]) == pytest.approx(1.0)  # no pulls anywhere: those terms drop out
