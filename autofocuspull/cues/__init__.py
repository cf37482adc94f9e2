"""Cues: what the soundtrack and the subjects say about who the shot is about.

- :func:`compute_vad`: voice activity (silero-vad) per frame;
- :func:`build_active_speaker_model` / :func:`score_active_speakers`: speaking probability per
  face track per frame (Light-ASD, or a loud mouth-motion fallback);
- :func:`compute_saliency`: visual importance per subject per frame, with named components;
- :func:`load_transcript` / :func:`map_transcript_to_tracks`: optional speaker turns;
- :func:`compute_cues`: all of the above into one :class:`~autofocuspull.core.types.CueSeries`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from autofocuspull.core.registry import Registry
from autofocuspull.core.types import CueSeries, Frame, SubjectTracks, check_array
from autofocuspull.cues.asd import (
    AsdConfig,
    LightASD,
    MouthMotionConfig,
    MouthMotionSpeaker,
    SpeakerModel,
    build_active_speaker_model,
    crop_face,
    score_active_speakers,
)
from autofocuspull.cues.mfcc import MfccConfig, mfcc
from autofocuspull.cues.saliency import SaliencyConfig, UserTarget, compute_saliency
from autofocuspull.cues.transcript import Turn, assign_speakers, load_transcript, map_transcript_to_tracks
from autofocuspull.cues.vad import VadConfig, compute_vad

log = logging.getLogger(__name__)


class SpeakerModelBuilder(Protocol):
    """Builds a :class:`~autofocuspull.cues.asd.SpeakerModel` (``score(TrackClip) -> (n,) logits``)
    from the run's ``[cues.speaker]``, ``[cues.mouth]`` and ``[cues.mfcc]`` sections; raises
    :class:`~autofocuspull.core.errors.ModelUnavailableError` when its model can't be had."""

    def __call__(self, speaker: AsdConfig, mouth: MouthMotionConfig, mfcc: MfccConfig, /) -> SpeakerModel: ...


def _light_asd(speaker: AsdConfig, mouth: MouthMotionConfig, mfcc_config: MfccConfig) -> SpeakerModel:
    return build_active_speaker_model(
        speaker.model_path, speaker.head_path, allow_fallback=False, config=speaker, mfcc_config=mfcc_config
    )


def _mouth_motion(speaker: AsdConfig, mouth: MouthMotionConfig, mfcc_config: MfccConfig) -> SpeakerModel:
    return MouthMotionSpeaker(mouth)


# Who speaks: the only way a speaker model is found by name (``[stages] speaker``); a registry
# entry's ``fallback`` is used, loudly, when its model can't be had.
SPEAKER_MODELS: Registry[SpeakerModelBuilder] = Registry("speaker model", "autofocuspull.speakers")
SPEAKER_MODELS.register("light-asd", _light_asd, fallback="mouth-motion")
SPEAKER_MODELS.register("mouth-motion", _mouth_motion)

__all__ = [
    "SPEAKER_MODELS",
    "AsdConfig",
    "LightASD",
    "MfccConfig",
    "MouthMotionConfig",
    "MouthMotionSpeaker",
    "SaliencyConfig",
    "SpeakerModel",
    "SpeakerModelBuilder",
    "Turn",
    "UserTarget",
    "VadConfig",
    "assign_speakers",
    "build_active_speaker_model",
    "compute_cues",
    "compute_saliency",
    "compute_vad",
    "crop_face",
    "load_transcript",
    "map_transcript_to_tracks",
    "mfcc",
    "score_active_speakers",
]


def compute_cues(
    frames: Iterable[Frame] | None,
    tracks: SubjectTracks,
    audio_16k: np.ndarray | None,
    times_s: np.ndarray,
    image_size: tuple[int, int],
    *,
    asd_model: Any | None = None,
    frame_scale: float = 1.0,
    transcript: str | Path | Sequence[Turn] | None = None,
    user_targets: Sequence[UserTarget] | None = None,
    vad_model: Any | None = None,
    progress: Callable[[int], None] | None = None,
    vad_config: VadConfig | None = None,
    asd_config: AsdConfig | None = None,
    saliency_config: SaliencyConfig | None = None,
) -> CueSeries:
    """All cues of a clip: VAD (T,), speaking (S, T), saliency (S, T) and its components.

    ``frames`` are streamed once for active speaker detection (None or no ``asd_model``: speaking
    is 0 unless a transcript gives it); ``frame_scale`` maps track pixels to frame pixels;
    ``image_size`` (width, height) of the full-resolution frame; ``times_s`` (T,) seconds;
    ``transcript`` a path or parsed turns; the ``*_config`` records default to their stage's
    defaults (the pipeline passes the run's ``[cues.*]`` sections).
    """
    times = check_array("times_s", times_s, (tracks.n_frames,), np.float64)
    sources: dict[str, str] = {}
    speech = compute_vad(audio_16k, times, model=vad_model, config=vad_config)
    sources["speech_prob"] = "silero-vad" if audio_16k is not None else "none (no audio)"
    speaking = np.zeros((len(tracks), len(times)), np.float32)
    if asd_model is not None and frames is not None and audio_16k is not None:
        speaking = score_active_speakers(
            frames, tracks, audio_16k, times, asd_model,
            scale=frame_scale, config=asd_config, progress=progress,
        )  # fmt: skip
        sources["speaking"] = asd_model.name
    else:
        sources["speaking"] = "none"
    if transcript is not None:
        turns = load_transcript(transcript) if isinstance(transcript, (str, Path)) else transcript
        speaking = map_transcript_to_tracks(list(turns), speaking, times)
        sources["speaking"] += "+transcript"
    saliency, components = compute_saliency(
        tracks, image_size, times, config=saliency_config, user_targets=user_targets
    )
    sources["saliency"] = "track geometry"
    return CueSeries(times, tracks.track_id, speech, speaking, saliency, components, sources)
