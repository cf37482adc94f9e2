"""Output files like ffmpeg's: codecs editors use, faststart, timecode and subtitles carried,
no silent overwrite, the umask's permissions, the input never touched; the one atomic writer."""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from media_colour import tags, write_bars

from autofocuspull.core.atomic import atomic_path, atomic_write_text, default_file_mode
from autofocuspull.core.errors import UsageError
from autofocuspull.io import probe, transcode
from autofocuspull.io.writer import EncodeConfig, check_output_path


def _identity(frames):
    for fr in frames:
        yield fr.rgb


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_bars(tmp_path / "in.mp4", 320, 240, matrix=1, n=5)


@pytest.mark.parametrize(
    ("codec", "ext", "expected"),
    [
        ("h264", ".mp4", {"codec": "h264", "pix_fmt": "yuv420p", "profile": "High"}),
        ("hevc", ".mp4", {"codec": "hevc", "pix_fmt": "yuv420p", "codec_tag": "hvc1"}),
        ("hevc", ".mkv", {"codec": "hevc", "pix_fmt": "yuv420p"}),
        ("prores", ".mov", {"codec": "prores", "pix_fmt": "yuv422p10le", "profile": "HQ"}),
        ("ffv1", ".mkv", {"codec": "ffv1", "pix_fmt": "yuv420p"}),
    ],
)
def test_each_codec_writes_what_editors_expect(clip, tmp_path, codec, ext, expected) -> None:
    out = transcode(clip, tmp_path / f"out{ext}", probe(clip), _identity, config=EncodeConfig(codec=codec))
    t = tags(out)
    assert {k: t[k] for k in expected} == expected
    assert (t["matrix"], t["range"], t["primaries"], t["transfer"]) == (1, 1, 1, 1)
    assert probe(out).n_frames == 5


def test_ffv1_is_lossless(clip, tmp_path) -> None:
    """Only the YUV -> RGB -> YUV round trip separates input and output (no compression loss)."""
    out = transcode(clip, tmp_path / "out.mkv", probe(clip), _identity, config=EncodeConfig(codec="ffv1"))
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        ya, yb = (np.frombuffer(bytes(f.planes[0]), np.uint8).astype(int) for f in (fa, fb))
        assert np.abs(ya - yb).max() <= 1


def test_crf_changes_the_quality(tmp_path) -> None:
    from autofocuspull.io.synth import moving_pattern, write_clip

    src = tmp_path / "noise.mp4"
    write_clip(src, moving_pattern(5, 320, 240))
    sizes = []
    for crf in (10, 40):
        out = transcode(src, tmp_path / f"c{crf}.mp4", probe(src), _identity, config=EncodeConfig(crf=crf))
        sizes.append(out.stat().st_size)
    assert sizes[0] > 2 * sizes[1]


def _top_level_boxes(path: Path) -> list[str]:
    data, names, i = path.read_bytes(), [], 0
    while i + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[i : i + 8])
        names.append(name.decode("latin-1"))
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        if size < 8:
            break
        i += size
    return names


@pytest.mark.parametrize("faststart", [True, False])
def test_mp4_faststart_puts_the_index_first(clip, tmp_path, faststart) -> None:
    cfg = EncodeConfig(faststart=faststart)
    out = transcode(clip, tmp_path / "o.mp4", probe(clip), _identity, config=cfg)
    boxes = _top_level_boxes(out)
    assert (boxes.index("moov") < boxes.index("mdat")) == faststart


def test_codec_and_container_must_fit(clip, tmp_path) -> None:
    with pytest.raises(UsageError, match=r"prores cannot go in \.mp4"):
        check_output_path(tmp_path / "o.mp4", clip, EncodeConfig(codec="prores"))
    with pytest.raises(UsageError, match=r"encode\.codec"):
        EncodeConfig(codec="vp9")


