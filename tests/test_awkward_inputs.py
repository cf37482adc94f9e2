"""Awkward but valid input goes through a whole rack.

One frame, odd size, rotation metadata, no audio track or several.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from autofocuspull.io import EncodeConfig, probe
from autofocuspull.io.democlip import DemoClipConfig, demo_frames
from autofocuspull.io.synth import AudioSpec, tone, write_clip
from autofocuspull.pipeline import RackConfig, rack

SMALL = DemoClipConfig(width=320, height=180, duration_s=2.0)
ODD = DemoClipConfig(width=641, height=361, duration_s=2.0)
TONE = AudioSpec(tone(2.0), 48000, "aac")
PCM = AudioSpec(tone(2.0, 300), 48000, "pcm_s16le")
MP3 = AudioSpec(tone(2.0, 600, 44100), 44100, "libmp3lame")
CASES = {  # name: (frames, write_clip options, displayed size of the output, audio codecs of the output)
    "one_frame.mkv": (
        lambda: itertools.islice(demo_frames(ODD), 1),
        {"codec": "ffv1", "pix_fmt": "yuv444p"},
        (642, 362),
        [],
    ),
    "odd_no_audio.mp4": (lambda: demo_frames(ODD), {"pix_fmt": "yuv444p"}, (642, 362), []),
    "portrait.mp4": (lambda: demo_frames(SMALL), {"rotation_deg": -90, "audio": [TONE]}, (180, 320), ["aac"]),
    "two_tracks.mkv": (lambda: demo_frames(SMALL), {"audio": [PCM, MP3]}, (320, 180), ["aac", "mp3float"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_awkward_input_racks(tmp_path: Path, name: str) -> None:
    frames, options, size, audio = CASES[name]
    src = tmp_path / name
    write_clip(src, frames(), **options)
    out = tmp_path / "out.mp4"
    plan = rack(src, out, RackConfig(encode=EncodeConfig(preset="ultrafast")))
    info, back = probe(src), probe(out)
    assert back.n_frames == info.n_frames == plan.n_frames
    assert (back.width, back.height) == size and back.rotation_deg == 0
    assert [a.codec for a in back.audio] == audio
    assert all(a.duration_s == pytest.approx(2.0, abs=info.frame_duration_s + 0.03) for a in back.audio)
