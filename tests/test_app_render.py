"""The app's full-size render by pieces: an edit re-renders only the pieces its changed frames fall
in, and the joined file is the same as a render from scratch (frames, times, audio)."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from test_app import FPS, A, B, H, T, W, _analysis
from test_output_files import _top_level_boxes

from autofocuspull.app import AppSession, default_paths
from autofocuspull.app.pieces import PieceRenderer
from autofocuspull.app.session import AppConfig
from autofocuspull.config import RunConfig
from autofocuspull.core.types import Lens
from autofocuspull.io import iter_frames
from autofocuspull.io.synth import AudioSpec, write_clip
from autofocuspull.io.writer import EncodeConfig
from autofocuspull.pipeline import RackConfig, frame_processor, render_clip
from autofocuspull.plan import PlannerConfig

PIECE_S = 0.5  # 4 s clip: 8 pieces of 12-13 frames


def _clip_with_audio(folder):
    yy, xx = np.mgrid[0:H, 0:W]
    frames = []
    for k in range(T):
        f = np.zeros((H, W, 3), np.uint8)
        f[..., 0] = (xx * 255 // W).astype(np.uint8)
        f[..., 1] = ((xx + yy + k) % 16 * 16).astype(np.uint8)
        frames.append(f)
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * T / FPS)) / 48000).astype(np.float32)
    p = folder / "talk.mp4"
    write_clip(p, frames, rate=Fraction(FPS), audio=[AudioSpec(tone)])
    return p


def _cfg(cache, **encode):
    return RackConfig(planner=PlannerConfig(mode="dialogue"), lens=Lens(f_number=2.0),
                      run=RunConfig(cache_dir=str(cache)), encode=EncodeConfig(**encode))  # fmt: skip


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    clip = _clip_with_audio(folder)
    plan_path, kf_path = default_paths(clip, None)
    s = AppSession(clip, _analysis(clip), _cfg(tmp_path / "cache"), plan_path, kf_path,
                   app_config=AppConfig(preview_max_side_px=W, full_piece_s=PIECE_S))  # fmt: skip
    yield s
    s.stop()


def full_render(s, timeout_s=120.0):
    out = s.start_full_render()
    deadline = time.monotonic() + timeout_s
    while s.status()["full_render"]["state"] == "running":
        assert time.monotonic() < deadline, "full render did not finish"
        time.sleep(0.05)
    st = s.status()["full_render"]
    assert st["state"] == "done", st
    return out, st


def decoded(path):
    """(pts list, frames (N, H, W, 3) uint8, audio seconds) of a file."""
    with av.open(str(path)) as c:
        pts, rgb = [], []
        for f in c.decode(video=0):
            pts.append(f.pts)
            rgb.append(f.to_ndarray(format="rgb24"))
    with av.open(str(path)) as c:
        audio_s = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    return pts, np.stack(rgb), audio_s


def _psnr(x, y):
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255**2 / mse)


def touched(bounds, span):
    a, b = span
    return [i for i, (p, q) in enumerate(bounds) if p < b and a < q]


def test_an_edit_rerenders_only_the_pieces_it_changed(session, tmp_path):
    s = session
    out, st = full_render(s)
    bounds = s.pieces.bounds
    assert len(bounds) == 8 and bounds[0][0] == 0 and bounds[-1][1] == T
    assert (st["pieces"], st["rendered"], st["reused"], st["frames_rendered"]) == (8, 8, 0, T)
    pts0, first, audio0 = decoded(out)
    boxes = _top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart, as a single-pass render
    assert len(pts0) == T and audio0 == pytest.approx(T / FPS, abs=0.05)

    _, st = full_render(s)  # nothing changed: nothing rendered, the same frames
    assert (st["rendered"], st["reused"]) == (0, 8)
    assert np.array_equal(decoded(out)[1], first)

    span = s.add_decision(2.8, A, None, "strong")  # back to A after B's answer has started
    assert 0 < span[0] < span[1] <= T
    redo = touched(bounds, span)
    assert 0 < len(redo) < 8
    _, st = full_render(s)
    assert (st["rendered"], st["reused"], st["frames_rendered"]) == (
        len(redo),
        8 - len(redo),
        sum(bounds[i][1] - bounds[i][0] for i in redo),
    )
    assert len(list(s.pieces.folder.glob("*.mp4"))) == 8  # the replaced pieces are gone
    pts1, second, audio1 = decoded(out)

    # the same as a render from scratch of the edited plan (same pieces, an empty cache)
    fresh = PieceRenderer(s.clip, s.analysis.info, [], s.analysis.depth, _cfg(tmp_path / "fresh"), PIECE_S)
    ref = fresh.render(s.plan, tmp_path / "fresh.mp4")
    assert ref["rendered"] == 8
    pts2, scratch, audio2 = decoded(tmp_path / "fresh.mp4")
    assert pts1 == pts2 == pts0 and audio1 == audio2 == audio0
    # x264 given the same frames does not always give the same bits in a process that renders
    # between frames (seen here: 1-41 codes on a few frames), so re-rendered pieces agree with the
    # scratch render within the codec's tolerance, and reused ones are the first render's bits
    assert _psnr(second, scratch) > 40
    kept = [k for i, (p, q) in enumerate(bounds) if i not in redo for k in range(p, q)]
    assert np.array_equal(second[kept], first[kept])  # untouched pieces: the first render's frames
    a, b = span
    assert not np.array_equal(second[a:b], first[a:b])  # the changed frames do change

    # and as good as a single-pass render of the whole clip (same times; the codec's error against
    # the rendered frames about the same, with a keyframe every piece instead of one in all)
    whole = render_clip(s.clip, s.plan, tmp_path / "whole.mp4", s.cfg, s.analysis.depth, s.analysis.info)
    pts3, single, _ = decoded(whole)
    process = frame_processor(s.plan, s.cfg, s.analysis.depth, s.analysis.info)
    truth = np.stack(list(process(iter_frames(s.clip, s.analysis.info))))
    assert pts3 == pts1 and _psnr(second, truth) > _psnr(single, truth) - 1.0


def test_a_dragged_pull_rerenders_only_its_pieces(session):
    s = session
    full_render(s)
    p = s.plan.pulls[0]
    span = s.retime(0, p.start_s - 0.3, p.end_s)
    redo = touched(s.pieces.bounds, span)
    _, st = full_render(s)
    assert (st["rendered"], st["reused"]) == (len(redo), 8 - len(redo)) and 0 < len(redo) <= 3
    assert st["version"] == s.version


def test_a_codec_that_cant_be_joined_renders_whole_and_says_so(session, tmp_path):
    s = session
    s.cfg = dataclasses.replace(s.cfg, encode=EncodeConfig(codec="ffv1"))
    out, st = full_render(s)
    assert out.suffix == ".mkv" and (st["pieces"], st["rendered"]) == (1, 1)
    assert "ffv1" in st["note"] and "whole" in st["note"]
    assert len(decoded(out)[0]) == T


def test_status_reports_the_full_renders_pieces(session):
    s = session
    assert s.status()["full_render"] == {"state": "idle"}
    full_render(s)
    fr = s.status()["full_render"]
    assert {"pieces", "rendered", "reused", "frames_rendered", "seconds"} <= set(fr)
    assert B in s.plan.subject_id  # the automatic plan racks to B: the test edits above have a pull


def test_an_edit_in_one_shot_can_change_the_shot_before():
    """Why the app re-plans the whole clip (autofocuspull/app/session.py): the solver's optimum is
    coupled across a cut by how long the choice has been held, so a decision just after a cut
    changes the shot before it, and no window bounded by cuts would find the whole-clip plan."""
    from autofocuspull.plan.viterbi import viterbi_hold

    cut, n, hold = 6, 12, 3
    u = np.zeros((2, n))  # rows: subjects A, B; B a hair better before the cut, the only one after
    u[0, :cut], u[1, :cut], u[1, cut:] = 1.0, 1.05, 1.0
    free = np.zeros(n, bool)
    free[cut] = True
    assert viterbi_hold(u, 0.5, hold, free).tolist() == [1] * n
    forced = np.full(n, -1)
    forced[cut + 1] = 0  # the user's decision: A on the frame after the cut
    free[cut + 1] = True
    # B in the first shot would leave A held from the cut on, unable to go back to B for 3 frames;
    # A kept from the first frame can go back at once: the first shot changes
    assert viterbi_hold(u, 0.5, hold, free, forced).tolist() == [0] * 8 + [1] * 4


def test_without_a_cache_the_pieces_live_as_long_as_the_session(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    clip = _clip_with_audio(folder)
    cfg = _cfg(tmp_path / "cache")
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, use_cache=False))
    s = AppSession(clip, _analysis(clip), cfg, *default_paths(clip, None),
                   app_config=AppConfig(preview_max_side_px=W, full_piece_s=PIECE_S))  # fmt: skip
    try:
        full_render(s)
        _, st = full_render(s)
        assert (st["rendered"], st["reused"]) == (0, 8)
        scratch = s.pieces.folder
        assert not (tmp_path / "cache").exists() and len(list(scratch.glob("*.mp4"))) == 8
    finally:
        s.stop()
    assert not scratch.exists()
