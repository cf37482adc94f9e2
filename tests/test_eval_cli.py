"""`autofocuspull eval --dataset --json`: one JSON object on stdout, logs on stderr, failures counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_GRADES

from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip


@pytest.mark.slow
def test_dataset_json_is_the_only_stdout_and_a_broken_clip_is_counted(tmp_path: Path) -> None:
    data = tmp_path / "graded"
    data.mkdir()
    make_demo_clip(data / "demo.mp4", DemoClipConfig(width=320, height=180, duration_s=2.0))
    (data / "demo.grades.json").write_text(json.dumps(DEMO_GRADES))
    (data / "broken.mp4").write_text("not a video")
    (data / "broken.grades.json").write_text(json.dumps({**DEMO_GRADES, "video": "broken.mp4"}))
    env = {**os.environ, "AUTOFOCUSPULL_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "autofocuspull.cli", "eval", "--dataset", str(data), "--json",
           "--planner", "center"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # the whole of stdout is one JSON object
    assert set(result) == {"clips", "mean", "planner", "depth_source"}
    assert result["planner"] == "center" and result["depth_source"] == "heuristic"
    assert "error" in result["clips"]["broken"] and "broken.mp4" in result["clips"]["broken"]["error"]
    assert 0.0 <= result["clips"]["demo"]["target_accuracy"] <= 1.0
    assert result["mean"]["failed"] == 1 and result["mean"]["clips"] == 1
    assert "WARNING" in run.stderr  # the loud fallbacks went to stderr, not stdout
