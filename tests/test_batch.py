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


def _tracks(ids, boxes):
    """Subject tracks over len(boxes[0]) frames: ``boxes[s][t]`` an xyxy box or None (absent)."""
    from autofocuspull.core.types import SubjectTracks

    t = SubjectTracks.allocate(ids, ["person"] * len(ids), len(boxes[0]) if boxes else 0)
    for s, row in enumerate(boxes):
        for k, b in enumerate(row):
            if b is not None:
                t.xyxy[s, k] = b
                t.distance_m[s, k] = 10 * s + k
    return t


def test_pieces_join_along_time_with_unique_ids_and_link_a_subject_across_a_boundary_inside_a_shot():
    from autofocuspull.core.pieces import boundary_links, join_cues, join_tracks
    from autofocuspull.core.types import CueSeries

    a, b = [0, 0, 10, 10], [50, 0, 60, 10]
    first = _tracks([1, 2], [[a, a], [None, b]])  # frames 0-1: subjects 1 and 2
    second = _tracks([1, 5], [[[1, 0, 11, 10], None, None], [[50, 40, 60, 50], b, b]])  # frames 2-4
    links = boundary_links(first, second)
    assert links == [(0, 0)]  # 1 -> 1 (IoU 9/11); 2 and 5 are apart (IoU 0): not the same subject
    joined, rows = join_tracks([first, second], [0, 2], 5, [links])
    # the first piece keeps its ids; the second's are moved past them (1 + 2, 5 + 2) unless linked
    assert joined.track_id.tolist() == [1, 2, 7] and [r.tolist() for r in rows] == [[0, 1], [0, 2]]
    assert joined.present.astype(int).tolist() == [[1, 1, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 1]]
    assert joined.distance_m[0, :3].tolist() == [0, 1, 0]
    assert joined.distance_m[2, 2:].tolist() == [10, 11, 12]
    cues = [
        CueSeries(np.arange(n) / 10, p.track_id, np.full(n, v, np.float32),
                  np.full((len(p), n), v, np.float32), np.ones((len(p), n), np.float32),
                  sources={"speaking": src})
        for p, n, v, src in [(first, 2, 0.25, "light-asd"), (second, 3, 0.75, "none")]
    ]  # fmt: skip
    c = join_cues(cues, rows, joined, np.arange(5) / 10)
    assert c.speech_prob.tolist() == [0.25, 0.25, 0.75, 0.75, 0.75] and c.track_id.tolist() == [1, 2, 7]
    q, h = 0.25, 0.75
    assert c.speaking.tolist() == [[q, q, h, h, h], [q, q, 0, 0, 0], [0, 0, h, h, h]]
    assert c.sources == {"speaking": "light-asd, none"}
    assert boundary_links(first, second, min_iou=0.9) == []  # 9/11 = 0.82 IoU
    # a person whose box is its face box on the piece's last frame (no body detection after the
    # piece's last one) and its body box on the next piece's first: linked by the face boxes
    face, body = [20, 20, 30, 30], [10, 15, 40, 90]
    before, after = _tracks([1], [[face]]), _tracks([1], [[body]])
    before.face_xyxy[0, 0] = face
    assert boundary_links(before, after) == []  # the next piece found no face
    after.face_xyxy[0, 0] = [20.5, 20, 30.5, 30]
    assert boundary_links(before, after) == [(0, 0)]
    # an object whose box ends at its last detection, 2 frames before the boundary: linked within a
    # 3-frame window, and the frames between its last box and its next are filled in
    cup = _tracks([4], [[[0, 0, 10, 10], None, None]])
    cup_next = _tracks([9], [[None, [3, 0, 13, 10]]])
    assert boundary_links(cup, cup_next) == [] and boundary_links(cup, cup_next, window=3) == [(0, 0)]
    joined, _ = join_tracks([cup, cup_next], [0, 3], 5, [[(0, 0)]])
    assert len(joined) == 1 and joined.present[0].all()
    assert joined.xyxy[0, 2].tolist() == [1.5, 0, 11.5, 10]
    assert joined.distance_m[0].tolist() == [0, 0.25, 0.5, 0.75, 1]
    with pytest.raises(ValueError, match="piece 1 starts at frame 3, expected 2"):
        join_tracks([first, second], [0, 3], 6)