def test_existing_output_is_refused_unless_overwrite(clip, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(UsageError, match=r"already exists .*-y/--overwrite") as e:
        transcode(clip, out, probe(clip), _identity)
    assert e.value.exit_code == 2 and out.read_bytes() == b"precious"
    transcode(clip, out, probe(clip), _identity, config=EncodeConfig(overwrite=True))
    assert probe(out).n_frames == 5


def test_cli_refuses_existing_output_with_exit_2(clip, tmp_path, capsys) -> None:
    from autofocuspull.cli import build_parser, config_from_args, main

    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert main(["rack", str(clip), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0], err
    assert out.read_bytes() == b"precious"
    args = build_parser().parse_args(["rack", str(clip), "-o", str(out), "-y", "--codec", "prores"])
    assert config_from_args(args).encode == EncodeConfig(codec="prores", overwrite=True)
    plain = build_parser().parse_args(["rack", str(clip), "-o", str(out)])
    assert config_from_args(plain).encode == EncodeConfig()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_get_the_umask_permissions(clip, tmp_path, umask) -> None:
    old = os.umask(umask)
    try:
        out = transcode(clip, tmp_path / "out.mp4", probe(clip), _identity)
        text = atomic_write_text(tmp_path / "plan.json", "{}")
        assert default_file_mode() == 0o666 & ~umask
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert text.stat().st_mode & 0o777 == 0o666 & ~umask


def test_input_is_never_touched(clip, tmp_path) -> None:
    before = (hashlib.sha256(clip.read_bytes()).hexdigest(), clip.stat().st_mtime_ns, clip.stat().st_mode)
    transcode(clip, tmp_path / "out.mov", probe(clip), _identity, config=EncodeConfig(codec="prores"))
    after = (hashlib.sha256(clip.read_bytes()).hexdigest(), clip.stat().st_mtime_ns, clip.stat().st_mode)
    assert before == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mov"]  # no debris


@pytest.mark.parametrize("ext", [".mov", ".mp4", ".mkv"])
def test_timecode_is_carried(tmp_path, ext) -> None:
    src = write_bars(tmp_path / "in.mov", 320, 240, matrix=1, n=5, timecode="01:02:03:04")
    out = transcode(src, tmp_path / f"out{ext}", probe(src), _identity)
    with av.open(str(out)) as c:
        tags_ = [c.metadata, *(s.metadata for s in c.streams)]
        found = {v for m in tags_ for k, v in m.items() if k.lower() == "timecode"}
    assert "01:02:03:04" in found


def _with_subtitles(tmp_path: Path) -> Path:
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,120\nhello\n\n2\n00:00:00,120 --> 00:00:00,160\nworld\n")
    bars = write_bars(tmp_path / "bars.mkv", 320, 240, matrix=1, n=5)
    out = tmp_path / "subs.mkv"
    with av.open(str(bars)) as v, av.open(str(srt)) as s, av.open(str(out), "w") as dst:
        vs = dst.add_stream_from_template(v.streams.video[0])
        ss = dst.add_stream_from_template(s.streams.subtitles[0])
        ss.metadata["language"] = "fra"
        for src, stream in ((v, vs), (s, ss)):
            for p in src.demux(src.streams[0]):
                if p.dts is not None:
                    p.stream = stream
                    dst.mux(p)
    return out


def test_subtitles_are_carried_where_the_container_takes_them(tmp_path, caplog) -> None:
    src = _with_subtitles(tmp_path)
    out = transcode(src, tmp_path / "out.mkv", probe(src), _identity)
    with av.open(str(out)) as c:
        subs = c.streams.subtitles
        assert len(subs) == 1 and subs[0].language == "fra"
        assert sum(1 for p in c.demux(subs[0]) if p.size) == 2
    with caplog.at_level(logging.WARNING):
        out = transcode(src, tmp_path / "out.mp4", probe(src), _identity)
    assert "subtitle stream 1" in caplog.text and "dropped" in caplog.text
    assert probe(out).n_frames == 5


def test_atomic_path_leaves_nothing_on_failure_and_refuses_a_racing_target(tmp_path) -> None:
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileExistsError), atomic_path(target, overwrite=False) as tmp:
        tmp.write_text("mine")
        target.write_text("theirs")  # another run got there first
    assert target.read_text() == "theirs" and list(tmp_path.iterdir()) == [target]
