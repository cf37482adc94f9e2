"""The benchmark scripts' glue: what they compute from the benchmarks they call (not the timings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

EVAL = Path(__file__).resolve().parents[1] / "eval"


def _script(name: str):
    sys.path.insert(0, str(EVAL))
    spec = importlib.util.spec_from_file_location(name, EVAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_e2e_fidelity_summary_reads_the_fidelity_benchmarks_rows(monkeypatch):
    e2e = _script("bench_e2e")
    fid = _script("bench_render_fidelity")
    sys.modules["bench_render_fidelity"] = fid

    def rows(scene, layered, naive):
        keys = ("psnr_db", "ssim", "edge_rmse")
        return [
            {"scene": scene, "renderer": r, **dict(zip(keys, figs, strict=True))}
            for r, figs in (("layered", layered), ("naive", naive))
        ]

    table = rows("a", (40.0, 0.99, 5.0), (35.0, 0.98, 9.0)) + rows("b", (30.0, 0.95, 7.0), (31.0, 0.90, 8.0))
    monkeypatch.setattr(fid, "run", lambda w, h, save: table)
    got = e2e.fidelity_rows()
    assert got["means"]["layered"] == {"psnr_db": 35.0, "ssim": 0.97, "edge_rmse": 6.0}
    assert got["means"]["naive"]["psnr_db"] == 33.0
    assert got["layered_beats_naive_everywhere"] is False  # scene b: lower PSNR than the naive one
