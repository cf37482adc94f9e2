"""Registries are the only way in: names, objects given directly, plug-ins from entry points, and
the README's new-planner example run as written."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_GRADES

from autofocuspull.core.errors import UsageError
from autofocuspull.core.registry import Registry
from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip
from autofocuspull.perception.depth import DEPTH_MODELS
from autofocuspull.perception.detect import DETECTORS
from autofocuspull.plan import PLANNERS
from autofocuspull.render import RENDERERS

REPO = Path(__file__).resolve().parents[1]


def test_register_get_names_and_errors() -> None:
    reg: Registry = Registry("widget")
    reg.register("a", len)

    @reg.register("b", note=1)
    def b(x):
        return x

    assert reg.names() == ["a", "b"] and reg.get("a") is len and reg["b"] is b and "a" in reg
    assert reg.info("b") == {"note": 1} and reg.name_of(b) == "b"
    assert reg.get(print) is print  # an object given directly is used as is
    with pytest.raises(UsageError, match=r"unknown widget 'c' \(choose from a, b\)"):
        reg.get("c")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", abs)
    reg.register("a", abs, replace=True)
    assert reg.get("a") is abs
    with pytest.raises(TypeError, match="callable"):
        reg.register("d", 3)


def test_every_stage_has_its_registry() -> None:
    assert {"default", "largest-face", "center", "most-motion", "first-subject"} <= set(PLANNERS.names())
    assert PLANNERS.info("default") == {"config": "planner", "keyframes": True}
    assert PLANNERS.info("center")["config"] == "baselines"
    assert {"yunet", "centerface", "yolox-nano", "deeplabv3"} <= set(DETECTORS.names())
    assert {"layered", "naive"} <= set(RENDERERS.names())
    from autofocuspull.perception.cuts import CUT_DETECTORS
    from autofocuspull.perception.track import TRACKERS

    assert TRACKERS.names() == ["bytetrack"]
    assert CUT_DETECTORS.names() == ["adaptive", "pyscenedetect"]
    assert "depth-anything-v2-small" in DEPTH_MODELS
    from autofocuspull.cues import SPEAKER_MODELS

    assert SPEAKER_MODELS.names() == ["light-asd", "mouth-motion"]

    assert SPEAKER_MODELS.info("light-asd")["fallback"] == "mouth-motion"


def test_entry_points_register_plugins_lazily(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "afp_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "def plan(inputs, config):\n    raise RuntimeError('not run here')\n"
        "plan.autofocuspull_info = {'config': None}\n"
        "def broken():\n    pass\n"
    )
    dist = tmp_path / "afp_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: afp-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[autofocuspull.planners]\nplugged = afp_plugin:plan\nmissing = afp_plugin:nope\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("planner", "autofocuspull.planners")
    reg.register("builtin", len)
    assert "plugged" in reg.names() and "missing" not in reg.names()  # a broken plug-in is skipped
    import afp_plugin

    assert reg.get("plugged") is afp_plugin.plan and reg.info("plugged") == {"config": None}


def test_render_video_takes_a_renderer_by_name_or_object() -> None:
    import numpy as np
    import torch

    from autofocuspull.core.types import Frame, Lens
    from autofocuspull.render import render_video

    calls = []

    def identity(image_lin, depth_m, focus_m, f_number, lens, config):
        calls.append(image_lin.shape)
        return image_lin

    rgb = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    frames = [Frame(i, i / 25, rgb) for i in range(2)]
    depth = np.full((16, 24), 2.0, np.float32)
    focus, fnum = np.full(2, 1.0, np.float32), np.full(2, 1.4, np.float32)
    out = list(
        render_video(iter(frames), lambda f: depth, focus, fnum, Lens(), renderer=identity, progress=False)
    )
    assert calls and all(np.abs(o.astype(int) - rgb).max() <= 1 for o in out)
    blurred = list(
        render_video(iter(frames), lambda f: depth, focus, fnum, Lens(), renderer="naive", progress=False)
    )
    assert np.abs(blurred[0].astype(int) - rgb).mean() > 1  # really rendered, out of focus
    with pytest.raises(UsageError, match="unknown renderer"):
        list(render_video(iter(frames), lambda f: depth, focus, fnum, Lens(), renderer="nope"))
    del torch




def test_perceiver_takes_tracker_and_cut_detector_by_name_or_object() -> None:
    """[stages] tracker / cuts reach the Perceiver through their registries; an object given
    directly is used as is; an unknown name is a usage error naming the stage."""
    import numpy as np

    from autofocuspull.core.types import Detections, Frame
    from autofocuspull.perception.cuts import LibraryCutDetector
    from autofocuspull.perception.subjects import Perceiver
    from autofocuspull.perception.track import ByteTracker

    built = []

    def tracker(fps, config, *, ids=None):
        built.append("tracker")
        return ByteTracker(fps, config, ids=ids)

    def cuts(fps, config):
        built.append("cuts")
        return LibraryCutDetector(fps, config)

    dark, light = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)
    per = Perceiver(lambda rgb: Detections.empty(), None, fps=25.0, image_size=(64, 48),
                    tracker=tracker, cut_detector=cuts)
    for i in range(40):
        per.update(Frame(i, i / 25, dark if i < 20 else light))
    _, found = per.finish(40)
    assert built == ["tracker", "tracker", "cuts"] and found == [20]
    by_name = Perceiver(lambda rgb: Detections.empty(), None, fps=25.0, image_size=(64, 48),
                        cut_detector="pyscenedetect")
    assert isinstance(by_name._cuts, LibraryCutDetector)
    with pytest.raises(UsageError, match="unknown cut detector 'nope'"):
        Perceiver(lambda rgb: Detections.empty(), None, fps=25.0, image_size=(64, 48), cut_detector="nope")


@pytest.mark.slow
def test_readme_new_planner_example_runs_as_written(tmp_path: Path) -> None:
    example = REPO / "eval" / "examples" / "new_planner.py"
    code = example.read_text()
    body = code[code.index("import sys") :]
    readme = (REPO / "README.md").read_text()
    assert body.strip() in readme, "the README's example must be eval/examples/new_planner.py verbatim"
    assert len(body.strip().splitlines()) < 30
    data = tmp_path / "graded"
    data.mkdir()
    make_demo_clip(data / "demo.mp4", DemoClipConfig(width=320, height=180, duration_s=2.0))
    (data / "demo.grades.json").write_text(json.dumps(DEMO_GRADES))
    env = {**os.environ, "AUTOFOCUSPULL_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, str(example), str(data)], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    scores = ast.literal_eval(run.stdout.strip())  # the dict the example prints
    assert set(scores) == {"target_accuracy", "pull_f1"} and 0.0 <= scores["target_accuracy"] <= 1.0
