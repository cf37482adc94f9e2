"""The editing loop: plan, change who is in focus by hand in the JSON, render follows the edit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_model

from autofocuspull.cli import main
from autofocuspull.io import iter_frames
from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip


def _crop_error(a: np.ndarray, b: np.ndarray, xyxy: list[float]) -> float:
    x0, y0, x1, y1 = (round(v) for v in xyxy)
    return float(np.abs(a[y0:y1, x0:x1].astype(float) - b[y0:y1, x0:x1]).mean())


@pytest.mark.slow
@pytest.mark.shared
def test_hand_edited_plan_moves_focus_to_the_far_subject(tmp_path: Path) -> None:
    clip, plan_path, out = tmp_path / "demo.mp4", tmp_path / "plan.json", tmp_path / "edited.mp4"
    make_demo_clip(clip, DemoClipConfig(width=480, height=270, duration_s=2.0))
    faces = ["--set", f"perception.faces.model_path={shared_model('yunet_n_320_320.onnx')}"]  # offline
    assert main(["plan", str(clip), "-o", str(plan_path), "-q", *faces]) == 0
    plan = json.loads(plan_path.read_text())
    near_id = plan["frames"][0]["subject"]
    subjects = {s["id"]: s for s in plan["subjects"]}
    far_id = next(i for i, s in subjects.items() if i != near_id and s["xyxy"][10] is not None)
    assert subjects[far_id]["xyxy"][10][2] - subjects[far_id]["xyxy"][10][0] < (
        subjects[near_id]["xyxy"][10][2] - subjects[near_id]["xyxy"][10][0]
    )  # the plan opened on the larger, nearer person
    for fr in plan["frames"]:  # the edit a user makes: another subject, distance filled from it
        fr.update(subject=far_id, focus_m=None, x=None, y=None)
    plan_path.write_text(json.dumps(plan))
    assert main(["render", str(clip), "--plan", str(plan_path), "-o", str(out), "-q", *faces]) == 0
    src = next(f.rgb for f in iter_frames(clip) if f.index == 10)
    got = next(f.rgb for f in iter_frames(out) if f.index == 10)
    far_err = _crop_error(src, got, subjects[far_id]["xyxy"][10])
    near_err = _crop_error(src, got, subjects[near_id]["xyxy"][10])
    # the far face is sharp (codec noise only), the near one clearly blurred (YuNet face boxes: 2.5 vs 5.8)
    assert far_err < 6.0 and near_err > 2.0 * far_err, (far_err, near_err)


def test_a_plan_for_another_clip_is_refused_before_any_analysis(tmp_path: Path, capsys) -> None:
    a, b, plan_path = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "plan.json"
    make_demo_clip(a, DemoClipConfig(width=160, height=90, duration_s=1.0))
    make_demo_clip(b, DemoClipConfig(width=160, height=90, duration_s=2.0))
    assert main(["plan", str(a), "-o", str(plan_path), "-q"]) == 0
    capsys.readouterr()
    cache = tmp_path / "fresh-cache"
    code = main(["render", str(b), "--plan", str(plan_path), "-o", str(tmp_path / "o.mp4"), "--cache-dir",
                 str(cache), "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "plan has 25 frames" in err and "has 50" in err
    assert not (cache / "clips").exists()  # refused before perception or depth ran
    assert not (tmp_path / "o.mp4").exists()


def test_switching_between_dialogue_modes_reuses_the_cues(tmp_path: Path, caplog) -> None:
    import logging

    clip = tmp_path / "demo.mp4"
    make_demo_clip(clip, DemoClipConfig(width=160, height=90, duration_s=1.0))
    cache = str(tmp_path / "cache")
    assert (
        main(["plan", str(clip), "-o", str(tmp_path / "a.json"), "--cue", "auto", "--cache-dir", cache]) == 0
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autofocuspull"):
        assert (
            main(
                ["plan", str(clip), "-o", str(tmp_path / "b.json"), "--cue", "dialogue", "--cache-dir", cache]
            )
            == 0
        )
    assert "cues: reusing cached analysis" in caplog.text
