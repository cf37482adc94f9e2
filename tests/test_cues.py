"""Cues: MFCC, voice activity, Light-ASD cropping and scoring, the mouth-motion fallback,
saliency components, transcripts."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from conftest import footage, shared_model
from numpy.testing import assert_allclose, assert_array_equal

from autofocuspull.core.errors import ModelUnavailableError, ValidationError
from autofocuspull.core.types import Frame, SubjectTracks
from autofocuspull.cues import (
    AsdConfig,
    LightASD,
    MouthMotionSpeaker,
    SaliencyConfig,
    UserTarget,
    build_active_speaker_model,
    compute_cues,
    compute_saliency,
    compute_vad,
    crop_face,
    load_transcript,
    map_transcript_to_tracks,
    mfcc,
    score_active_speakers,
)
from autofocuspull.cues.asd import TrackClip, face_crop_transform, windowed_correlation
from autofocuspull.cues.mfcc import hz_to_mel, mel_filterbank, mel_to_hz
from autofocuspull.cues.vad import chunk_probs_to_frames

# --------------------------------------------------------------------------------------------
# MFCC
# --------------------------------------------------------------------------------------------


def test_mel_scale_and_filterbank_hand_values():
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert_allclose(mel_to_hz(hz_to_mel(np.array([0.0, 440.0, 8000.0]))), [0, 440, 8000], atol=1e-9)
    fb = mel_filterbank(26, 512, 16000)
    assert fb.shape == (26, 257)
    mels = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 28)
    bins = np.floor(513 * 700 * (10 ** (mels / 2595) - 1) / 16000).astype(int)
    assert bins[0] == 0 and bins[-1] == 256
    for j in (0, 12, 25):  # each triangle peaks at 1 on its centre bin and is 0 outside its span
        assert fb[j, bins[j + 1]] == 1.0
        assert fb[j, : bins[j]].sum() == 0 and fb[j, bins[j + 2] :].sum() == 0
        if bins[j + 1] - bins[j] >= 2:
            assert fb[j, bins[j] + 1] == pytest.approx(1 / (bins[j + 1] - bins[j]))


def test_mfcc_of_silence_is_log_eps_energy_and_zero_cepstra():
    feats = mfcc(np.zeros(16000))
    # 1 + ceil((16000 - 400) / 160) = 99 frames at 100 Hz
    assert feats.shape == (99, 13)
    assert_allclose(feats[:, 0], np.log(np.finfo(np.float64).eps), rtol=1e-6)
    assert_allclose(feats[:, 1:], 0.0, atol=1e-5)


def test_mfcc_energy_column_matches_hand_computed_frame_energy():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1000, 800)
    feats = mfcc(x)
    y = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame = y[160:560]  # second frame: 10 ms hop, 25 ms window, rectangular
    energy = (np.abs(np.fft.rfft(frame, 512)) ** 2 / 512).sum()
    assert feats.shape == (4, 13)  # 1 + ceil((800 - 400) / 160)
    assert feats[1, 0] == pytest.approx(np.log(energy), rel=1e-5)
    # a pure tone puts its energy in the filter around its frequency
    tone = 10000 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.isfinite(mfcc(tone)).all()


# --------------------------------------------------------------------------------------------
# Voice activity
# --------------------------------------------------------------------------------------------


def test_vad_without_audio_is_zero_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        out = compute_vad(None, np.arange(5) / 25)
    assert_array_equal(out, np.zeros(5, np.float32))
    assert "no audio" in caplog.text


def test_chunk_probabilities_interpolated_onto_frame_times():
    out = chunk_probs_to_frames(np.array([0.0, 1.0, 0.0]), np.array([0.016, 0.032, 0.048, 0.2]), 0.032)
    assert_allclose(out, [0.0, 0.5, 1.0, 0.0])


@pytest.mark.shared
def test_silero_vad_finds_the_speech_in_the_real_conversation():
    from scipy.io import wavfile

    sr, pcm = wavfile.read(footage("two_speakers/audio.wav"))
    assert sr == 16000
    times = np.array([1.0, 3.0, 6.5, 8.7, 27.4])
    p = compute_vad(pcm.astype(np.float32) / 32768, times)
    assert p[0] < 0.1 and p[2] < 0.1  # silence between turns
    assert p[1] > 0.9 and p[3] > 0.9 and p[4] > 0.9  # speaker 0, speaker 0, speaker 1


# --------------------------------------------------------------------------------------------
# Active speaker detection
# --------------------------------------------------------------------------------------------


def test_face_crop_follows_light_asd_demo_geometry_and_rgb_order():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    # face box 160 px wide at (112, 80): Light-ASD's 224 crop then its centre 112 px
    m = face_crop_transform(np.array([32, 0, 192, 160]))
    assert_allclose(m, [[1, 0, -56], [0, 1, -56]])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert_array_equal(crop_face(rgb, np.array([32, 0, 192, 160])), grey[56:168, 56:168])
    red = np.zeros((50, 50, 3), np.uint8)
    red[..., 0] = 255  # RGB red: grey = 0.299 * 255
    crop = crop_face(red, np.array([10, 10, 40, 40]))
    assert crop[56, 56] == 76
    # outside the frame the crop is Light-ASD's grey padding
    assert crop_face(red, np.array([0, 30, 40, 70]))[-1, 0] == 110


def test_windowed_correlation_hand_values():
    x = np.tile([0.0, 1.0], 10)
    assert_allclose(windowed_correlation(x, x, 5), 1.0, atol=1e-6)
    assert_allclose(windowed_correlation(x, -x, 5), -1.0, atol=1e-6)
    assert_allclose(windowed_correlation(x, np.ones(20), 5), 0.0)


class RampModel:
    """Fake speaker model: logit = index of the 25 fps sample; records what it was given."""

    name = "ramp"

    def __init__(self):
        self.clips: list[TrackClip] = []

    def score(self, clip: TrackClip) -> np.ndarray:
        self.clips.append(clip)
        return np.arange(len(clip.crops), dtype=np.float32)


def test_score_active_speakers_resamples_to_25fps_and_maps_back():
    n = 10
    times = np.arange(n) / 50.0  # 50 fps clip
    tracks = SubjectTracks.allocate([4, 5], ["person", "person"], n)
    tracks.face_xyxy[0] = (20, 20, 60, 60)
    tracks.xyxy[0] = tracks.face_xyxy[0]
    tracks.face_xyxy[1, 2:] = (100, 20, 140, 60)  # second face from frame 2 (at half size below)
    tracks.xyxy[1, 2:] = tracks.face_xyxy[1, 2:]
    frames = [Frame(k, float(times[k]), np.full((40, 80, 3), 10 * k, np.uint8)) for k in range(n)]
    audio = np.zeros(16000, np.float32)
    model = RampModel()
    out = score_active_speakers(
        frames, tracks, audio, times, model, scale=0.5, config=AsdConfig(smooth_frames=1)
    )
    # track 0: 0.18 s span -> round(4.5) + 1 = 5 samples at 25 fps, frames map to round(k / 2)
    assert len(model.clips[0].crops) == 5
    assert len(model.clips[0].audio) == 5 * 640 + 240
    back = np.round(np.arange(n) / 2).astype(int)
    assert_allclose(out[0], 1 / (1 + np.exp(-back.astype(np.float32))), rtol=1e-6)
    # the 25 fps crops are the nearest frames: 0, 2, 4, 6, 8 (grey of a flat 10k image)
    assert_array_equal(model.clips[0].crops[:, 56, 56], [0, 20, 40, 60, 80])
    assert_array_equal(out[1, :2], 0.0)


def test_missing_light_asd_falls_back_loudly_or_raises(caplog):
    with caplog.at_level(logging.WARNING):
        model = build_active_speaker_model()
    assert isinstance(model, MouthMotionSpeaker)
    assert "FALLING BACK" in caplog.text
    with pytest.raises(ModelUnavailableError, match="light-asd"):
        build_active_speaker_model(allow_fallback=False)


def test_mouth_motion_fallback_prefers_the_face_whose_mouth_moves_with_the_voice():
    n = 50
    rng = np.random.default_rng(3)
    bursts = (np.arange(n) // 5) % 2 == 1  # voice on/off every 0.2 s
    audio = np.concatenate([rng.normal(0, 0.3 if b else 0.001, 640) for b in bursts]).astype(np.float32)
    still = np.full((n, 112, 112), 100, np.uint8)
    talking = still.copy()
    for k in np.flatnonzero(bursts):  # the mouth region flickers while the voice is on
        talking[k, 64:100, 28:84] = 100 + 60 * (k % 2)
    mouth = np.full((n, 4), np.nan, np.float32)
    model = MouthMotionSpeaker()
    s_talk = model.score(TrackClip(talking, mouth, audio))
    s_still = model.score(TrackClip(still, mouth, audio))
    assert s_talk[10:40].mean() > 1.0
    assert_allclose(s_still, -model.config.gain * model.config.offset)


@pytest.mark.shared
def test_light_asd_onnx_window_matches_its_own_batch():
    model = build_active_speaker_model(shared_model("lightASD.onnx"), shared_model("lightASD_lossAV.onnx"))
    assert isinstance(model, LightASD)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (30, 112, 112), dtype=np.uint8)
    audio = rng.normal(0, 0.05, 30 * 640 + 240).astype(np.float32)
    logits = model.score(TrackClip(crops, np.full((30, 4), np.nan, np.float32), audio))
    assert logits.shape == (30,) and np.isfinite(logits).all()
    # scored in 25-frame windows: the first window sees exactly the first 25 crops and 100 MFCCs
    first = model.score(TrackClip(crops[:25], np.full((25, 4), np.nan, np.float32), audio[: 25 * 640 + 240]))
    assert_allclose(logits[:25], first, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Saliency
# --------------------------------------------------------------------------------------------


def saliency_tracks() -> tuple[SubjectTracks, np.ndarray]:
    n = 10
    times = np.arange(n) / 10.0
    tr = SubjectTracks.allocate([1, 2, 3], ["person", "person", "cup"], n)
    tr.xyxy[0] = (25, 25, 75, 75)  # centred, a quarter of the 100x100 frame
    tr.xyxy[1, 5:] = (0, 0, 10, 10)  # enters at frame 5 in the corner
    tr.xyxy[2] = np.stack([np.arange(n) * 10.0, np.full(n, 40), np.arange(n) * 10.0 + 10, np.full(n, 50)], 1)
    tr.face_xyxy[0] = (40, 30, 60, 50)
    tr.landmarks_px[0, :, :3] = [(40, 35), (60, 35), (50, 42)]  # nose between the eyes: frontal
    tr.landmarks_px[0, 5:, 2, 0] = 55  # nose half way to one eye
    return tr, times


def test_saliency_components_hand_values():
    tr, times = saliency_tracks()
    sal, c = compute_saliency(tr, (100, 100), times)
    assert_allclose(c["size"][0], 1.0)
    assert_allclose(c["size"][1, 5:], 0.2)  # sqrt(100 / 10000) / 0.5
    assert_allclose(c["centrality"][0], 1.0)
    assert_allclose(c["centrality"][1, 5:], 0.1, atol=1e-6)  # 1 - 63.64 / 70.71
    assert_allclose(c["motion"][2, 3], 1 - np.exp(-(100 / np.hypot(100, 100)) / 0.25), rtol=1e-5)
    assert_allclose(c["motion"][0], 0.0, atol=1e-9)
    assert_allclose(c["entering"][1, [4, 5, 8]], [0.0, 1.0, 0.8], atol=1e-6)
    assert_allclose(c["entering"][0], 0.0)  # present from the first frame: not entering
    assert_allclose(c["facing"][0, [0, 5]], [1.0, 0.5])
    assert_allclose(c["object"][:, 0], [0.6, 0.0, 0.8])
    assert_allclose(c["object"][2, 3], 1.0)  # cup centre (35, 45) inside person 1's box
    assert sal.shape == (3, 10) and np.all(sal[1, :5] == 0)
    weights = np.array([0.30, 0.20, 0.10, 0.10, 0.15, 0.15])
    parts = np.array([c[k][0, 0] for k in ("size", "centrality", "motion", "entering", "facing", "object")])
    assert sal[0, 0] == pytest.approx(float(weights @ parts / weights.sum()), rel=1e-6)


def test_held_product_outranks_the_faceless_hand_that_holds_it():
    n = 3
    tr = SubjectTracks.allocate([1, 2, 3], ["person", "book", "person"], n)
    tr.xyxy[0] = (0, 0, 40, 60)  # an arm from the left edge, no face
    # the book overlaps the arm by 10 x 20 = 200 px^2 of its 40 x 20 = 800 px^2 (25 %) while its
    # centre (50, 30) lies outside the arm's box; it is put down far from it at frame 2
    tr.xyxy[1, :2] = (30, 20, 70, 40)
    tr.xyxy[1, 2] = (5, 80, 20, 95)
    tr.xyxy[2] = (50, 0, 100, 100)  # a person with a face; the book overlaps him by 50 %
    tr.face_xyxy[2] = (70, 5, 90, 25)
    _, c = compute_saliency(tr, (100, 100), np.arange(n) / 10.0)
    assert_allclose(c["object"][1], [1.0, 1.0, 0.8])  # held, held, product prior
    assert_allclose(c["object"][0], [0.0, 0.0, 0.6])  # the hand while it holds it, then a person
    assert_allclose(c["object"][2], 0.6)  # a person seen with a face stays a person
    # below held_overlap of the product's area it is not held
    _, c = compute_saliency(tr, (100, 100), np.arange(n) / 10.0, config=SaliencyConfig(held_overlap=0.3))
    assert_allclose(c["object"][1], [1.0, 1.0, 0.8])  # still held by person 3 (50 % overlap)
    assert_allclose(c["object"][0], 0.6)


def test_the_hand_of_a_product_shot_weighs_hand_weight_of_its_saliency_while_it_holds():
    n = 3
    tr = SubjectTracks.allocate([1, 2], ["person", "cup"], n)
    tr.xyxy[0] = (0, 0, 80, 70)  # a torso cut by the top of the frame, no face: larger than the cup
    tr.xyxy[1, :2] = (75, 60, 90, 75)  # held at its corner (22 % of it inside the torso's box)
    tr.xyxy[1, 2] = (85, 85, 95, 95)  # put down away from it
    times = np.arange(n) / 10.0
    full, _ = compute_saliency(tr, (100, 100), times, config=SaliencyConfig(hand_weight=1.0))
    half, _ = compute_saliency(tr, (100, 100), times)  # hand_weight 0.5
    assert SaliencyConfig().hand_weight == 0.5
    assert_allclose(half[0, :2], 0.5 * full[0, :2], rtol=1e-6)
    assert half[0, 2] == pytest.approx(full[0, 2])  # no longer holding: a person again
    assert_allclose(half[1], full[1])  # the product is untouched
    assert (full[0, :2] > full[1, :2]).all() and (half[0, :2] < half[1, :2]).all()


def test_user_target_picks_the_subject_under_the_point_until_the_next_pick():
    tr, times = saliency_tracks()
    picks = [UserTarget(0.2, 0.05, 0.05), UserTarget(0.7, 0.5, 0.3)]
    sal, c = compute_saliency(tr, (100, 100), times, user_targets=picks)
    # at 0.2 s nobody is at (5, 5) px: the nearest present box centre wins (the cup at (25, 45))
    assert_array_equal(c["user"][2], [0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    assert_array_equal(c["user"][0], [0] * 7 + [1] * 3)  # (50, 30) px is in person 1's box
    assert_allclose(sal[0, 7:], 1.0)


# --------------------------------------------------------------------------------------------
# Transcripts
# --------------------------------------------------------------------------------------------

SRT = """1
00:00:00,500 --> 00:00:02,000
Alice: Hello there.

