"""Keyframed depth runs: keyframe choice, flow propagation, cache reuse and resume, the store."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from autofocuspull.core.cache import StageCache
from autofocuspull.core.types import Frame, SubjectTracks
from autofocuspull.perception.depth import (
    ChunkMemory,
    DepthRunConfig,
    DepthStore,
    MetricFit,
    clip_depth,
    depth_estimator_or_none,
    run_depth,
)
from autofocuspull.perception.depth.run import region_change

SHARED = Path(__file__).parents[1].parent / "shared"


def true_depth(rgb: np.ndarray) -> np.ndarray:
    """The fake network's answer: 1 + red / 255 at half resolution (a pure function of the image)."""
    r = rgb[..., 0].astype(np.float32)
    return 1.0 + cv2.resize(r, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA) / 255.0


class CountingEstimator:
    kind = "relative_inverse"
    source = "counting-fake"

    def __init__(self) -> None:
        self.calls = 0
        self.frames = 0

    def predict(self, images):
        self.calls += 1
        self.frames += len(images)
        return np.stack([true_depth(im) for im in images])


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 3.0)
    t = (t - t.min()) / (t.max() - t.min()) * 255.0
    return t.astype(np.uint8)


def panning_frames(n: int, *, step_px: int = 2, cut_at: int | None = None, h: int = 96, w: int = 128):
    """A textured scene panning ``step_px`` per frame; a different scene from ``cut_at`` on."""
    wide = _texture(h, w + step_px * n, seed=0)
    other = _texture(h, w + step_px * n, seed=1) // 3  # a darker, different scene
    for i in range(n):
        src = other if cut_at is not None and i >= cut_at else wide
        yield Frame(i, i / 24.0, np.ascontiguousarray(src[:, step_px * i : step_px * i + w]))


def _run(frames, est, **kw):
    return list(run_depth(frames, est, **kw))


def test_keyframes_every_k_and_on_large_motion(tmp_path):
    est = CountingEstimator()
    cfg = DepthRunConfig(keyframe_interval=4, motion_threshold=255.0, chunk_size=8)
    out = _run(panning_frames(18), est, config=cfg, cache=StageCache(tmp_path / "a"))
    assert est.frames == 5  # frames 0, 4, 8, 12, 16
    store = DepthStore(StageCache(tmp_path / "a"))
    assert [i for i in range(18) if store.is_keyframe(i)] == [0, 4, 8, 12, 16]
    assert [f.index for f in out] == list(range(18)) and out[0].values.shape == (48, 64)
    assert all(f.kind == "relative_inverse" and f.source == "counting-fake" for f in out)

    est = CountingEstimator()
    cfg = DepthRunConfig(keyframe_interval=100, motion_threshold=20.0, chunk_size=8)
    _run(panning_frames(18, step_px=0, cut_at=11), est, config=cfg, cache=StageCache(tmp_path / "b"))
    store = DepthStore(StageCache(tmp_path / "b"))
    assert [i for i in range(18) if store.is_keyframe(i)] == [0, 11]


def _moving_square(n: int, h: int = 96, w: int = 128):
    """A still textured scene with a 16 px square sliding 2 px per frame inside the box
    x 0.5..0.9, y 0.25..0.75 (too small a change to move the frame's mean, large inside the box)."""
    base = _texture(h, w)
    for i in range(n):
        rgb = base.copy()
        x = 64 + 2 * i
        rgb[32:48, x : x + 16] = 255
        yield Frame(i, i / 24.0, rgb)


def test_subject_motion_forces_keyframes_where_the_frame_barely_changes(tmp_path):
    box = np.array([[0.5, 0.25, 0.9, 0.75]])
    cfg = DepthRunConfig(keyframe_interval=100, motion_threshold=8.0, chunk_size=8)
    keys = {}
    for name, regions in (("frame", None), ("subject", lambda i: box), ("elsewhere", lambda i: box - 0.5)):
        est = CountingEstimator()
        _run(_moving_square(12), est, config=cfg, cache=StageCache(tmp_path / name), regions=regions)
        store = DepthStore(StageCache(tmp_path / name))
        keys[name] = [i for i in range(12) if store.is_keyframe(i)]
    assert keys["frame"] == keys["elsewhere"] == [0]  # whole-frame change stays under the threshold
    assert keys["subject"][0] == 0 and len(keys["subject"]) >= 3  # the box's own change crosses it


