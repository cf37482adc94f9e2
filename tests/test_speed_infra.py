"""Stage timing, heap settings and thread counts: the machinery the speed work rests on."""

from __future__ import annotations

import platform
import time

import pytest

from autofocuspull.core import heap, threads, timing


def test_stages_are_exclusive_and_never_count_time_twice():
    t0 = time.perf_counter()
    with timing.recording() as times, timing.stage("outer"):
        for _ in timing.timed_iter("decode", range(3)):
            with timing.stage("inner"):
                sum(range(1000))
        with timing.stage("inner"):
            pass
    total = time.perf_counter() - t0
    got = times.as_dict()
    assert got["decode"]["calls"] == 4  # three items and the StopIteration
    assert got["inner"]["calls"] == 4 and got["outer"]["calls"] == 1 and got["other"]["calls"] == 1
    assert 0 < sum(v["wall_s"] for v in got.values()) <= total  # exclusive: nothing counted twice
    assert all(v["wall_s"] >= 0 and v["user_s"] >= 0 for v in got.values())


def test_timing_is_a_no_op_outside_a_recording():
    class Model:
        size = 3

        def __call__(self, x):
            return x + 1

        def detect(self, x):
            return x * 2

    m = Model()
    assert timing.timed_model(m, "x") is m and timing.timed_model(None, "x") is None
    assert list(timing.timed_iter("decode", [1, 2])) == [1, 2]
    with timing.recording() as times:
        wrapped = timing.timed_model(m, "detection")
        assert wrapped(1) == 2 and wrapped.detect(2) == 4 and wrapped.size == 3
    assert times.totals["detection"].calls == 2


def test_trimmed_yields_everything_in_order():
    assert list(heap.trimmed(iter(range(10)), every=3)) == list(range(10))


def test_trimmed_trims_only_when_more_is_free_than_kept_and_in_use(monkeypatch):
    # (in use, free) bytes at the checks; None: can't be read
    usage = iter([(50, 10), (50, 300), (500, 300), (500, 600), None])
    trims = []
    monkeypatch.setattr(heap, "heap_usage", lambda: next(usage))
    monkeypatch.setattr(heap, "release_free_memory", lambda: trims.append(True))
    assert list(heap.trimmed(range(15), every=3, keep_free_bytes=100)) == list(range(15))
    assert len(trims) == 3  # at 300 free of 50 in use, at 600 of 500, and blind


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallinfo2 is glibc's")
def test_heap_usage_sees_a_freed_buffer():
    import numpy as np

    heap.configure_heap()  # large buffers stay in the heap, so freeing one shows up as free bytes
    buf = np.ones(64 << 20, np.uint8)  # 64 MiB, touched
    held = heap.heap_usage()
    del buf
    after = heap.heap_usage()
    assert after[1] - held[1] >= 60 << 20 and held[0] - after[0] >= 60 << 20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_configure_heap_takes_effect_on_glibc():
    assert heap.configure_heap() is True


def test_set_threads_reaches_torch_opencv_and_onnxruntime():
    import cv2
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.set_threads(1) == 1
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        opts = threads.onnx_session_options()
        assert opts.intra_op_num_threads == 1
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        with pytest.raises(ValueError, match="expected >= 1"):
            threads.set_threads(0)
    finally:
        threads.set_threads(before)


def test_render_batches_hold_about_four_1080p_frames_of_pixels():
    from autofocuspull.config import RunConfig
    from autofocuspull.pipeline import render_batch_frames, render_workers

    assert render_batch_frames(640, 360) == 4 and render_batch_frames(1920, 1080) == 4
    assert render_batch_frames(2560, 1440) == 2 and render_batch_frames(3840, 2160) == 1
    assert render_batch_frames(7680, 4320) == 1
    assert render_workers(RunConfig(threads=1), "cpu") == 1
    assert render_workers(RunConfig(threads=8), "cpu") == 2
    assert render_workers(RunConfig(threads=8), "cuda:0") == 1
    assert render_workers(RunConfig(render_workers=3), "cpu") == 3
