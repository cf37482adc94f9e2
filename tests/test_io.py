"""Video I/O: containers, codecs, timing, rotation, audio kept, atomic writes, real footage."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import footage, write_audio_only

from autofocuspull.core.errors import InputError, UsageError
from autofocuspull.io import iter_frames, probe, read_audio, transcode
from autofocuspull.io.synth import AudioSpec, moving_pattern, tone, write_clip


def _identity(frames):
    return (f.rgb for f in frames)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "codec", "audio_codec"),
    [
        ("h264.mp4", "libx264", "aac"),
        ("mpeg4.avi", "mpeg4", "libmp3lame"),
        ("msmpeg4.avi", "msmpeg4", "ac3"),
        ("h264.mov", "libx264", "pcm_s16le"),
        ("h264.mkv", "libx264", "libopus"),
        ("vp9.webm", "libvpx-vp9", "libopus"),
    ],
)
def test_containers_and_codecs_round_trip(tmp_path: Path, name: str, codec: str, audio_codec: str) -> None:
    src = tmp_path / name
    write_clip(
        src,
        moving_pattern(20, 64, 48),
        rate=25,
        codec=codec,
        audio=[
            AudioSpec(
                tone(0.8, sample_rate=48000 if audio_codec != "libmp3lame" else 44100),
                48000 if audio_codec != "libmp3lame" else 44100,
                audio_codec,
            )
        ],
    )
    info = probe(src)
    frames = list(iter_frames(src, info))
    assert info.n_frames == 20 == len(frames)
    assert [f.index for f in frames] == list(range(20))
    if not name.endswith(".avi"):  # AVI stores no pts; FFmpeg's AVI muxer may leave a skipped slot
        np.testing.assert_allclose(info.pts_s, np.arange(20) / 25, atol=1e-6)
    assert np.all(np.diff(info.pts_s) > 0) and info.pts_s[0] == 0
    out = transcode(src, tmp_path / "out.mp4", info, _identity)
    back = probe(out)
    assert back.n_frames == 20 and back.codec == "h264"
    np.testing.assert_allclose(back.pts_s, info.pts_s, atol=1e-6)
    assert len(back.audio) == 1
    assert back.audio[0].duration_s == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(26777, 1000)])
def test_odd_frame_rates_keep_exact_times(tmp_path: Path, rate: Fraction) -> None:
    src = tmp_path / "odd.mp4"
    write_clip(src, moving_pattern(30, 32, 32), rate=rate, time_base=Fraction(1, 90000))
    info = probe(src)
    expected = np.array([round(i / rate * 90000) / 90000 for i in range(30)])
    np.testing.assert_allclose(info.pts_s, expected, atol=1 / 90000)
    assert info.frame_rate == pytest.approx(float(rate), rel=1e-3)
    out = transcode(src, tmp_path / "o.mp4", info, _identity)
    np.testing.assert_allclose(probe(out).pts_s, info.pts_s, atol=1 / 90000)


def test_variable_frame_rate_times_come_from_pts(tmp_path: Path) -> None:
    times = np.cumsum([0.0, 0.04, 0.04, 0.1, 0.02, 0.04, 0.3, 0.04, 0.04, 0.04])
    src = tmp_path / "vfr.mkv"
    write_clip(src, moving_pattern(10, 32, 32), rate=25, times_s=times.tolist())
    info = probe(src)
    np.testing.assert_allclose(info.pts_s, times, atol=1e-3)
    assert [round(f.t_s, 3) for f in iter_frames(src, info)] == [round(t, 3) for t in info.pts_s]
    out = transcode(src, tmp_path / "vfr_out.mkv", info, _identity)
    np.testing.assert_allclose(probe(out).pts_s, info.pts_s, atol=1e-3)


@pytest.mark.parametrize(("stored", "display_shape"), [(90, (64, 32)), (-90, (64, 32)), (180, (32, 64))])
def test_rotation_metadata_is_applied(tmp_path: Path, stored: int, display_shape: tuple[int, int]) -> None:
    img = np.zeros((32, 64, 3), np.uint8)
    img[:8, :8] = 255  # white marker in the stored top-left corner
    src = tmp_path / "rot.mp4"
    write_clip(src, [img] * 3, rotation_deg=stored, codec="libx264", options={"qp": "0"})
    info = probe(src)
    frame = next(iter_frames(src, info)).rgb
    assert (info.height, info.width) == display_shape == frame.shape[:2]
    corner = {
        90: (slice(-8, None), slice(None, 8)),
        -90: (slice(None, 8), slice(-8, None)),
        180: (slice(-8, None), slice(-8, None)),
    }[stored]
    assert frame[corner].mean() > 200  # counter-clockwise rotation moved the marker here
    out = transcode(src, tmp_path / "rot_out.mp4", info, _identity)
    back = probe(out)
    assert back.rotation_deg == 0 and (back.height, back.width) == display_shape


def test_odd_dimensions_and_single_frame(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    write_clip(src, moving_pattern(1, 641, 361), codec="ffv1", pix_fmt="yuv444p")
    info = probe(src)
    assert (info.width, info.height, info.n_frames) == (641, 361, 1)
    out = transcode(src, tmp_path / "odd.mp4", info, _identity)
    back = probe(out)
    assert back.n_frames == 1 and (back.width, back.height) == (642, 362)


def test_no_audio_and_several_audio_tracks(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    write_clip(silent, moving_pattern(10, 32, 32))
    assert probe(silent).audio == () and read_audio(silent) is None
    assert probe(transcode(silent, tmp_path / "s.mp4", probe(silent), _identity)).audio == ()

    multi = tmp_path / "multi.mkv"
    write_clip(
        multi,
        moving_pattern(25, 32, 32),
        audio=[
            AudioSpec(tone(1.0, 300), 48000, "pcm_s16le"),
            AudioSpec(tone(1.0, 600, 44100), 44100, "libmp3lame"),
            AudioSpec(tone(1.0, 900), 48000, "ac3"),
        ],
    )
    out = probe(transcode(multi, tmp_path / "multi.mp4", probe(multi), _identity))
    assert [a.codec for a in out.audio] == ["aac", "mp3float", "ac3"]  # pcm re-encoded, others copied
    assert all(a.duration_s == pytest.approx(1.0, abs=0.05) for a in out.audio)


def test_read_audio_resamples_to_mono_16k(tmp_path: Path) -> None:
    src = tmp_path / "a.mp4"
    write_clip(src, moving_pattern(25, 32, 32), audio=[AudioSpec(tone(1.0, 440, 48000), 48000, "aac")])
    a = read_audio(src, 16000)
    assert a is not None and a.dtype == np.float32
    assert len(a) == pytest.approx(16000, abs=1100)  # AAC priming/padding is at most one frame
    spectrum = np.abs(np.fft.rfft(a[2000:14000]))
    assert np.argmax(spectrum) * 16000 / 12000 == pytest.approx(440, abs=3)


def test_processor_failure_leaves_no_output_and_input_untouched(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    write_clip(src, moving_pattern(20, 32, 32))
    before = _sha(src)
    out = tmp_path / "out.mp4"

    def boom(frames):
        for i, f in enumerate(frames):
            if i == 10:
                raise RuntimeError("renderer crashed")
            yield f.rgb

    with pytest.raises(RuntimeError):
        transcode(src, out, probe(src), boom)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no temp file left
    assert _sha(src) == before


def test_bad_inputs_raise_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 20)
    src = tmp_path / "ok.mp4"
    write_clip(src, moving_pattern(5, 32, 32), audio=[AudioSpec(tone(0.5), 48000, "aac")])
    data = src.read_bytes()
    moov = data.find(b"moov")
    (tmp_path / "nomoov.mp4").write_bytes(data[: moov - 4])
    audio_only = tmp_path / "audio.m4a"
    write_audio_only(audio_only)
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "is a directory",
        tmp_path / "empty.mp4": "empty",
        tmp_path / "text.mp4": "not a media file",
        tmp_path / "nomoov.mp4": "not a media file",
        audio_only: "no video stream",
    }
    for path, problem in cases.items():
        with pytest.raises(InputError) as e:
            probe(path)
        msg = str(e.value)
        assert "\n" not in msg and str(path) in msg and problem in msg, msg


def test_bad_output_paths(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    write_clip(src, moving_pattern(3, 32, 32))
    info = probe(src)
    with pytest.raises(UsageError, match="is the input"):
        transcode(src, src, info, _identity)
    with pytest.raises(UsageError, match="unsupported output extension"):
        transcode(src, tmp_path / "out.txt", info, _identity)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot be created"):
        transcode(src, blocker / "sub" / "out.mp4", info, _identity)


REAL_CLIPS = {  # name: (frames FFmpeg decodes, duration s, audio streams)
    "tears_of_steel_10s.mp4": (240, 10.0, 0),
    "box_in_hand.mp4": (455, 15.18, 1),  # 456 packets, the last is cut by the MP4 edit list
    "people_one_by_one.mp4": (1394, 139.4, 0),
    "carphone.mp4": (120, 4.0, 0),
    "bikes_real_dof.mp4": (250, 10.0, 0),
    "two_speakers/speaker0_crop.avi": (772, 30.88, 1),
    "two_speakers/speaker1_crop.avi": (772, 30.88, 1),
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(REAL_CLIPS))
def test_real_footage_decodes_with_right_count_and_duration(name: str) -> None:
    path = footage(name)
    n, duration_s, n_audio = REAL_CLIPS[name]
    info = probe(path)
    assert info.n_frames == n
    assert info.duration_s == pytest.approx(duration_s, abs=0.05)
    assert len(info.audio) == n_audio
    assert sum(1 for _ in iter_frames(path, info, max_side=96)) == n


@pytest.mark.shared
@pytest.mark.slow
def test_real_footage_round_trip_keeps_audio_and_frames(tmp_path: Path) -> None:
    path = footage("box_in_hand.mp4")
    info = probe(path)
    out = transcode(path, tmp_path / "box.mp4", info, _identity)
    back = probe(out)
    assert back.n_frames == info.n_frames
    np.testing.assert_allclose(back.pts_s, info.pts_s, atol=1e-6)
    assert len(back.audio) == 1
    assert back.audio[0].duration_s == pytest.approx(info.audio[0].duration_s, abs=info.frame_duration_s)
