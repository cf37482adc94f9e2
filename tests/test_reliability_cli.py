"""Reliability (issue 7) through the real command line: killed runs and concurrent runs.

A ``rack`` subprocess is interrupted with SIGINT while the depth network runs (once a depth chunk
is cached) and with SIGTERM while the output is being written (once its hidden partial file
exists). Either way it must exit 130, leave nothing at or beside the output path, leave every
cache entry loadable, and a rerun must reuse what was cached (same files, not rewritten) and write
a valid video. Two ``rack`` runs on the same input with the same cache folder must both succeed.
The real depth path runs with a tiny random-weight Depth Anything so that chunks are cached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autofocuspull.io import probe, read_audio
from autofocuspull.io.synth import AudioSpec, moving_pattern, tone, write_clip

pytestmark = pytest.mark.slow

FPS = 25
N_FRAMES = 64  # 2.56 s: 4 depth chunks of 16 frames


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    d = tmp_path_factory.mktemp("cli-media")
    clip = d / "in.mp4"
    write_clip(clip, moving_pattern(N_FRAMES, 64, 48), rate=FPS, audio=[AudioSpec(tone(N_FRAMES / FPS))])
    save_random_depth_anything(d / "tiny-depth", size="tiny")
    return {"clip": clip, "depth": d / "tiny-depth"}


def rack_args(media: dict[str, Path], out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "autofocuspull.cli", "rack", str(media["clip"]), "-o", str(out),
        "--depth-model", str(media["depth"]), "--cache-dir", str(cache), "--device", "cpu",
        "--preset", "ultrafast", "--log-level", "info",
    ]  # fmt: skip


def child_env() -> dict[str, str]:
    # single-threaded children: the runs here share 2 cores with each other and with the suite
    return {**os.environ, "OMP_NUM_THREADS": "1", "AUTOFOCUSPULL_PROGRESS": "0"}


def _default_sigint() -> None:
    # a shell without job control starts background jobs with SIGINT ignored, which the child
    # would inherit (and Python then keeps): give it the default, as an interactive terminal does
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as f:
        return subprocess.Popen(
            args, stdout=f, stderr=subprocess.STDOUT, env=env or child_env(), preexec_fn=_default_sigint
        )


def wait_for(proc: subprocess.Popen, ready, what: str, timeout_s: float = 240.0) -> None:
    """Poll until ``ready()`` or fail if the process ended (or time ran out) first."""
    t_end = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > t_end:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def cache_files(cache: Path) -> dict[str, tuple[int, int]]:
    """Every cache entry -> (inode, mtime_ns): a rewritten (renamed-into-place) entry changes both."""
    return {
        str(p.relative_to(cache)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in cache.rglob("*")
        if p.is_file() and p.suffix in (".npz", ".json")
    }


def assert_cache_sound(cache: Path) -> None:
    """No temp files; every npz and json entry loads completely (without pickle)."""
    leftovers = [p.name for p in cache.rglob("*") if p.is_file() and p.name.endswith((".tmp", ".part"))]
    assert leftovers == []
    for p in cache.rglob("*.npz"):
        with np.load(p, allow_pickle=False) as z:  # reading every array checks all its bytes
            assert all(isinstance(z[k], np.ndarray) for k in z.files), p
    for p in cache.rglob("*.json"):
        json.loads(p.read_text())


def assert_valid_output(out: Path, media: dict[str, Path]) -> None:
    info, ref = probe(out), probe(media["clip"])
    assert (info.width, info.height, info.n_frames) == (ref.width, ref.height, ref.n_frames)
    np.testing.assert_allclose(info.pts_s, ref.pts_s, atol=1e-3)
    a_out, a_in = read_audio(out), read_audio(media["clip"])
    assert abs(len(a_out) - len(a_in)) / 16000 <= 1 / FPS


def interrupt_and_resume(media, tmp_path, sig: signal.Signals, ready_name: str) -> None:
    out_dir, cache = tmp_path / "out", tmp_path / "cache"
    out = out_dir / "racked.mp4"
    args = rack_args(media, out, cache)
    proc = start(args, tmp_path / "first.log")
    if ready_name == "depth chunk":
        ready = lambda: any(cache.rglob("chunk_00000.npz"))  # noqa: E731
    else:
        ready = lambda: out_dir.is_dir() and any(out_dir.glob(".racked.*.partial.mp4"))  # noqa: E731
    wait_for(proc, ready, ready_name)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    log = (tmp_path / "first.log").read_text()
    assert rc == 130, log[-3000:]
    assert "interrupted" in log
    assert not out.exists()
    assert list(out_dir.iterdir()) == []  # no partial file, no write-test file
    if ready_name == "depth chunk":  # the depth stage was cut short: it has no meta file yet
        assert "depth_meta.json" not in {Path(k).name for k in cache_files(cache)}
    assert_cache_sound(cache)
    before = cache_files(cache)

    second = subprocess.run(args, capture_output=True, text=True, env=child_env(), timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "subjects: reusing cached analysis" in second.stderr
    after = cache_files(cache)
    assert {k: after.get(k) for k in before} == before  # nothing cached was recomputed
    assert len(after) >= len(before)
    assert_cache_sound(cache)
    assert_valid_output(out, media)
    assert [p.name for p in out_dir.iterdir()] == ["racked.mp4"]


def test_sigint_during_depth_leaves_nothing_and_rerun_resumes(media, tmp_path) -> None:
    interrupt_and_resume(media, tmp_path, signal.SIGINT, "depth chunk")


def test_sigterm_during_render_leaves_nothing_and_rerun_reuses_analysis(media, tmp_path) -> None:
    interrupt_and_resume(media, tmp_path, signal.SIGTERM, "partial output")


def test_two_concurrent_runs_share_the_cache(media, tmp_path) -> None:
    cache = tmp_path / "cache"
    outs = [tmp_path / "a" / "racked.mp4", tmp_path / "b" / "racked.mp4"]
    procs = [start(rack_args(media, o, cache), tmp_path / f"run{k}.log") for k, o in enumerate(outs)]
    rcs = [p.wait(timeout=600) for p in procs]
    logs = [(tmp_path / f"run{k}.log").read_text() for k in range(2)]
    assert rcs == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert_cache_sound(cache)
    for o in outs:
        assert_valid_output(o, media)
    assert len(list(cache.rglob("depth_meta.json"))) == 1  # both runs keyed the same entry


def test_interrupted_uncached_run_leaves_no_scratch_files(media, tmp_path) -> None:
    """``--no-cache`` keeps depth chunks in a temp folder that goes away even when interrupted."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out" / "racked.mp4"
    args = [*rack_args(media, out, tmp_path / "cache"), "--no-cache"]
    proc = start(args, tmp_path / "run.log", {**child_env(), "TMPDIR": str(scratch)})
    wait_for(proc, lambda: any(scratch.rglob("chunk_00000.npz")), "a depth chunk in the scratch folder")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert list(scratch.iterdir()) == []
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert not (tmp_path / "cache").exists()  # --no-cache writes no analysis cache
