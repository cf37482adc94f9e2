"""`autofocuspull experiment` and `autofocuspull cache list|clear`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from conftest import DEMO_GRADES

from autofocuspull.cli import main
from autofocuspull.config import ConfigError, RackConfig, load_config
from autofocuspull.evaluate.experiment import git_commit, load_experiment
from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip

SPEC = """
description = "lead time and a baseline"
[base.run]
device = "cpu"
[variants.default]
[variants.long-lead.planner]
lead_s = 0.75
[variants.center.stages]
planner = "center"
"""


def test_variants_are_base_then_their_own_sections(tmp_path: Path) -> None:
    spec = tmp_path / "x.toml"
    spec.write_text(SPEC)
    v = load_experiment(spec)
    assert list(v) == ["default", "long-lead", "center"]
    assert all(c.run.device == "cpu" for c in v.values())
    assert v["long-lead"].planner.lead_s == 0.75
    assert v["default"].planner.lead_s == RackConfig().planner.lead_s
    assert v["center"].stages.planner == "center"
    spec.write_text(SPEC + "[variants.bad.planner]\nleed_s = 1\n")
    with pytest.raises(ConfigError, match=r"\[variants.bad\]: unknown config key 'planner.leed_s'"):
        load_experiment(spec)
    spec.write_text("[variants]\n")
    with pytest.raises(ConfigError, match="at least one"):
        load_experiment(spec)


def test_git_commit_of_a_checkout_or_none(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    here = git_commit()
    assert here is None or len(here.split("+")[0]) == 40


@pytest.mark.slow
def test_experiment_writes_everything_to_reproduce_it(tmp_path: Path, capsys) -> None:
    data = tmp_path / "graded"
    data.mkdir()
    make_demo_clip(data / "demo.mp4", DemoClipConfig(width=320, height=180, duration_s=2.0))
    (data / "demo.grades.json").write_text(json.dumps(DEMO_GRADES))
    spec = tmp_path / "x.toml"
    spec.write_text(SPEC)
    out = tmp_path / "results"
    assert main(["experiment", str(spec), "--dataset", str(data), "-o", str(out), "-q"]) == 0
    table = capsys.readouterr().out
    assert "long-lead" in table and "center" in table
    record = json.loads((out / "results.json").read_text())
    assert set(record["variants"]) == {"default", "long-lead", "center"}
    assert record["environment"]["autofocuspull"] and "git_commit" in record["environment"]
    assert record["configs"]["long-lead"]["planner"]["lead_s"] == 0.75
    for name in ("default", "long-lead", "center"):
        assert 0.0 <= record["variants"][name]["clips"]["demo"]["target_accuracy"] <= 1.0
        assert load_config(out / "configs" / f"{name}.toml") == load_experiment(spec)[name]
        assert (out / "plans" / name / "demo.plan.json").is_file()
        assert (out / "plots" / name / "demo.png").is_file()
    plan = json.loads((out / "plans" / "center" / "demo.plan.json").read_text())
    assert plan["meta"]["planner"] == "center"
    assert tomllib.loads((out / "configs" / "center.toml").read_text())["stages"]["planner"] == "center"


def test_cache_list_and_clear(tmp_path: Path, capsys) -> None:
    from autofocuspull.core.cache import StageCache

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video, but a file with content" * 100)
    cache = tmp_path / "cache"
    StageCache.for_clip(clip, "subjects", {"a": 1}, root=cache).save_json("x.json", {"n": 1})
    StageCache.for_clip(clip, "cues", {"a": 1}, root=cache).save_json("y.json", {"n": 2})
    (cache / "models").mkdir()
    (cache / "models" / "m.onnx").write_bytes(b"0" * 1000)
    assert main(["cache", "list", "--cache-dir", str(cache), "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert sorted(e["stage"] for e in entries) == ["cues", "subjects"]
    assert all(e["source"] == str(clip.resolve()) and e["bytes"] > 0 for e in entries)
    assert main(["cache", "list", "--cache-dir", str(cache)]) == 0
    assert str(clip.resolve()) in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(cache)]) == 0
    assert "freed" in capsys.readouterr().out
    assert not (cache / "clips").exists() and (cache / "models" / "m.onnx").is_file()
    assert main(["cache", "clear", "--cache-dir", str(cache), "--models"]) == 0
    assert not (cache / "models").exists()