2
00:00:02,500 --> 00:00:04,000
[Bob] Hi!

3
00:00:04,000 --> 00:00:04,500
(door slams)
"""

VTT = """WEBVTT

00:00.500 --> 00:02.000
<v Alice>Hello there.</v>

00:02.500 --> 00:04.000
<v Bob>Hi!
"""


@pytest.mark.parametrize(("name", "text"), [("t.srt", SRT), ("t.vtt", VTT)])
def test_subtitles_with_speaker_names_parse_to_turns(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    turns = load_transcript(p)
    assert [(t.start_s, t.end_s, t.speaker) for t in turns] == [(0.5, 2.0, "Alice"), (2.5, 4.0, "Bob")]


ASS = r"""[Script Info]
ScriptType: v4.00+

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.50,0:00:02.00,Default,Alice,0,0,0,,{\i1}Hello there.{\i0}
Comment: 0,0:00:01.00,0:00:02.00,Default,Carol,0,0,0,,a comment is not a turn
Dialogue: 0,0:00:02.50,0:00:04.00,Default,,0,0,0,,Bob: Hi!
"""


def test_ass_actor_field_and_prefix_give_speakers(tmp_path):
    p = tmp_path / "t.ass"
    p.write_text(ASS)
    turns = load_transcript(p)
    assert [(t.start_s, t.end_s, t.speaker) for t in turns] == [(0.5, 2.0, "Alice"), (2.5, 4.0, "Bob")]


@pytest.mark.parametrize(
    ("text", "speaker"),
    [
        ("<i>Alice:</i> Hello.", "Alice"),
        ("<b><i>Alice</i></b>: Hello.", "Alice"),
        ('<font color="#ffff00">Alice:</font> Hello.', "Alice"),
        ("- Alice: Hello.", "Alice"),
        ("– Alice: Hello.", "Alice"),  # en dash
        ("Zoë: Bonjour.", "Zoë"),
        ("李明: 你好。", "李明"),
        ("Ángel García: Hola.", "Ángel García"),
        ("Speaker 2: yes", "Speaker 2"),
        ("Dr. O'Neil: quite.", "Dr. O'Neil"),
        ("[Bob] Hi!", "Bob"),
        ("At 10:30 we leave.", None),
        ("See http://example.org/x for more.", None),
        ("https://example.org: here", None),
        ("Ratio 16:9 is wide.", None),
        ("10:30: the meeting", None),
        ("(door slams)", None),
        ("[door slams]", None),  # a bracket with nothing after it is a sound label
        ("Just talking, no name.", None),
    ],
)
def test_speaker_prefixes_in_srt(tmp_path, text, speaker):
    p = tmp_path / "t.srt"
    p.write_text(f"1\n00:00:01,000 --> 00:00:03,000\n{text}\n\n2\n00:00:04,000 --> 00:00:05,000\nEve: end\n")
    turns = load_transcript(p)
    expected = ([(1.0, 3.0, speaker)] if speaker else []) + [(4.0, 5.0, "Eve")]
    assert [(t.start_s, t.end_s, t.speaker) for t in turns] == expected


def test_two_speaker_dash_cue_is_split_by_text_length(tmp_path):
    p = tmp_path / "t.srt"
    # 4 + 12 characters of text: the 2 s cue splits at 0.5 s
    p.write_text("1\n00:00:01,000 --> 00:00:03,000\n- Ann: Hi!!\n- Björn: Hello there.\n")
    turns = load_transcript(p)
    assert [t.speaker for t in turns] == ["Ann", "Björn"]
    assert_allclose([(t.start_s, t.end_s) for t in turns], [(1.0, 1.5), (1.5, 3.0)])


def test_webvtt_voice_tags_with_classes_and_non_ascii_names(tmp_path):
    p = tmp_path / "t.vtt"
    p.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\n<v.loud Zoë Dubois><i>Salut!</i>\n\n"
                 "00:03.000 --> 00:04.000\n<c.yellow>Ann:</c> hi\n")  # fmt: skip
    assert [(t.start_s, t.speaker) for t in load_transcript(p)] == [(1.0, "Zoë Dubois"), (3.0, "Ann")]


def test_transcript_errors_name_the_file(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("nothing like subtitles here")
    with pytest.raises(ValidationError, match=r"t\.txt") as err:
        load_transcript(p)
    assert err.value.field == "format"
    p = tmp_path / "t.srt"
    p.write_text("1\n00:00:01,000 --> 00:00:02,000\n(music)\n")
    with pytest.raises(ValidationError) as err:
        load_transcript(p)
    assert err.value.field == "turns"
    p = tmp_path / "plain.sub"  # unknown extension: format from the content
    p.write_text("1\n00:00:01,000 --> 00:00:02,000\nAnn: hi\n")
    assert [t.speaker for t in load_transcript(p)] == ["Ann"]


def test_json_turns_and_validation(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('[{"start_s": 1, "end_s": 2, "speaker": "A"}]')
    assert [(t.start_s, t.speaker) for t in load_transcript(p)] == [(1.0, "A")]
    p.write_text('[{"start_s": 3, "end_s": 2, "speaker": "A"}]')
    with pytest.raises(ValidationError) as err:
        load_transcript(p)
    assert err.value.field == "turns[0]"


def test_transcript_mapped_to_tracks_is_authoritative_in_its_turns(tmp_path):
    p = tmp_path / "t.srt"
    p.write_text(SRT)
    times = np.arange(50) / 10.0
    sp = np.full((2, 50), 0.3, np.float32)
    sp[1, 5:20] = 0.6  # track row 1 looks like Alice, row 0 like Bob
    sp[0, 25:40] = 0.6
    out = map_transcript_to_tracks(load_transcript(p), sp, times)
    assert_array_equal(out[1, 5:20], 1.0)
    assert_array_equal(out[0, 5:20], 0.0)
    assert_array_equal(out[0, 25:40], 1.0)
    assert_array_equal(out[1, 25:40], 0.0)
    assert_allclose(out[:, :5], 0.3)  # outside the turns nothing changes
    assert_allclose(out[:, 40:], 0.3)


def test_compute_cues_assembles_a_cue_series_with_sources():
    tr, times = saliency_tracks()
    tr.face_xyxy[0] = (40, 30, 60, 50)
    frames = [Frame(k, float(times[k]), np.zeros((100, 100, 3), np.uint8)) for k in range(10)]
    cues = compute_cues(frames, tr, np.zeros(16000, np.float32), times, (100, 100), asd_model=RampModel())
    assert cues.speaking.shape == (3, 10) and cues.saliency.shape == (3, 10)
    assert cues.sources["speaking"] == "ramp"
    assert np.all(cues.speaking[0] > 0.5) and np.all(cues.speaking[1:] == 0)
    assert set(cues.components) >= {"size", "centrality", "motion", "entering", "facing", "object", "user"}
    assert_array_equal(cues.track_id, [1, 2, 3])


def test_long_face_runs_are_scored_in_bounded_chunks_and_gaps_split_runs():
    n = 10
    times = np.arange(n) / 25.0
    tracks = SubjectTracks.allocate([1], ["person"], n)
    tracks.face_xyxy[0] = tracks.xyxy[0] = (10, 10, 30, 30)
    frames = [Frame(k, float(times[k]), np.zeros((40, 40, 3), np.uint8)) for k in range(n) if k != 6]
    model = RampModel()
    seen: list[int] = []
    out = score_active_speakers(
        frames, tracks, np.zeros(8000, np.float32), times, model,
        config=AsdConfig(smooth_frames=1, chunk_frames=4, min_run_frames=3), progress=seen.append,
    )  # fmt: skip
    # frames 0-3 (chunk), 4-5 (run broken by the missing frame 6: too short, not scored), 7-9
    assert [len(c.crops) for c in model.clips] == [4, 3]
    assert_allclose(out[0, :4], 1 / (1 + np.exp(-np.arange(4.0))), rtol=1e-6)
    assert_array_equal(out[0, 4:7], 0.0)
    assert_allclose(out[0, 7:], 1 / (1 + np.exp(-np.arange(3.0))), rtol=1e-6)
    assert seen == [0, 1, 2, 3, 4, 5, 7, 8, 9]


def test_compute_cues_with_a_transcript_path_and_no_frames(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('[{"start_s": 0.2, "end_s": 0.5, "speaker": "Ann"}]')
    tr, times = saliency_tracks()
    cues = compute_cues(None, tr, None, times, (100, 100), transcript=p)
    assert cues.sources["speaking"] == "none+transcript"
    assert_array_equal(cues.speech_prob, 0.0)
    assert cues.speaking[:, 2:5].sum(axis=0).tolist() == [1.0, 1.0, 1.0]
