"""One clip's analysis frozen for fitting: everything the planner sees, computed once.

Fitting plans every clip of a graded set hundreds of times with different constants, so the slow
part (detection, tracking, depth, active speaker detection) runs once per clip and its result is
stored as one ``.npz`` (:class:`ClipSnapshot`). What a fitted constant changes downstream of the
analysis is recomputed from the snapshot on each trial: the subject distances' smoothing (from the
raw per-frame distances kept here) and the planner.

Snapshots live in the pipeline's :class:`~autofocuspull.core.cache.StageCache` (stage
``snapshot``), keyed by the clip's content and the analysis configuration; the per-stage caches
beneath them (subjects, depth, cues) carry their own code fingerprints.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.arrays import cut_times_s
from autofocuspull.core.types import CueSeries, Lens, PlanInputs, SubjectTracks, VideoInfo

log = logging.getLogger(__name__)

# 2: raw readings from perception.distance.raw_subject_distances; 3: the scene's distance per shot
SNAPSHOT_VERSION = 3


@dataclass
class ClipSnapshot:
    """A clip's analysis: ``tracks`` with ``distance_m`` holding the RAW per-frame distances (gaps
    up to the track's interpolation filled, not yet smoothed), the cues, cut frames, the focus
    distance of the background (the scene at the frame's centre: first frame, and (T,) per shot),
    the depth source and the audio (16 kHz mono, or None)."""

    info: VideoInfo
    tracks: SubjectTracks
    cues: CueSeries
    cut_frames: list[int]
    background_m: float
    depth_source: str
    audio_16k: np.ndarray | None
    shot_background_m: np.ndarray | None = None

    @property
    def cuts_s(self) -> list[float]:
        return cut_times_s(self.info.pts_s, self.cut_frames)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        d = {f"tracks.{k}": v for k, v in self.tracks.to_npz_dict().items()}
        d.update({f"cues.{k}": v for k, v in self.cues.to_npz_dict().items()})
        d["cut_frames"] = np.asarray(self.cut_frames, np.int64)
        d["background_m"] = np.asarray(self.background_m, np.float64)
        d["depth_source"] = np.asarray(self.depth_source)
        d["version"] = np.asarray(SNAPSHOT_VERSION)
        if self.audio_16k is not None:
            d["audio_16k"] = self.audio_16k.astype(np.float32)
        if self.shot_background_m is not None:
            d["shot_background_m"] = np.asarray(self.shot_background_m, np.float64)
        return d

    @classmethod
    def from_npz_dict(cls, d: dict[str, np.ndarray], info: VideoInfo) -> ClipSnapshot:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)}

        return cls(
            info,
            SubjectTracks.from_npz_dict(part("tracks.")),
            CueSeries.from_npz_dict(part("cues.")),
            [int(c) for c in d["cut_frames"]],
            float(d["background_m"]),
            str(d["depth_source"]),
            d.get("audio_16k"),
            d.get("shot_background_m"),
        )

    def plan_inputs(self, distance_config=None, lens: Lens | None = None) -> PlanInputs:
        """The planner's inputs, with subject distances smoothed by ``distance_config``
        (:class:`~autofocuspull.perception.subjects.DistanceConfig`, default: the shipped one)."""
        from autofocuspull.config import RackConfig
        from autofocuspull.perception.distance import blur_px_per_dioptre, smooth_distance

        dcfg = distance_config or RackConfig().perception.distance
        lens = lens or Lens()
        tracks = dataclasses.replace(self.tracks, distance_m=self.tracks.distance_m.copy())
        fps = float(self.info.frame_rate)
        k = blur_px_per_dioptre(lens, self.info.width)  # as assign_subject_distances filters them
        present = self.tracks.present | self.tracks.has_face
        for s in range(len(tracks)):
            raw = self.tracks.distance_m[s].astype(np.float64)
            tracks.distance_m[s] = smooth_distance(
                raw, fps, dcfg, self.cut_frames, present=present[s], label=tracks.label[s], px_per_dioptre=k
            )
        return PlanInputs(
            self.info,
            tracks,
            self.cues,
            self.cuts_s,
            self.depth_source,
            background_m=self.background_m,
            lens=lens,
            shot_background_m=self.shot_background_m,
        )


# [stages] choices added after SNAPSHOT_VERSION 2: in the key only when set, so stored snapshots stay
LATER_STAGES = ("tracker", "cuts")


def _stages_key(cfg: Any) -> dict[str, Any]:
    from autofocuspull.config import StagesConfig, section_dict

    default = section_dict(StagesConfig())
    return {k: v for k, v in section_dict(cfg.stages).items() if k not in LATER_STAGES or v != default[k]}


def snapshot_clip(path: str | Path, cfg=None, *, refresh: bool = False) -> ClipSnapshot:
    """Analyse ``path`` (or reuse its stored snapshot) with the pipeline's stages and config
    (:class:`~autofocuspull.pipeline.RackConfig`, default one)."""
    from autofocuspull import pipeline
    from autofocuspull.config import RackConfig, section_dict
    from autofocuspull.io import check_input_file, probe, read_audio
    from autofocuspull.plan import background_distance_m, background_distances_m

    cfg = cfg or RackConfig()
    path = str(check_input_file(path))
    info = probe(path)
    sections = (*pipeline.PERCEPTION_SECTIONS, *pipeline.CUE_SECTIONS, "depth", "lens")
    key = {  # what the analysis depends on (not the planner, not the fitted distance smoothing)
        "version": SNAPSHOT_VERSION,
        **{name: section_dict(pipeline.config_section(cfg, name)) for name in sections},
        "stages": _stages_key(cfg),
    }
    cache = pipeline._cache(path, "snapshot", key, cfg)
    hit = None if refresh else cache.load_npz("snapshot.npz")
    if hit is not None:
        return ClipSnapshot.from_npz_dict(hit, info)
    # the pipeline's own analysis, with raw distance readings (each trial filters them) and without
    # the voice fusion (each trial fuses the voices with its own settings)
    a = pipeline.analyse(path, cfg, whole_clip_cues=False, raw_distances=True)
    background = background_distance_m(a.depth)
    per_shot = background_distances_m(a.depth, a.cut_frames, info.n_frames)
    audio = read_audio(path, 16000) if info.has_audio else None
    cuts = list(a.cut_frames)
    snap = ClipSnapshot(info, a.tracks, a.cues, cuts, background, a.depth_source, audio, per_shot)
    cache.save_npz("snapshot.npz", snap.to_npz_dict())
    return snap
