"""The per-clip analysis cache: keys, atomic entries, corrupt entries, code fingerprints."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from autofocuspull.core.cache import StageCache, clip_key, code_fingerprint, config_hash


def test_entries_round_trip_and_keys_separate_configs(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x" * 5000)
    a = StageCache.for_clip(clip, "cues", {"k": 1}, root=tmp_path / "c")
    b = StageCache.for_clip(clip, "cues", {"k": 2}, root=tmp_path / "c")
    assert a.root != b.root and a.root.parent == b.root.parent
    a.save_npz("x.npz", {"v": np.arange(5), "s": np.asarray(["a", "b"])})
    got = a.load_npz("x.npz")
    np.testing.assert_array_equal(got["v"], np.arange(5))
    assert got["s"].tolist() == ["a", "b"]
    assert b.load_npz("x.npz") is None
    a.save_json("m.json", {"n": 3})
    assert a.load_json("m.json") == {"n": 3}
    assert not list(a.root.glob("*.tmp"))


def test_clip_key_follows_content_not_name(tmp_path: Path) -> None:
    one, two, other = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    one.write_bytes(b"same bytes" * 1000)
    two.write_bytes(b"same bytes" * 1000)
    other.write_bytes(b"other bytes" * 1000)
    assert clip_key(one) == clip_key(two) != clip_key(other)
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1}) != config_hash({"a": 2, "b": 2})


def test_corrupt_entry_is_dropped_not_trusted(tmp_path: Path) -> None:
    c = StageCache(tmp_path / "stage")
    c.save_npz("x.npz", {"v": np.ones(3)})
    (tmp_path / "stage" / "x.npz").write_bytes(b"truncated garbage")
    assert c.load_npz("x.npz") is None
    assert not (tmp_path / "stage" / "x.npz").exists()


def test_disabled_cache_and_bad_names(tmp_path: Path) -> None:
    off = StageCache(tmp_path / "off", enabled=False)
    off.save_npz("x.npz", {"v": np.ones(1)})
    assert off.load_npz("x.npz") is None and not (tmp_path / "off").exists()
    on = StageCache(tmp_path / "on")
    for bad in ("../escape.npz", "a/b.npz", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            on.save_npz(bad, {"v": np.ones(1)})


def test_code_fingerprint_changes_with_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "fp_stage"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "algo.py").write_text("WEIGHT = 0.3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_fingerprint("fp_stage")
    assert code_fingerprint("fp_stage") == before
    (pkg / "algo.py").write_text("WEIGHT = 0.4\n")
    assert code_fingerprint("fp_stage") != before
    assert code_fingerprint("fp_stage.algo") != code_fingerprint("fp_stage")
    sys.modules.pop("fp_stage", None)
    with pytest.raises(ValueError, match="no module named"):
        code_fingerprint("fp_stage_missing")


def test_a_fallback_result_is_never_served_once_the_model_is_there(tmp_path: Path) -> None:
    """Perception made while the object detector was unavailable is cached apart: a rerun that
    has the detector runs it (no stale fallback), and reruns of each kind reuse their own entry."""
    from autofocuspull import pipeline
    from autofocuspull.config import RackConfig, apply_overrides
    from autofocuspull.core.errors import ModelUnavailableError
    from autofocuspull.core.types import Detections
    from autofocuspull.io import probe
    from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip
    from autofocuspull.perception.detect import DETECTORS

    clip = tmp_path / "clip.mp4"
    make_demo_clip(clip, DemoClipConfig(width=160, height=96, duration_s=1.0))
    state = {"available": False, "calls": 0}

    def flaky(model_path, config):
        if not state["available"]:
            raise ModelUnavailableError("flaky-objects: not downloaded yet")

        def detect(rgb):
            state["calls"] += 1
            return Detections.empty()

        return detect

    def absent(model_path, config):
        raise ModelUnavailableError("absent-masks: never here")

    DETECTORS.register("flaky-objects", flaky, task="objects")
    DETECTORS.register("absent-masks", absent, task="masks")
    try:
        cfg = apply_overrides(
            RackConfig(),
            [f"run.cache_dir={tmp_path / 'cache'}", "stages.objects=flaky-objects", "stages.faces=no-faces",
             "stages.masks=absent-masks"],
        )  # fmt: skip
        info = probe(clip)

        def run() -> list[str]:
            warnings: list[str] = []
            pipeline.perceive(str(clip), info, cfg, warnings)
            return warnings

        assert any("object detector unavailable" in w for w in run())  # made with the fallback
        assert state["calls"] == 0 and any("unavailable" in w for w in run())  # its entry reused
        state["available"] = True
        assert not any("object detector" in w for w in run()) and state["calls"] > 0  # recomputed
        calls = state["calls"]
        run()
        assert state["calls"] == calls  # the real model's entry reused in turn
    finally:
        DETECTORS.unregister("flaky-objects")
        DETECTORS.unregister("absent-masks")


def test_cached_cues_follow_the_tracks_ids_not_only_their_boxes(tmp_path: Path) -> None:
    """The same boxes under other track ids (a perception change renumbered them) are other cues:
    the cached ones, indexed by the old ids, must not be served for the new tracks."""
    from autofocuspull import pipeline
    from autofocuspull.config import RackConfig, apply_overrides
    from autofocuspull.core.types import SubjectTracks
    from autofocuspull.io import probe
    from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip

    clip = tmp_path / "clip.mp4"
    make_demo_clip(clip, DemoClipConfig(width=160, height=96, duration_s=1.0))
    info = probe(clip)
    cfg = apply_overrides(RackConfig(), [f"run.cache_dir={tmp_path / 'cache'}", "planner.mode=saliency"])

    def tracks(ids: list[int]) -> SubjectTracks:
        tr = SubjectTracks.allocate(ids, ["person", "cup"], info.n_frames)
        tr.xyxy[0], tr.xyxy[1] = (10, 10, 60, 90), (100, 40, 130, 70)
        return tr

    first = pipeline.compute_clip_cues(str(clip), info, tracks([1, 2]), cfg, [])
    again = pipeline.compute_clip_cues(str(clip), info, tracks([1, 2]), cfg, [])
    renumbered = pipeline.compute_clip_cues(str(clip), info, tracks([3, 7]), cfg, [])
    assert first.track_id.tolist() == again.track_id.tolist() == [1, 2]
    assert renumbered.track_id.tolist() == [3, 7]
    np.testing.assert_allclose(renumbered.saliency, first.saliency)
