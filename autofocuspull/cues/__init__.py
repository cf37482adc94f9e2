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
from typing import Any

import numpy as np

from autofocuspull.core.types import CueSeries, Frame, SubjectTracks, check_array
from autofocuspull.cues.asd import (
    AsdConfig,
    LightASD,
    MouthMotionSpeaker,
    build_active_speaker_model,
    crop_face,
    score_active_speakers,
)
from autofocuspull.cues.mfcc import MfccConfig, mfcc
from autofocuspull.cues.saliency import SaliencyConfig, UserTarget, compute_saliency
from autofocuspull.cues.transcript import Turn, assign_speakers, load_transcript, map_transcript_to_tracks
from autofocuspull.cues.vad import VadConfig, compute_vad

log = logging.getLogger(__name__)

__all__ = [
    "AsdConfig",
    "LightASD",
    "MfccConfig",
    "MouthMotionSpeaker",
    "SaliencyConfig",
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
