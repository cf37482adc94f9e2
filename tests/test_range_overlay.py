"""--start/--end (pts-exact frames, sample-exact audio), the overlay preview and the exports that
need the clip, through the command line on a small generated clip."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from autofocuspull.cli import main
from autofocuspull.io import iter_frames, probe
from autofocuspull.io.democlip import DemoClipConfig, make_demo_clip
from autofocuspull.io.trim import TimeRange, range_of, trimmed_clip

START, END = 0.5, 1.3  # at 25 fps: frames 13 (0.52 s) .. 32 (1.28 s)


def _pcm(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        frames = list(c.decode(c.streams.audio[0]))
    parts = [
        f.to_ndarray().reshape(f.samples, -1).T if f.format.is_packed else f.to_ndarray() for f in frames
    ]
    return np.concatenate(parts, axis=1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("clip") / "demo.mp4"
    make_demo_clip(p, DemoClipConfig(width=320, height=180, duration_s=2.0))
    return p


def test_range_keeps_the_frames_in_it_losslessly_and_the_audio_to_the_sample(clip, tmp_path):
    out = trimmed_clip(clip, TimeRange(START, END), str(tmp_path))
    info, src = probe(out), probe(clip)
    assert info.n_frames == 20 and info.pts_s[0] == 0.0
    np.testing.assert_allclose(info.pts_s, src.pts_s[13:33] - src.pts_s[13], atol=1e-9)
    got = [f.rgb for f in iter_frames(out)]
    want = [f.rgb for f in iter_frames(clip)][13:33]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))  # lossless
    a, b = _pcm(out), _pcm(clip)
    assert a.shape[1] == round((END - 0.52) * 48000)  # from the first kept frame to --end
    off = round(0.52 * 48000)
    np.testing.assert_array_equal(a, b[:, off : off + a.shape[1]])  # the same samples, to the sample
    rec = range_of(out)
    assert rec["offset_s"] == pytest.approx(0.52) and rec["source"] == str(clip.resolve())
    assert (
        trimmed_clip(clip, TimeRange(START, END), str(tmp_path)).stat().st_mtime_ns == out.stat().st_mtime_ns
    )


def test_range_errors_are_one_line(clip, tmp_path, capsys):
    code = main(["plan", str(clip), "-o", str(tmp_path / "p.json"), "--start", "5", "-q"])
    assert code == 2 and "no frame in --start 5.0" in capsys.readouterr().err
    code = main(["plan", str(clip), "-o", str(tmp_path / "p.json"), "--start", "1", "--end", "0.5", "-q"])
    assert code == 2 and "expected a time after --start" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.shared
def test_rack_plan_render_on_a_range_with_overlay_and_clip_exports(clip, tmp_path, monkeypatch):
    from batch_helpers import link_models

    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path / "cache"))
    link_models()  # the real face/object/mask weights from ../shared, as a download leaves them
    cache = ["--cache-dir", str(tmp_path / "cache"), "-q"]
    rng = ["--start", str(START), "--end", str(END)]
    racked, overlay, plan_path = tmp_path / "r.mp4", tmp_path / "ov.mp4", tmp_path / "p.json"
    assert main(["rack", str(clip), "-o", str(racked), "--plan-out", str(plan_path), "--preview-overlay",
                 str(overlay), *rng, *cache]) == 0  # fmt: skip
    plan = json.loads(plan_path.read_text())
    assert len(plan["frames"]) == 20 and plan["meta"]["range"]["offset_s"] == pytest.approx(0.52)
    for out in (racked, overlay):
        info = probe(out)
        assert (
            info.n_frames == 20 and info.audio and info.audio[0].duration_s == pytest.approx(0.78, abs=0.03)
        )
    # the overlay draws every visible subject's box in the focused / other colour
    k, box = next((k, b) for s in plan["subjects"] for k, b in enumerate(s["xyxy"]) if b is not None)
    x0, y0, _x1, y1 = (round(v) for v in box)
    drawn = next(f.rgb for f in iter_frames(overlay) if f.index == k)
    src = next(f.rgb for f in iter_frames(clip) if f.index == k + 13)
    edge = drawn[y0 + 2 : y1 - 2, x0].astype(int)
    assert np.abs(edge - src[y0 + 2 : y1 - 2, x0]).mean() > 40  # a line where the clip has none
    # render the same range from the whole-clip plan: it is cut to the range
    whole = tmp_path / "whole.json"
    assert main(["plan", str(clip), "-o", str(whole), *cache]) == 0
    assert main(["render", str(clip), "--plan", str(whole), "-o", str(tmp_path / "w.mp4"), *rng, *cache]) == 0
    assert probe(tmp_path / "w.mp4").n_frames == 20
    # exports that need the clip find the range through the plan
    assert main(["export", str(plan_path), "--to", "depth-png", "-o", str(tmp_path / "d"), *cache]) == 0
    pngs = sorted((tmp_path / "d").iterdir())
    assert len(pngs) == 20 and cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert main(["export", str(plan_path), "--to", "mattes", "-o", str(tmp_path / "m"), *cache]) == 0
    assert {p.name for p in (tmp_path / "m").iterdir()} == {f"subject_{s['id']}" for s in plan["subjects"]}
    assert main(["export", str(plan_path), "--to", "overlay", "-o", str(tmp_path / "o2.mp4"), *cache]) == 0
    assert probe(tmp_path / "o2.mp4").n_frames == 20
    assert main(["export", str(plan_path), "--to", "otio", "-o", str(tmp_path / "p.otio"), *cache]) == 0
    otio = pytest.importorskip("opentimelineio")
    (c,) = list(otio.adapters.read_from_file(str(tmp_path / "p.otio")).find_clips())
    assert c.media_reference.target_url == clip.resolve().as_uri()  # the source, at the range's offset
    assert c.source_range.start_time.to_frames() == 13
