"""Batch racking on a real local Ray cluster (2 CPUs) with short real clips from ../shared/footage:
a worker killed mid-clip is retried, a clip that keeps killing its worker is reported without
stopping the batch, a rerun skips what is complete; and the process pool, a local Ray instance and
a joined Ray cluster (``--ray-address``, a separate driver process) make identical plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import kill_once_plan, link_models, short_clips

from autofocuspull.batch import BatchConfig, LocalPool, Stages, run_batch
from autofocuspull.config import RackConfig
from autofocuspull.io import EncodeConfig, probe

ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'autofocuspull[ray]'")
from autofocuspull.batch import RayExecutor  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.shared]
TESTS = Path(__file__).resolve().parent
CFG = RackConfig(encode=EncodeConfig(preset="ultrafast"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return short_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def ray_local():
    """``--ray``: a local Ray instance started by the executor (2 CPUs), shared by the tests here."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    executor = RayExecutor(None, num_cpus=2, max_retries=1)
    assert executor.workers == 2 and executor.gpu_fraction == 0.0  # sized to its 2 CPUs, no GPU asked
    yield executor
    executor.close()


def two_clips(clips: Path, folder: Path) -> Path:
    """The shot-cut clip and the smallest one (links: the files are the same, the folder is new)."""
    folder.mkdir()
    for name in ("tos.mp4", "car.mov"):
        (folder / name).symlink_to(clips / name)
    return folder


def _plans(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.rglob("*.plan.json"))}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for name in a:  # every field: per-frame focus, subjects, pulls, cuts, decisions, warnings, config
        pa, pb = (json.loads(json.dumps(p)) for p in (a[name], b[name]))
        for p in (pa, pb):  # where each run kept its analysis (OUTDIR/.cache) is the one difference
            p["meta"]["run_config"]["run"].pop("cache_dir")
        assert pa == pb, name


def test_process_pool_local_ray_and_joined_cluster_make_identical_plans(clips, ray_local, tmp_path):
    link_models()
    plan_only = BatchConfig(plan_only=True, analysis_piece_s=0.45)  # the shot-cut clip: 2 analysis pieces
    outs = {m: tmp_path / m for m in ("pool", "ray", "address")}  # separate caches: each analyses anew
    clips = two_clips(clips, tmp_path / "two")
    with LocalPool(2) as pool:
        r_pool = run_batch(clips, outs["pool"], CFG, plan_only, pool)
    r_ray = run_batch(clips, outs["ray"], CFG, plan_only, ray_local)
    print(f"pool {r_pool.wall_s:.1f} s, local ray {r_ray.wall_s:.1f} s")
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "autofocuspull.cli", "batch", str(clips), "-o", str(outs["address"]),
           "--plan-only", "--analysis-piece-s", "0.45", "--ray-address", address, "--preset", "ultrafast",
           "--json", "-q"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    print(f"joined cluster {summary['wall_s']:.1f} s")
    assert summary["done"] == 2 and summary["executor"].startswith("ray cluster at")
    assert len(r_pool.done) == len(r_ray.done) == 2 and not r_pool.failed and not r_ray.failed
    for r in (r_pool, r_ray):  # the split path: pieces analysed as tasks of their own, then merged
        assert r.clips["tos.mp4"]["analysis_pieces"] == [[0, 9], [9, 24]]
        assert "analysis_pieces" not in r.clips["car.mov"]  # 0.4 s: one task
    manifest = json.loads((outs["address"] / "autofocuspull-batch.json").read_text())
    assert manifest["clips"]["tos.mp4"]["analysis_pieces"] == [[0, 9], [9, 24]]
    _same(_plans(outs["pool"]), _plans(outs["ray"]))
    _same(_plans(outs["pool"]), _plans(outs["address"]))


