"""Whole-clip voices: mel features, evidence pooled per voice, assignment, fusion, loud fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from autofocuspull.core.types import SubjectTracks
from autofocuspull.cues.voices import (
    VoiceConfig,
    VoiceWindows,
    apply_voices,
    assign_voices,
    build_voice_encoder,
    cluster_voices,
    embed_speech_windows,
    fuse_speaking,
    mel_filterbank,
    mel_power,
    voice_face_evidence,
    voice_per_frame,
)


def test_slaney_filterbank_shape_and_area_normalisation():
    fb = mel_filterbank()
    assert fb.shape == (40, 201)
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[0] <= 2 and peaks[-1] >= 180
    # Slaney norm: each triangle's area in Hz is 1 (bins are 40 Hz apart), up to the bin sampling
    assert fb.sum(axis=1)[5:] * 40.0 == pytest.approx(1.0, rel=0.25)


def test_mel_power_of_a_tone_peaks_at_its_band():
    t = np.arange(16000) / 16000
    mel = mel_power((0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert mel.shape == (101, 40)  # centred frames every 10 ms
    band = int(np.median(mel.argmax(axis=1)))
    assert mel_filterbank()[band, 25] > 0  # 1000 Hz = bin 25 of the 40 Hz grid


def test_evidence_pools_each_voice_and_normalises_per_track():
    # 8 frames; voice 0 on 0-3, voice 1 on 4-7. Face 0 (always rated high) rises when voice 0
    # speaks; face 1 (always rated low) rises when voice 1 speaks.
    voice = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p0 = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6, 0.6, 0.6])
    p1 = np.array([0.1, 0.1, 0.1, 0.1, 0.3, 0.3, 0.3, 0.3])
    speaking = np.stack([p0, p1]).astype(np.float32)
    has_face = np.ones((2, 8), bool)
    cfg = VoiceConfig(prior_frames=0.0)
    ev = voice_face_evidence(voice, speaking, has_face, cfg)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    # each frame: the mean of (vs the other face in the frame) and (vs its own other-voice mean)
    assert ev[0, 0] == pytest.approx(((logit(0.9) - logit(0.1)) + (logit(0.9) - logit(0.6))) / 2)
    assert ev[1, 1] == pytest.approx(((logit(0.3) - logit(0.6)) + (logit(0.3) - logit(0.1))) / 2)
    assert ev[1, 0] < 0 < ev[1, 1]  # face 0 is rated higher than face 1 but falls when voice 1 talks
    assert assign_voices(ev, cfg) == {0: 0, 1: 1}
    shrunk = voice_face_evidence(voice, speaking, has_face, VoiceConfig(prior_frames=4.0))
    assert shrunk[0, 0] == pytest.approx(ev[0, 0] * 4 / 8)


def test_a_face_seen_only_during_one_voice_is_judged_against_the_clip():
    voice = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    speaking = np.array([[0.5] * 4 + [0.0] * 4, [0.0] * 4 + [0.7] * 4], np.float32)
    has_face = np.array([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]], bool)
    ev = voice_face_evidence(voice, speaking, has_face, VoiceConfig(prior_frames=4.0))
    assert assign_voices(ev, VoiceConfig()) == {1: 1}  # 0.7 beats the clip's median (0.5, 0.7): 0.6
    fused = fuse_speaking(speaking, voice, {1: 1}, has_face, 0.5)
    np.testing.assert_allclose(fused[1, 4:], 0.85)
    np.testing.assert_allclose(fused[0, :4], 0.25)


def test_clusters_and_frames_follow_the_windows():
    e = np.zeros((6, 256), np.float32)
    e[:3, 0], e[3:, 1] = 1.0, 1.0
    windows = VoiceWindows(np.array([0.5, 1.0, 1.5, 5.0, 5.5, 6.0]), e)
    labels = cluster_voices(windows, VoiceConfig())
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    times = np.arange(0, 7, 0.5)
    speech = np.where((times < 2) | (times >= 5), 1.0, 0.0)
    assert voice_per_frame(windows, labels, speech, times).tolist() == [0, 0, 0, 0, -1, -1, -1, -1,
                                                                         -1, -1, 1, 1, 1, 1]  # fmt: skip


def test_missing_encoder_falls_back_loudly(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        assert build_voice_encoder(VoiceConfig(weights_path=str(tmp_path / "none.pt"))) is None
    assert "voice diarisation OFF" in caplog.text


def test_apply_voices_without_faces_changes_nothing():
    from autofocuspull.core.types import CueSeries

    cues = CueSeries(np.arange(3) / 10, np.zeros(0, np.int64), np.ones(3, np.float32),
                     np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))  # fmt: skip
    win = VoiceWindows(np.array([0.1]), np.ones((1, 256), np.float32))
    assert apply_voices(cues, SubjectTracks.empty(3), win) is cues


def test_ge2e_embeds_a_voice_like_signal_when_installed():
    import importlib.util

    if importlib.util.find_spec("resemblyzer") is None:  # not imported: it needs librosa, webrtcvad
        pytest.skip("GE2E weights ship in the resemblyzer wheel: pip install --no-deps resemblyzer==0.1.4")
    enc = build_voice_encoder()
    assert enc is not None
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    e = enc.embed(mel_power(audio)[None, :100])
    assert e.shape == (1, 256) and np.linalg.norm(e[0]) == pytest.approx(1.0, abs=1e-4)


def test_a_short_run_takes_the_voice_of_its_own_window_not_the_nearest_one():
    # windows of voice 0 up to 1.5 s, voice 1 at 2.2 s: the run 1.8-2.4 s is voice 1's even where
    # voice 0's window at 1.5 s is nearer (frames at 1.8 s), and a run with no window of its own
    # (3.5-3.6 s) takes the nearest window's
    e = np.zeros((4, 256), np.float32)
    e[:3, 0], e[3, 1] = 1.0, 1.0
    windows = VoiceWindows(np.array([0.5, 1.0, 1.5, 2.2]), e)
    labels = np.array([0, 0, 0, 1])
    times = np.round(np.arange(0, 4, 0.1), 6)
    runs_s = ((0.0, 1.6), (1.8, 2.5), (3.5, 3.7))
    speech = np.any([(times >= a) & (times < b) for a, b in runs_s], axis=0).astype(np.float32)
    voice = voice_per_frame(windows, labels, speech, times)
    assert voice[(times >= 1.8) & (times < 2.5)].tolist() == [1] * 7
    assert voice[times < 1.6].tolist() == [0] * 16
    assert voice[(times >= 3.5) & (times < 3.7)].tolist() == [1, 1]


class _LengthEncoder:
    """A stand-in encoder: the embedding says how many mel frames it was given (one-hot)."""

    def embed(self, mels):
        out = np.zeros((len(mels), 256), np.float32)
        out[:, min(mels.shape[1], 255)] = 1.0
        return out


def test_a_short_utterance_no_window_can_embed_is_embedded_on_its_own():
    # 3 s of speech, silence, then "Thank you." (0.4 s at 5.0-5.4 s): 40 % of any 1 s window,
    # under min_speech, so no window holds it; it is embedded from its own 40 mel frames
    times = np.round(np.arange(0, 6.5, 0.04), 6)
    speech = np.where((times < 3.0) | ((times >= 5.0) & (times < 5.4)), 1.0, 0.0)
    audio = np.random.default_rng(0).normal(0, 0.1, int(6.5 * 16000)).astype(np.float32)
    win = embed_speech_windows(audio, speech, times, _LengthEncoder(), VoiceConfig())
    assert np.all(np.diff(win.centres_s) > 0)
    assert win.centres_s[-1] == pytest.approx(5.2)
    assert win.embeddings[-1].argmax() == 40  # its own frames only
    assert set(win.embeddings[:-1].argmax(axis=1).tolist()) == {100}  # the 1 s windows
    # a blip under min_run_s is not embedded
    win = embed_speech_windows(audio, speech, times, _LengthEncoder(), VoiceConfig(min_run_s=0.5))
    assert win.centres_s[-1] < 3.0


def test_a_talking_head_one_face_one_voice_keeps_its_voice():
    # one face, one voice: no other voice or face to compare with, so the speaker model's own
    # threshold (logit 0) is the reference; the face it rates speaking takes the voice
    voice = np.array([-1, 0, 0, 0, 0, 0, 0, -1])
    speaking = np.array([[0.2, 0.8, 0.8, 0.7, 0.8, 0.8, 0.8, 0.2]], np.float32)  # steady: no rise
    has_face = np.ones((1, 8), bool)
    ev = voice_face_evidence(voice, speaking, has_face, VoiceConfig(prior_frames=4.0))
    assert assign_voices(ev, VoiceConfig()) == {0: 0}
    quiet = np.array([[0.2, 0.2, 0.3, 0.2, 0.1, 0.2, 0.2, 0.2]], np.float32)  # rated silent: no voice
    assert assign_voices(voice_face_evidence(voice, quiet, has_face, VoiceConfig(prior_frames=4.0))) == {}
