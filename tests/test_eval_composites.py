"""The composited, labelled-by-construction dialogue scenes (eval/make_dialogue_composites.py)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from autofocuspull.evaluate.grades import load_grades, parse_grades

REPO = Path(__file__).parents[1]
SHARED = REPO.parent / "shared"
GRADES_DIR = REPO / "eval" / "grades"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "eval" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


mdc = _load("make_dialogue_composites")
MANIFEST = json.loads((GRADES_DIR / "manifest.json").read_text())
ENTRIES = [c for c in MANIFEST["clips"] if c.get("built_by") == "eval/make_dialogue_composites.py"]


def test_every_scene_is_in_the_manifest_as_a_composited_clip():
    assert sorted(c["scene"] for c in ENTRIES) == sorted(s.name for s in mdc.SCENES)
    for c in ENTRIES:
        scene = mdc.scene_by_name(c["scene"])
        assert c["category"] == "composited-dialogue"
        assert sorted(c["sources"]) == [f"../shared/{f}" for f in mdc.sources_of(scene)]


@pytest.mark.parametrize("scene", mdc.SCENES, ids=lambda s: s.name)
def test_committed_grades_are_the_construction(scene):
    committed = json.loads((GRADES_DIR / "composited" / f"{scene.name}.grades.json").read_text())
    built = mdc.grades_for(scene)
    built.pop("_duration_s")
    assert committed == built


def test_grades_follow_the_turns():
    scene = mdc.scene_by_name("composite_office_man_near_street_woman_far")
    g = parse_grades({k: v for k, v in mdc.grades_for(scene).items() if k != "_duration_s"})
    turns = mdc.timeline(scene)
    assert len(turns) == 8 and turns[0][:2] == (0.0, 2.0)  # office_man 1.7-3.7 s of his source
    assert [h.subject for h in g.holds] == [t[2] for t in turns]
    assert [p.onset_s for p in g.pulls] == [t[0] for t in turns[1:]]
    for h, t in zip(g.holds[1:], turns[1:], strict=True):
        assert h.start_s == pytest.approx(t[0] + mdc.PULL_S)
    w, h = mdc.CANVAS_WH
    x, y, s = mdc.NEAR_XYS
    near = [x / w, y / h, (x + s) / w, (y + s) / h]
    np.testing.assert_allclose(g.box_at("office_man", 5.0), near, atol=1e-4)


def test_consecutive_turns_of_one_talker_merge_into_one_hold():
    scene = mdc.scene_by_name("composite_street_interviewer_near_street_woman_far")
    g = mdc.grades_for(scene)
    assert [(h["subject"], h["start_s"], h["end_s"]) for h in g["holds"]] == [
        ("street_interviewer", 0.0, 3.35),
        ("street_woman", 3.75, 16.4),
    ]


def test_ping_pong_walks_the_pool_and_back_without_jumps():
    pool = ((10.0, 11.0), (20.0, 20.5))
    assert mdc.ping_pong(pool, 0.0) == 10.0
    assert mdc.ping_pong(pool, 0.5) == 10.5
    assert mdc.ping_pong(pool, 1.25) == pytest.approx(20.25)
    assert mdc.ping_pong(pool, 1.75) == pytest.approx(20.25)  # 0.25 s back from the end (20.5)
    assert mdc.ping_pong(pool, 3.0) == pytest.approx(10.0)  # back at the start after 2 x 1.5 s
    steps = [mdc.ping_pong(((0.0, 2.0),), k / 25) for k in range(200)]
    assert max(abs(b - a) for a, b in itertools.pairwise(steps)) <= 1 / 25 + 1e-9
    assert min(steps) >= 0.0 and max(steps) <= 2.0


def test_unknown_scene_names_the_known_ones():
    with pytest.raises(KeyError, match="composite_office_man_near_street_woman_far"):
        mdc.scene_by_name("nope")


@pytest.mark.shared
def test_talk_and_listen_intervals_lie_inside_their_sources():
    for person in mdc.PEOPLE.values():
        path = SHARED / person.video
        if not path.is_file():
            pytest.skip(f"{path} absent: the composite's sources are not here")
        with av.open(str(path)) as c:
            end_s = float(c.duration / av.time_base)
        for a, b in person.talk_s + person.listen_s:
            assert 0.0 <= a < b <= end_s + 0.05, (person.name, a, b)


@pytest.mark.slow
@pytest.mark.shared
def test_a_built_scene_has_the_constructed_length_and_layout(tmp_path):
    scene = mdc.scene_by_name("composite_street_interviewer_near_street_woman_far")
    missing = [f for f in mdc.sources_of(scene) if not (SHARED / f).is_file()]
    if missing:
        pytest.skip(f"../shared/{missing[0]} absent: cannot build the composite")
    out = mdc.build_scene(scene, SHARED, tmp_path / f"{scene.name}.mp4")
    mdc.write_grades(scene, tmp_path / f"{scene.name}.grades.json")
    g = load_grades(tmp_path / f"{scene.name}.grades.json")
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.width, v.codec_context.height) == mdc.CANVAS_WH
        assert v.frames == round(16.4 * mdc.FPS) and a.rate == mdc.AUDIO_RATE
        audio_s = sum(f.samples for f in c.decode(a)) / a.rate
    assert audio_s == pytest.approx(16.4, abs=0.1)
    assert g.holds[-1].end_s == pytest.approx(16.4)


def test_a_backchannel_is_heard_but_graded_as_no_turn():
    scene = mdc.scene_by_name("composite_street_woman_near_backchannel_far")
    g = parse_grades({k: v for k, v in mdc.grades_for(scene).items() if k != "_duration_s"})
    assert [h.subject for h in g.holds] == ["street_woman"] and g.pulls == []
    laugh = mdc.speaking_for(scene)["office_listener"]
    assert laugh == [[11.5, 11.98]]  # his 24.12-24.6 s laugh, on the clock that starts at 12.62 s
    assert g.holds[0].start_s < laugh[0][0] and laugh[0][1] < g.holds[0].end_s
