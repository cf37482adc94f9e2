"""Batch racking without Ray: discovery, segments, manifest resume, the lossless segment join, and
the local process pool surviving a killed worker and reporting a failing clip."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import frames_of, kill_once_plan, link_models, trim_clip

from autofocuspull.batch import BatchConfig, LocalPool, Manifest, Stages, find_clips, plan_segments, run_batch
from autofocuspull.batch.jobs import config_digest, effective_config
from autofocuspull.config import RackConfig, RunConfig
from autofocuspull.core.types import VideoInfo
from autofocuspull.io import EncodeConfig, probe
from autofocuspull.pipeline import frame_processor, plan_clip, render_clip, render_depth

CFG = RackConfig(encode=EncodeConfig(preset="ultrafast"))


def _info(n: int, fps: float) -> VideoInfo:
    t = np.arange(n) / fps
    return VideoInfo(
        "x.mp4", 64, 48, 64, 48, 0, Fraction(fps), Fraction(1, 1000), t, n / fps, "h264", "mp4", ()
    )


def test_segments_end_at_cuts_near_the_target_and_split_long_shots():
    info = _info(1000, 10.0)  # 100 s
    cfg = BatchConfig(segment_s=30.0)
    segs = plan_segments(info, [280, 700], cfg)
    # from 0 s the window for a cut is 15-45 s: the cut at 28 s; from 28 s it is 43-73 s: the cut
    # at 70 s; from 70 s only 30 s are left (< 1.5 segments): the last piece
    assert [(s.start, s.stop) for s in segs] == [(0, 280), (280, 700), (700, 1000)]
    # one long shot: pieces at the 30 s targets, the last one 40 s (< 45 s left after 60 s)
    long_shot = plan_segments(info, [], cfg)
    assert [(s.start, s.stop) for s in long_shot] == [(0, 300), (300, 600), (600, 1000)]
    assert {s.count for s in segs} == {3} and [s.index for s in segs] == [0, 1, 2]
    assert [(s.start, s.stop) for s in plan_segments(info, [], BatchConfig(segment_s=60.0))] == [(0, 1000)]
    assert plan_segments(info, [], BatchConfig(plan_only=True)) == []


def test_find_clips_recurses_skips_non_media_and_keeps_colliding_names(tmp_path, rng):
    from autofocuspull.io.synth import moving_pattern, write_clip

    (tmp_path / "in" / "a").mkdir(parents=True)
    write_clip(tmp_path / "in" / "a" / "x.mp4", moving_pattern(3, 64, 48))
    write_clip(tmp_path / "in" / "a" / "x.mkv", moving_pattern(3, 64, 48))
    (tmp_path / "in" / "readme.txt").write_text("hello")
    (tmp_path / "in" / ".hidden.mp4").write_bytes(b"\0")
    import cv2

    cv2.imwrite(str(tmp_path / "in" / "still.png"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    jobs, skipped = find_clips(tmp_path / "in", tmp_path / "out")
    assert [j.rel for j in jobs] == ["a/x.mkv", "a/x.mp4"]
    assert [Path(j.output).name for j in jobs] == ["x.mkv.mp4", "x.mp4.mp4"]  # no clip overwrites another
    assert {s.path: s.reason.split(" (")[0] for s in skipped} == {
        "readme.txt": "not a media file FFmpeg can read",
        "still.png": "a still image",
    }


def test_manifest_skips_only_unchanged_complete_clips(tmp_path):
    clip, out = tmp_path / "c.bin", tmp_path / "out"
    clip.write_bytes(b"video")
    (out).mkdir()
    (out / "c.mp4").write_bytes(b"racked")
    from autofocuspull.batch.jobs import ClipJob, file_record

    job = ClipJob(str(clip), "c.bin", str(out / "c.mp4"), str(out / "c.plan.json"), str(out / ".s"))
    sha = config_digest(effective_config(CFG, BatchConfig()))
    m = Manifest(out)
    m.record("c.bin", {"status": "done", "config_sha256": sha, "input": file_record(clip),
                       "outputs": {"video": file_record(out / "c.mp4")}})  # fmt: skip
    assert Manifest(out).complete(job, sha)
    assert not Manifest(out).complete(job, config_digest(effective_config(RackConfig(), BatchConfig())))
    (out / "c.mp4").write_bytes(b"damaged")  # same size, new content: the hash says so
    assert not Manifest(out).complete(job, sha, verify=True)
    (out / "c.mp4").write_bytes(b"racked!")
    assert not Manifest(out).complete(job, sha)
    # the cache folder does not change what is written; the encoder does
    elsewhere = RackConfig(encode=EncodeConfig(preset="ultrafast"), run=RunConfig(cache_dir="/elsewhere"))
    assert sha == config_digest(effective_config(elsewhere, BatchConfig(workers=7)))


@pytest.mark.slow
@pytest.mark.shared
def test_segmented_render_joins_to_the_single_pass_render_frame_for_frame(tmp_path):
    from conftest import footage

    from autofocuspull.io.segments import encode_segment, join_segments

    link_models()
    clip = trim_clip(footage("box_in_hand.mp4"), tmp_path / "box.mp4", 1.0, 14, max_side=160)
    lossless = RackConfig(encode=EncodeConfig(crf=0, preset="ultrafast"))  # x264 qp 0: frames compare exactly
    plan, analysis = plan_clip(clip, lossless)
    render_clip(clip, plan, tmp_path / "whole.mp4", lossless, analysis.depth, analysis.info)
    info = probe(clip)
    process = frame_processor(plan, lossless, render_depth(clip, info, lossless), info)
    pieces = []
    for k, (a, b) in enumerate([(0, 5), (5, 6), (6, 14)]):  # a one-frame piece too; 5 and 6 are seeks
        encode_segment(clip, tmp_path / f"s{k}.mp4", info, a, b, process, config=lossless.encode)
        pieces.append((tmp_path / f"s{k}.mp4", a))
    join_segments(clip, pieces, tmp_path / "joined.mp4", info, config=lossless.encode)
    whole, joined = probe(tmp_path / "whole.mp4"), probe(tmp_path / "joined.mp4")
    np.testing.assert_array_equal(joined.pts_s, whole.pts_s)
    assert joined.audio == whole.audio and len(joined.audio) == 1
    np.testing.assert_array_equal(frames_of(tmp_path / "joined.mp4"), frames_of(tmp_path / "whole.mp4"))


@pytest.mark.slow
@pytest.mark.shared
def test_process_pool_retries_a_killed_worker_reports_a_failing_clip_and_resumes(tmp_path, monkeypatch):
    from conftest import footage

    link_models()
    src = tmp_path / "in"
    src.mkdir()
    trim_clip(footage("carphone.mp4"), src / "a.mp4", 0.0, 6, max_side=160)
    trim_clip(footage("carphone.mp4"), src / "b.mp4", 1.0, 6, max_side=160)
    markers = tmp_path / "markers"
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_MARKERS", str(markers))
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_KILL", "a.mp4")
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_RAISE", "b.mp4")
    out = tmp_path / "out"
    with LocalPool(1, max_retries=1) as pool:
        r = run_batch(src, out, CFG, BatchConfig(), pool, stages=Stages(plan=kill_once_plan))
        assert r.done == ["a.mp4"] and r.clips["a.mp4"]["attempts"]["plan"] == 2  # killed, rerun
        assert len(list(markers.glob("a.mp4.killed.*"))) == 1 and probe(out / "a.mp4").n_frames == 6
        assert r.failed == ["b.mp4"] and r.clips["b.mp4"]["error"] == "ValueError: b.mp4: injected failure"
        assert r.clips["b.mp4"]["attempts"]["plan"] == 1  # an exception is not retried
        monkeypatch.delenv("AUTOFOCUSPULL_TEST_RAISE")
        r2 = run_batch(src, out, CFG, BatchConfig(), pool, stages=Stages(plan=kill_once_plan))
    assert r2.skipped_complete == ["a.mp4"] and r2.done == ["b.mp4"] and not r2.failed
    summary = json.loads((out / "autofocuspull-batch-summary.json").read_text())
    assert summary["done"] == 1 and summary["skipped_complete"] == 1 and summary["frames"] == 6


def test_a_worker_builds_each_model_once_and_every_clip_keeps_its_build_notes():
    from autofocuspull.core.errors import ModelUnavailableError
    from autofocuspull.core.models import build_model, keep_models

    calls: list[str] = []

    def missing() -> object:
        calls.append("missing")
        raise ModelUnavailableError("get it from X")

    def build(name: str):
        return lambda: calls.append(name) or object()

    keep_models(True)
    try:
        notes1: list[str] = []
        notes2: list[str] = []
        first = build_model("a", build("a"), [], key="a")
        assert build_model("a", build("a"), [], key="a") is first
        assert build_model("b", build("b"), [], key="b") is not first
        fb1 = build_model("m", missing, notes1, fallback=object, instead="using Y", key="m")
        fb2 = build_model("m", missing, notes2, fallback=object, instead="using Y", key="m")
        assert fb1 is fb2 and calls == ["a", "b", "missing"]
        assert notes1 == notes2 == ["m unavailable, using Y: get it from X"]  # every clip's plan says it
    finally:
        keep_models(False)
    assert build_model("a", build("a"), [], key="a") is not first and calls[-1] == "a"  # off: no reuse