def _relabelled(plan, reference) -> np.ndarray:
    """``plan.subject_id`` in ``reference``'s ids (a piece's ids are its own: the subject a frame
    targets in both is matched by the frames it is targeted in)."""
    mapping = {-1: -1}
    for sid in set(plan.subject_id.tolist()) - {-1}:
        ref = reference.subject_id[plan.subject_id == sid]
        mapping[sid] = int(np.bincount(ref[ref >= 0]).argmax()) if (ref >= 0).any() else -1
    return np.array([mapping[s] for s in plan.subject_id.tolist()])


@pytest.mark.slow
@pytest.mark.shared
def test_a_clip_analysed_in_pieces_plans_as_in_one_and_a_rerun_skips_it(tmp_path):
    """The shot-cut clip, analysed in 2 pieces split at its cut, then planned once over the whole
    clip: the same plan as the one-task analysis (person masks on every frame: with every 6th, the
    nearest mask of a piece is another frame than the whole clip's, which moves the heuristic
    depth's readings); rendered in segments that read the pieces' depth; a rerun skips it, and
    one with another encoder setting reuses the pieces' analysis."""
    import dataclasses

    from conftest import footage

    from autofocuspull.plan import load_plan

    link_models()
    src = tmp_path / "in"
    src.mkdir()
    trim_clip(footage("tears_of_steel_10s.mp4"), src / "tos.mp4", 0.5, 24)  # a cut at frame 9
    p = CFG.perception
    every_frame = dataclasses.replace(p.perceiver, mask_every=1)
    cfg = dataclasses.replace(CFG, perception=dataclasses.replace(p, perceiver=every_frame))
    split = BatchConfig(analysis_piece_s=0.45, segment_s=0.25)  # 0.96 s: 2 pieces, 3 render segments
    with LocalPool(2) as pool:
        whole = run_batch(src, tmp_path / "whole", cfg, BatchConfig(plan_only=True), pool)
        pieces = run_batch(src, tmp_path / "pieces", cfg, split, pool)
        again = run_batch(src, tmp_path / "pieces", cfg, split, pool)
    entry = pieces.clips["tos.mp4"]
    assert pieces.done == ["tos.mp4"] and entry["analysis_pieces"] == [[0, 9], [9, 24]]
    assert set(entry["attempts"]) >= {"plan", "piece0", "piece1", "merge"} and len(entry["segments"]) >= 2
    assert "analysis_pieces" not in whole.clips["tos.mp4"]
    a, b = load_plan(tmp_path / "pieces" / "tos.plan.json"), load_plan(tmp_path / "whole" / "tos.plan.json")
    np.testing.assert_array_equal(_relabelled(a, b), b.subject_id)
    np.testing.assert_allclose(a.focus_m, b.focus_m, rtol=1e-6)
    np.testing.assert_allclose(a.focus_xy, b.focus_xy, atol=1e-6)
    assert a.cuts_s == b.cuts_s and len(a.subjects) == len(b.subjects)
    assert [(q.start_s, q.end_s, q.to_m) for q in a.pulls] == [(q.start_s, q.end_s, q.to_m) for q in b.pulls]
    assert probe(tmp_path / "pieces" / "tos.mp4").n_frames == 24
    assert again.skipped_complete == ["tos.mp4"] and not again.done
    cache = tmp_path / "pieces" / ".cache"
    assert not list(cache.rglob("*.mov"))  # the lossless piece clips went with the finished clip
    records = {p: p.stat().st_mtime_ns for p in cache.rglob("piece-*/analysis.npz")}
    assert len(records) == 2
    crf = dataclasses.replace(cfg, encode=dataclasses.replace(cfg.encode, crf=30, overwrite=True))
    with LocalPool(1) as pool:
        other = run_batch(src, tmp_path / "pieces", crf, split, pool)
    assert other.done == ["tos.mp4"]  # the pieces made again are the same: their analysis is reused
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("piece-*/analysis.npz")} == records
