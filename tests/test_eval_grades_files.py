"""The project's own grades (eval/grades): they validate, match their manifest and their footage."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from autofocuspull.evaluate.grades import load_grades
from autofocuspull.io.reader import probe

REPO = Path(__file__).parents[1]
SHARED = REPO.parent / "shared"
GRADES_DIR = REPO / "eval" / "grades"
MANIFEST = json.loads((GRADES_DIR / "manifest.json").read_text())
GRADE_FILES = sorted(GRADES_DIR.rglob("*.grades.json"))


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "eval" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_required_clips_are_graded():
    stems = {p.name[: -len(".grades.json")] for p in GRADE_FILES}
    assert {"tears_of_steel_10s", "box_in_hand", "two_shot"} <= stems


@pytest.mark.parametrize("path", GRADE_FILES, ids=lambda p: p.name)
def test_grades_file_validates_and_has_notes(path):
    g = load_grades(path)
    assert len(g.notes) > 200, "each grades file explains the grader's reasoning"
    assert g.holds or not g.subjects, "a clip with subjects holds focus on one somewhere"
    assert g.video.rsplit(".", 1)[0] == path.name[: -len(".grades.json")]


def test_manifest_categories_and_sets():
    bd = _load_script("build_dataset")
    clips = bd.load_manifest()["clips"]  # raises on an entry without a known category
    real = bd.select_clips(clips, "real")
    composited = bd.select_clips(clips, "composited")
    assert len(real) + len(composited) == len(clips) == len(bd.select_clips(clips))
    assert "two_shot.grades.json" in {c["grades"] for c in composited}
    assert all("built_by" in c for c in composited) and not any("built_by" in c for c in real)
    heads = bd.select_clips(clips, "real", ["dialogue-1shot"])
    assert heads and all(c["category"] == "dialogue-1shot" for c in heads)
    with pytest.raises(ValueError, match="category 'dialog'"):
        bd.select_clips(clips, "all", ["dialog"])
    with pytest.raises(ValueError, match="set 'fake'"):
        bd.select_clips(clips, "fake")


def test_no_story_clips_have_no_graded_pulls():
    for clip in MANIFEST["clips"]:
        g = load_grades(GRADES_DIR / clip["grades"])
        if clip["category"] == "no-story":
            assert not g.pulls, f"{clip['grades']}: a no-story clip with a graded pull"
        if not g.holds:
            assert clip["category"] == "no-story" and not g.subjects, clip["grades"]
    assert any(not load_grades(GRADES_DIR / c["grades"]).subjects for c in MANIFEST["clips"])


def test_manifest_names_every_grades_file_once():
    named = [c["grades"] for c in MANIFEST["clips"]]
    assert sorted(named) == sorted(p.relative_to(GRADES_DIR).as_posix() for p in GRADE_FILES)
    assert len({Path(n).name for n in named}) == len(named), "grades names are unique in a dataset folder"
    for clip in MANIFEST["clips"]:
        assert load_grades(GRADES_DIR / clip["grades"]).video == Path(clip["footage"]).name
        assert len(clip["sha256"]) == 64


@pytest.mark.shared
@pytest.mark.parametrize(
    "clip", [c for c in MANIFEST["clips"] if "built_by" not in c], ids=lambda c: c["grades"]
)
def test_shared_footage_matches_manifest_and_grades_fit_the_clip(clip):
    path = SHARED / clip["footage"][len("../shared/") :]
    if not path.is_file():
        pytest.skip(f"../shared/{clip['footage'][10:]} absent: the graded footage is not here")
    assert _sha256(path) == clip["sha256"]
    g = load_grades(GRADES_DIR / clip["grades"])
    with av.open(str(path)) as c:  # the longer of the container's and the reader's video duration
        duration_s = max(float(c.duration / av.time_base), probe(path).duration_s)
    assert max((h.end_s for h in g.holds), default=0.0) <= duration_s + 0.05
    assert all(0.0 < cut < duration_s for cut in g.cuts_s)
    assert all(s.times_s[-1] <= duration_s + 0.05 for s in g.subjects.values()), "a box after the clip's end"


@pytest.mark.shared
def test_two_shot_sources_match_manifest():
    clip = next(c for c in MANIFEST["clips"] if c.get("built_by") == "eval/make_two_shot.py")
    for rel, sha in clip["sources"].items():
        path = SHARED / rel[len("../shared/") :]
        if not path.is_file():
            pytest.skip(f"{rel} absent: the two-speaker footage is not here")
        assert _sha256(path) == sha


def test_two_shot_grades_boxes_are_the_pasted_rectangles():
    mts = _load_script("make_two_shot")
    g = load_grades(GRADES_DIR / "two_shot.grades.json")
    w, h = mts.CANVAS_WH
    for name, (x, y, s) in (("speaker0", mts.NEAR_XYS), ("speaker1", mts.FAR_XYS)):
        np.testing.assert_allclose(g.box_at(name, 10.0), [x / w, y / h, (x + s) / w, (y + s) / h], atol=1e-4)


def test_two_shot_composition_places_near_sharp_and_far_dim():
    mts = _load_script("make_two_shot")
    near = np.full((224, 224, 3), 200, np.uint8)
    far = np.full((224, 224, 3), 200, np.uint8)
    out = mts.compose(near, far, mts.background())
    assert out.shape == (360, 640, 3) and out.dtype == np.uint8
    x, y, s = mts.NEAR_XYS
    assert (out[y : y + s, x : x + s] == 200).all()
    x, y, s = mts.FAR_XYS
    assert (out[y + 5 : y + s - 5, x + 5 : x + s - 5] == 170).all()  # 200 * 0.85
    assert out[0, 0].tolist() == [150, 160, 170]  # the top of the background gradient
    assert out[359, 639].tolist() == [95, 100, 110]  # its bottom


@pytest.mark.slow
@pytest.mark.shared
def test_two_shot_build_is_the_manifest_clip(tmp_path):
    clip = next(c for c in MANIFEST["clips"] if c.get("built_by") == "eval/make_two_shot.py")
    src = SHARED / "footage" / "two_speakers"
    if not src.is_dir():
        pytest.skip("../shared/footage/two_speakers absent: cannot build the two-shot")
    mts = _load_script("make_two_shot")
    out = mts.build_two_shot(src, tmp_path / "two_shot.mp4")
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.width, v.codec_context.height, v.frames) == (640, 360, 772)
        assert a.rate == 16000
    if _sha256(out) != clip["sha256"]:
        pytest.skip(
            f"built with PyAV {av.__version__}: bytes differ from the manifest's build (layout checked)"
        )


@pytest.mark.shared
def test_build_dataset_links_the_real_clips_with_their_grades(tmp_path):
    from autofocuspull.evaluate.dataset import find_graded_clips

    bd = _load_script("build_dataset")
    real = bd.select_clips(bd.load_manifest()["clips"], "real")
    missing = [c["footage"] for c in real if not (SHARED / c["footage"][len("../shared/") :]).is_file()]
    if missing:
        pytest.skip(f"{missing[0]} absent: the graded footage is not here")
    videos = bd.build_dataset(tmp_path / "ds", SHARED, "real")
    assert len(videos) == len(real) and all(v.is_symlink() for v in videos)
    found = find_graded_clips(tmp_path / "ds")
    assert len(found) == len(real) and all(video is not None for _, _, video in found)
    categories = json.loads((tmp_path / "ds" / "categories.json").read_text())
    assert categories == {Path(c["grades"]).name[: -len(".grades.json")]: c["category"] for c in real}


@pytest.mark.parametrize("path", GRADE_FILES, ids=lambda p: p.name)
def test_no_box_is_interpolated_across_a_cut(path):
    g = load_grades(path)
    for name, s in g.subjects.items():
        present = ~np.isnan(s.boxes_xyxy).any(axis=1)
        for k in range(len(s.times_s) - 1):
            a, b = float(s.times_s[k]), float(s.times_s[k + 1])
            if present[k] and present[k + 1]:
                crossed = [c for c in g.cuts_s if a < c - 0.002 and c <= b]
                assert not crossed, f"{name}: box {a} s interpolates to {b} s across the cut {crossed[0]}"


SPEAKING = json.loads((GRADES_DIR / "speaking.json").read_text())


@pytest.mark.parametrize("stem", sorted(SPEAKING["clips"]), ids=str)
def test_speaking_labels_name_graded_subjects_and_fit_the_holds(stem):
    entry = SPEAKING["clips"][stem]
    assert entry["grades"] in {c["grades"] for c in MANIFEST["clips"]}
    g = load_grades(GRADES_DIR / entry["grades"])
    assert g.video.rsplit(".", 1)[0] == stem
    end_s = max(h.end_s for h in g.holds)
    for who, spans in entry["speaking"].items():
        assert who in g.subjects, f"{stem}: {who} is not a graded subject"
        ends = [t for span in spans for t in span]
        assert ends == sorted(ends) and all(b > a for a, b in spans), f"{stem}: {who} spans out of order"
        assert ends[0] >= 0.0 and ends[-1] <= end_s + 0.05
    for key in ("off_screen", "unattributed"):
        assert all(b > a for a, b in entry.get(key, []))


def test_composite_speaking_labels_are_the_construction():
    mdc = _load_script("make_dialogue_composites")
    for scene in mdc.SCENES:
        assert SPEAKING["clips"][scene.name]["speaking"] == mdc.speaking_for(scene)