def test_ray_batch_retries_a_killed_worker_and_reports_a_clip_that_keeps_failing(
    clips, ray_local, tmp_path, monkeypatch
):
    link_models()
    markers = tmp_path / "markers"
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_MARKERS", str(markers))
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_KILL", "tos.mp4")  # killed on its first attempt only
    monkeypatch.setenv("AUTOFOCUSPULL_TEST_KILL_ALWAYS", "car.mov")  # killed on every attempt
    out = tmp_path / "out"
    bcfg = BatchConfig(segment_s=0.25, max_retries=1)  # 1 s clips: cut into segments at shot cuts
    with RayExecutor(max_retries=1) as executor:  # joins the running instance, its own actors
        result = run_batch(clips, out, CFG, bcfg, executor, stages=Stages(plan=kill_once_plan))
    assert sorted(result.done) == ["sub/box.mp4", "tos.mp4"] and result.not_media[0].path == "notes.txt"
    assert result.failed == ["car.mov"] and "WorkerDied" in result.clips["car.mov"]["error"]
    assert len(list(markers.glob("tos.mp4.killed.*"))) == 1  # killed once, then retried to the end
    assert len(list(markers.glob("car.mov.killed.*"))) == 2  # first attempt + 1 retry, then given up
    tos = result.clips["tos.mp4"]
    assert tos["attempts"]["plan"] == 2 and len(tos["segments"]) >= 2  # split at the shot cut
    src, dst = probe(clips / "tos.mp4"), probe(out / "tos.mp4")
    assert dst.n_frames == src.n_frames and np.allclose(dst.pts_s, src.pts_s, atol=1e-6)
    assert len(probe(out / "sub" / "box.mp4").audio) == 1  # audio kept through the segment join
    assert max(w["models_built"] for w in tos["workers"]) <= 4  # yunet, yolox, deeplab, asd: once each
    manifest = json.loads((out / "autofocuspull-batch.json").read_text())
    entry = manifest["clips"]["tos.mp4"]
    assert entry["status"] == "done" and len(entry["input"]["sha256"]) == 64
    assert (
        len(entry["outputs"]["video"]["sha256"]) == 64
        and entry["config"]["rack"]["encode"]["preset"] == "ultrafast"
    )
    assert manifest["clips"]["car.mov"]["status"] == "failed"

    monkeypatch.delenv("AUTOFOCUSPULL_TEST_KILL_ALWAYS")  # the rerun: only the failed clip runs
    with RayExecutor(max_retries=1) as executor:
        again = run_batch(clips, out, CFG, bcfg, executor, stages=Stages(plan=kill_once_plan))
    assert sorted(again.skipped_complete) == ["sub/box.mp4", "tos.mp4"] and again.done == ["car.mov"]


GPU_RUN = """
import json, sys
import ray
from autofocuspull.batch import BatchConfig, RayExecutor, run_batch
from autofocuspull.config import RackConfig
from autofocuspull.io import EncodeConfig

ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, configure_logging=False,
         log_to_driver=False, object_store_memory=256 * 1024**2)
sizes = {g: RayExecutor(None, gpu_per_worker=g).workers for g in (1.0, 0.5, 0.25)}
cfg = RackConfig(encode=EncodeConfig(preset="ultrafast"))
with RayExecutor(None, gpu_per_worker=1.0) as ex:
    described = ex.describe()
    r = run_batch(sys.argv[1], sys.argv[2], cfg, BatchConfig(analysis_piece_s=0.45, segment_s=0.25), ex)
print(json.dumps({"sizes": sizes, "described": described, "done": r.done, "failed": r.failed,
                  "workers": {k: v["workers"] for k, v in r.clips.items()}}))
"""


def test_gpu_workers_ask_for_their_share_and_fall_back_to_the_cpu_loudly_without_cuda(clips, tmp_path):
    """A cluster that declares 1 logical GPU on this CPU-only machine (its own Ray instance, in a
    process of its own): workers are bounded by GPUs / gpu_per_worker, the analysis and render tasks
    run on workers holding the GPU share and, torch seeing no CUDA, on the CPU, said loudly; the
    light tasks (joining the pieces and planning, finishing) hold no GPU."""
    import torch

    link_models()
    folder = two_clips(clips, tmp_path / "two")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", GPU_RUN, str(folder), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=400, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    # 2 CPUs, 1 GPU: a whole GPU each allows one worker, half of one two, a quarter still two (CPUs)
    assert got["sizes"] == {"1.0": 1, "0.5": 2, "0.25": 2}
    assert "1 GPU each" in got["described"] and "cluster 2 CPU, 1 GPU" in got["described"]
    assert sorted(got["done"]) == ["car.mov", "tos.mp4"] and not got["failed"]
    tags = [w for ws in got["workers"].values() for w in ws]
    assert {w["stage"] for w in tags} == {"plan", "piece", "merge", "render", "finish"}  # tos: in pieces
    heavy = [w for w in tags if w["stage"] in ("plan", "piece", "render")]
    light = [w for w in tags if w["stage"] in ("merge", "finish")]
    assert all(w["gpu_share"] == 1.0 for w in heavy) and all(w["gpu_share"] == 0 for w in light)
    assert len({w["pid"] for w in heavy}) == 1  # one GPU worker ran every analysis and render task
    assert not {w["pid"] for w in heavy} & {w["pid"] for w in light}
    cuda = torch.cuda.is_available()
    assert {w["device"] for w in heavy} == {"cuda" if cuda else "cpu"}
    if not cuda:  # this machine: the share can't be used, and the driver says so
        assert all(w["gpu_unused"] for w in heavy)
        assert "was given 1 GPU but runs on the CPU" in run.stderr