def test_region_change_is_the_worst_box_and_skips_absent_ones():
    a = np.zeros((10, 20), np.uint8)
    b = a.copy()
    b[:5, :10] = 100  # the top-left quarter changed by 100
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [np.nan] * 4, [0.2, 0.2, 0.2, 0.9]])
    assert region_change(a, b, boxes) == pytest.approx(100.0)
    assert region_change(a, b, boxes[1:]) == 0.0
    assert region_change(a, b, np.zeros((0, 4))) == 0.0
    assert region_change(a, b, np.array([[0.0, 0.0, 1.0, 1.0]])) == pytest.approx(25.0)


def test_flow_propagation_beats_holding_the_keyframe():
    frames = list(panning_frames(8, step_px=1))  # up to 7 px from the keyframe
    errs = {}
    for prop, method in (("flow", "dis"), ("flow", "farneback"), ("hold", "dis")):
        cfg = DepthRunConfig(
            keyframe_interval=8, motion_threshold=255.0, propagation=prop, flow_method=method
        )
        out = _run(frames, CountingEstimator(), config=cfg)
        # Compare away from the border that pans in (no keyframe content there).
        errs[prop, method] = np.mean(
            [np.abs(out[i].values - true_depth(frames[i].rgb))[4:-4, 4:-12].mean() for i in range(1, 8)]
        )
    np.testing.assert_allclose(
        _run(frames[:1], CountingEstimator())[0].values, true_depth(frames[0].rgb), rtol=1e-3
    )
    assert errs["flow", "dis"] < 0.1 * errs["hold", "dis"]
    assert errs["flow", "farneback"] < 0.1 * errs["hold", "dis"]


def test_rerun_reads_the_cache_without_inference_or_decoding(tmp_path):
    cfg = DepthRunConfig(keyframe_interval=2, chunk_size=8)
    est = CountingEstimator()
    first = _run(panning_frames(20), est, config=cfg, cache=StageCache(tmp_path))
    assert est.calls > 0

    def must_not_decode():
        raise AssertionError("frames were decoded on a cached rerun")
        yield

    est2 = CountingEstimator()
    done = []
    second = _run(
        must_not_decode(), est2, config=cfg, cache=StageCache(tmp_path), progress=lambda i, n: done.append(i)
    )
    assert est2.calls == 0 and len(second) == 20 and done[-1] == 20
    for a, b in zip(first, second, strict=True):
        assert (a.index, a.t_s) == (b.index, b.t_s)
        np.testing.assert_array_equal(a.values, b.values)


