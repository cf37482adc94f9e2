"""Colour end to end: decode with the input's matrix and range, render in linear light of its
transfer, encode with the same matrix and range and the same four tags; 10-bit stays 10-bit.

Each case writes SMPTE-like bars in one colour setup, renders them through the real renderer
(everything at the focus distance, so the picture must come back unchanged) and checks the output's
tags (the codec parameters ffprobe prints, read through PyAV: ``ffprobe`` is not installed here)
and the bar colours, decoded by hand from the Y/Cb/Cr planes, within 2 code values.
"""

from __future__ import annotations

import numpy as np
import pytest
from media_colour import BARS_RGB, read_bars, tags, write_bars

from autofocuspull.core.types import Lens
from autofocuspull.io import probe, transcode
from autofocuspull.io.writer import EncodeConfig
from autofocuspull.render import render_video
from autofocuspull.render.color import transfer_of

LENS = Lens()
HEVC10 = {"codec": "libx265", "pix_fmt": "yuv420p10le"}


def _render_in_focus(info):
    """The production render path with every pixel at the focus distance (an exact identity)."""
    n = info.n_frames

    def process(frames):
        return render_video(
            frames, lambda f: np.full((16, 16), 2.0, np.float32), np.full(n, 2.0, np.float32),
            np.full(n, 2.0, np.float32), LENS, transfer=transfer_of(info.colour.transfer), progress=False,
        )  # fmt: skip

    return process


CASES = {
    # name: (size, write_bars kwargs, expected tags (matrix, range, primaries, transfer), pix_fmt)
    "bt709_limited_hd": ((1280, 720), {"matrix": 1}, (1, 1, 1, 1), "yuv420p"),
    "bt601_limited_sd": ((720, 480), {"matrix": 6}, (6, 1, 6, 6), "yuv420p"),
    "untagged_hd_is_709": ((1280, 720), {"matrix": 1, "tag": False}, (1, 1, 1, 1), "yuv420p"),
    "untagged_sd_is_601": ((640, 480), {"matrix": 6, "tag": False}, (6, 1, 6, 6), "yuv420p"),
    "bt709_full": ((1280, 720), {"matrix": 1, "full_range": True}, (1, 2, 1, 1), "yuv420p"),
    "bt2020_hlg_10bit": (
        (1280, 720), {"matrix": 9, "transfer": 18, "codec": "libx265", "pix_fmt": "yuv420p10le"},
        (9, 1, 9, 18), "yuv420p10le",
    ),
    "bt2020_pq_10bit": (
        (1280, 720), {"matrix": 9, "transfer": 16, "codec": "libx265", "pix_fmt": "yuv420p10le"},
        (9, 1, 9, 16), "yuv420p10le",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_colour_survives_the_render_path(tmp_path, case) -> None:
    (w, h), kw, expected, pix_fmt = CASES[case]
    src = write_bars(tmp_path / "in.mp4", w, h, **kw)
    info = probe(src)
    assert (info.colour.matrix, info.colour.range, info.colour.primaries, info.colour.transfer) == expected
    out = transcode(src, tmp_path / "out.mp4", info, _render_in_focus(info))
    t = tags(out)
    assert (t["matrix"], t["range"], t["primaries"], t["transfer"]) == expected
    assert t["pix_fmt"] in (pix_fmt, pix_fmt.replace("yuv", "yuvj"))  # decoders name full range yuvj
    if "10" in pix_fmt:
        assert t["codec"] == "hevc" and t["profile"] == "Main 10"
    full = kw.get("full_range", False)
    bars_in = read_bars(src, expected[0], full)
    bars_out = read_bars(out, expected[0], full)  # played as its tags say
    assert np.abs(bars_in - BARS_RGB).max() <= 2.0, bars_in.round(1)
    assert np.abs(bars_out - BARS_RGB).max() <= 2.0, bars_out.round(1)


def test_untagged_hd_played_as_709_keeps_green(tmp_path) -> None:
    """The issue's case: the green bar (0, 191, 0) came back as 158 when played as BT.709."""
    src = write_bars(tmp_path / "in.mp4", 1280, 720, matrix=1, tag=False)
    out = transcode(src, tmp_path / "out.mp4", probe(src), _render_in_focus(probe(src)))
    green = read_bars(out, 1, False)[3]
    assert abs(green[1] - 191) <= 2, green


def test_ten_bit_h264_is_high10_with_its_transfer(tmp_path) -> None:
    src = write_bars(tmp_path / "in.mp4", 640, 360, matrix=9, transfer=18, **HEVC10)
    info = probe(src)
    cfg = EncodeConfig(codec="h264")
    out = transcode(src, tmp_path / "out.mp4", info, _render_in_focus(info), config=cfg)
    t = tags(out)
    assert (t["codec"], t["profile"], t["pix_fmt"], t["transfer"]) == ("h264", "High 10", "yuv420p10le", 18)


def test_ten_bit_render_path_gets_sixteen_bit_frames(tmp_path) -> None:
    src = write_bars(tmp_path / "in.mp4", 320, 240, matrix=9, transfer=16, **HEVC10)
    info = probe(src)
    seen = []

    def process(frames):
        for fr in frames:
            seen.append(fr.rgb.dtype)
            yield fr.rgb

    transcode(src, tmp_path / "out.mkv", info, process)
    assert seen and all(d == np.uint16 for d in seen)