def test_interrupted_run_resumes_from_complete_chunks(tmp_path):
    cfg = DepthRunConfig(keyframe_interval=1, chunk_size=8, motion_threshold=255.0)

    def interrupted():
        for f in panning_frames(30):
            if f.index == 20:
                raise KeyboardInterrupt
            yield f

    with pytest.raises(KeyboardInterrupt):
        _run(interrupted(), CountingEstimator(), config=cfg, cache=StageCache(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("chunk_*.npz")) == ["chunk_00000.npz", "chunk_00001.npz"]
    est = CountingEstimator()
    resumed = _run(panning_frames(30), est, config=cfg, cache=StageCache(tmp_path))
    assert est.frames == 30 - 16
    clean = _run(panning_frames(30), CountingEstimator(), config=cfg)
    for a, b in zip(clean, resumed, strict=True):
        np.testing.assert_allclose(a.values, b.values, rtol=1e-3)


def test_store_serves_frames_with_bounded_memory_and_metres(tmp_path):
    cfg = DepthRunConfig(chunk_size=4)
    out = _run(panning_frames(13), CountingEstimator(), config=cfg, cache=StageCache(tmp_path))
    chunk_bytes = 4 * 48 * 64 * 2 + 4 * 8 + 4  # float16 depth, int64 index, bool keyframe flags
    store = DepthStore(StageCache(tmp_path), memory=ChunkMemory(max_bytes=2 * chunk_bytes))
    assert store.n_frames == 13 and store.shape_hw == (48, 64) and store.source == "counting-fake"
    for i in (0, 5, 12, 3, 9):
        np.testing.assert_array_equal(store.rel_at(i), out[i].values)
        assert len(store.memory) <= 2
    with pytest.raises(RuntimeError, match="calibrate"):
        store.depth_m_at(0)
    store.calibrate(MetricFit(0.5, 0.0, "test"))
    np.testing.assert_allclose(store.depth_m_at(5), 1.0 / (0.5 * out[5].values), rtol=1e-6)
    with pytest.raises(IndexError):
        store.rel_at(13)


def test_store_serves_the_chunks_the_run_kept_without_reading_the_files(tmp_path):
    memory = ChunkMemory()
    cfg = DepthRunConfig(chunk_size=4)
    out = _run(
        panning_frames(13), CountingEstimator(), config=cfg, cache=StageCache(tmp_path), on_chunk=memory.keep
    )
    assert len(memory) == 4
    for f in tmp_path.rglob("*.npz"):
        f.unlink()  # only the run's metadata is left on disk
    store = DepthStore(StageCache(tmp_path), memory=memory)
    for i in range(13):
        np.testing.assert_array_equal(store.rel_at(i), out[i].values)
    small = ChunkMemory(max_bytes=1)  # too small for any chunk: the newest one is still held
    for c in range(3):
        small.keep(
            c,
            {
                "index": np.arange(2),
                "depth": np.zeros((2, 4, 4), np.float16),
                "is_keyframe": np.ones(2, bool),
            },
        )
    assert len(small) == 1 and small.get(2) is not None and small.get(0) is None


def test_frames_out_of_order_are_refused():
    frames = [Frame(0, 0.0, np.zeros((8, 8, 3), np.uint8)), Frame(2, 0.1, np.zeros((8, 8, 3), np.uint8))]
    with pytest.raises(ValueError, match="expected frame index 1, got 2"):
        _run(frames, CountingEstimator())


def test_clip_depth_calibrates_to_a_face_prior(tmp_path):
    frames = list(panning_frames(6, step_px=0))
    face = np.array([40, 20, 72, 60], np.float32)  # 32 px wide; focal 200 px -> 200 * 0.16 / 32 = 1 m
    tracks = SubjectTracks.allocate([1], ["person"], 6)
    tracks.face_xyxy[0, :] = face
    tracks.xyxy[0, :] = face
    store = clip_depth(
        iter(frames),
        CountingEstimator(),
        StageCache(tmp_path),
        tracks=tracks,
        frame_size_hw=(96, 128),
        focal_px=200.0,
    )
    from autofocuspull.perception.distance import sample_subject_depth

    # the face core on the half-size map (x 24..32, y 14..24), read as focus distances read it
    core = store.depth_m_at(3)[14:24, 24:32]
    assert np.median(core) == pytest.approx(1.0, rel=1e-3)
    assert sample_subject_depth(store.depth_m_at(3), tracks, 0, 3, (96, 128)) == pytest.approx(1.0, rel=1e-3)
    assert store.segment_starts == [0] and "subject size priors" in store.fits[0].how


def test_unavailable_model_gives_reason_for_the_heuristic(tmp_path):
    est, reason = depth_estimator_or_none(str(tmp_path / "missing"))
    assert est is None and "--depth-model" in reason


@pytest.mark.shared
@pytest.mark.slow
def test_tiny_real_model_on_real_footage(tmp_path):
    clip = SHARED / "footage" / "carphone.mp4"
    if not clip.is_file():
        pytest.skip("../shared/footage/carphone.mp4 absent: real-footage depth run not possible")
    import av

    from autofocuspull.perception.depth import build_depth_estimator
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    save_random_depth_anything(tmp_path / "model", size="tiny")
    est = build_depth_estimator(str(tmp_path / "model"), input_size=56)
    with av.open(str(clip)) as c:
        rgbs = [f.to_ndarray(format="rgb24") for _, f in zip(range(12), c.decode(video=0), strict=False)]
    frames = [Frame(i, i / 30.0, im) for i, im in enumerate(rgbs)]
    cfg = DepthRunConfig(keyframe_interval=3, chunk_size=6)
    out = _run(frames, est, config=cfg, cache=StageCache(tmp_path / "cache"))
    h, w = rgbs[0].shape[:2]
    assert len(out) == 12 and out[0].values.shape == est.output_size_hw(h, w)
    assert all(np.all(np.isfinite(f.values)) for f in out)


class GainEstimator(CountingEstimator):
    """Like the fake network, but frame k's map is multiplied by ``gains[k]`` (a scale jump per shot)."""

    def __init__(self, gains) -> None:
        super().__init__()
        self.gains = list(gains)

    def predict(self, images):
        out = super().predict(images)
        g = self.gains[self.frames - len(images) : self.frames]
        return out * np.asarray(g, np.float32)[:, None, None]


def test_each_shot_is_aligned_and_calibrated_on_its_own(tmp_path):
    frames = list(panning_frames(12, step_px=0, cut_at=6))
    face = np.array([40, 20, 72, 60], np.float32)  # 1 m at focal 200 px
    tracks = SubjectTracks.allocate([1], ["person"], 12)
    tracks.face_xyxy[0, :] = face
    tracks.xyxy[0, :] = face
    est = GainEstimator([1.0] * 6 + [4.0] * 6)
    store = clip_depth(
        iter(frames), est, StageCache(tmp_path), tracks=tracks, frame_size_hw=(96, 128), focal_px=200.0,
        config=DepthRunConfig(keyframe_interval=1),  # the network sees every frame (gains index frames)
    )  # fmt: skip
    assert store.segment_starts == [0, 6] and store.segment_of(5) == 0 and store.segment_of(6) == 1
    assert "frames 0-5: subject size priors" in store.note and "frames 6-11: subject" in store.note
    for i in (3, 9):
        assert np.median(store.depth_m_at(i)[14:24, 24:32]) == pytest.approx(1.0, rel=1e-3)  # face core
    # The new shot starts its own reference: its map is the network's (x 4), not rescaled to shot 1.
    np.testing.assert_allclose(store.rel_at(6), 4.0 * true_depth(frames[6].rgb), rtol=1e-3)


def test_given_cuts_start_new_shots(tmp_path):
    cfg = DepthRunConfig(keyframe_interval=100, motion_threshold=255.0)
    est = CountingEstimator()
    _run(panning_frames(10, step_px=0), est, config=cfg, cache=StageCache(tmp_path), cuts=[4])
    store = DepthStore(StageCache(tmp_path))
    assert store.segment_starts == [0, 4] and est.frames == 2  # a cut is also a keyframe
    with pytest.raises(ValueError, match="expected 2 fits"):
        store.calibrate([MetricFit(1.0, 0.0, "one")])


def test_heuristic_face_only_subject_covers_head_and_shoulders() -> None:
    from autofocuspull.perception.depth.heuristic import head_and_shoulders, heuristic_depth_map

    face = np.array([40.0, 20.0, 60.0, 44.0])  # 20 x 24 px face
    m = heuristic_depth_map((120, 100), face[None], np.array([1.5]), face_only=np.array([True]))
    assert m[32, 50] == pytest.approx(1.5)  # the face
    assert m[14, 50] == pytest.approx(1.5)  # hair above the face box
    assert m[90, 50] == pytest.approx(1.5) and m[90, 25] == pytest.approx(1.5)  # torso, shoulders
    assert m[30, 5] == pytest.approx(20.0) and m[5, 95] == pytest.approx(20.0)  # background
    plain = heuristic_depth_map((120, 100), face[None], np.array([1.5]))
    assert plain[90, 50] == pytest.approx(20.0)  # without the flag only the box's ellipse is painted
    assert head_and_shoulders((120, 100), face).sum() > 4 * (plain < 20).sum()


def test_stored_depth_is_shrunk_by_area_averaging() -> None:
    from autofocuspull.perception.depth.run import shrink_for_storage

    d = np.full((518, 924), 2.0, np.float32)
    d[:, 462:] = 4.0  # right half twice as far
    small = shrink_for_storage(d, 384)
    assert small.shape == (215, 384)
    np.testing.assert_allclose(small[:, :190], 2.0, rtol=1e-6)
    np.testing.assert_allclose(small[:, 194:], 4.0, rtol=1e-6)
    assert shrink_for_storage(d[:100, :200], 384).shape == (100, 200)  # never enlarged
