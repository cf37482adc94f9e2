"""The only module that wires the stages together; the CLI calls nothing else.

    video I/O → perception (subjects, cuts, depth) → cues → planner → renderer → writer

A run is described by one :class:`~autofocuspull.config.RackConfig` (every stage's section).
Each analysis stage is cached per clip under a key made of its own configuration sections
(:func:`~autofocuspull.core.cache.stage_key`), so an interrupted run resumes and a rerun with
another planner, lens or renderer reuses the analysis. Models are built here (device and dtype
chosen here, never inside model code) through :func:`~autofocuspull.core.models.build_model`: a
model that can't be had either stops the run with what to download, or is replaced by a
documented fallback that is logged loudly and recorded in the plan's ``meta["warnings"]``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull import __version__
from autofocuspull.config import SCHEDULING_SECTIONS, RackConfig, RunConfig, config_section, config_to_dict
from autofocuspull.core.arrays import cut_times_s
from autofocuspull.core.cache import StageCache, array_key, file_key, stage_key
from autofocuspull.core.errors import UsageError
from autofocuspull.core.heap import trimmed
from autofocuspull.core.hub import hub_reachable, offline
from autofocuspull.core.models import build_model, fallback_names
from autofocuspull.core.threads import available_cores, set_threads
from autofocuspull.core.timing import stage, timed_iter, timed_model
from autofocuspull.core.types import CueSeries, FocusPlan, PlanInputs, SubjectTracks, VideoInfo
from autofocuspull.io import check_input_file, check_output_path, iter_frames, probe, read_audio, transcode
from autofocuspull.io.writer import ensure_writable_dir
from autofocuspull.perception.masks import PersonMaskStore
from autofocuspull.progress import Counter, bar

log = logging.getLogger(__name__)

AUDIO_RATE_HZ = 16000  # what silero-vad and Light-ASD take

__all__ = [
    "Analysis",
    "RackConfig",
    "analyse",
    "check_plan_fits",
    "demo",
    "estimate_depth",
    "evaluate_folder",
    "experiment",
    "perceive",
    "plan_clip",
    "plan_command",
    "plan_from_analysis",
    "rack",
    "render_clip",
    "render_command",
    "resolve_device",
]


def resolve_device(name: str) -> Any:
    """``torch.device`` for "cpu", "cuda" or "auto" (cuda when available)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("run.device cuda: no CUDA device is available (use --device cpu or auto)")
    return torch.device(name)


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """What the planner and renderer need to know about a clip."""

    info: VideoInfo
    tracks: SubjectTracks
    cut_frames: list[int]
    cues: CueSeries
    depth: Any  # MetricDepthSource: depth_m_at(index) -> (h, w) float32 metres
    depth_source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def cuts_s(self) -> list[float]:
        return cut_times_s(self.info.pts_s, self.cut_frames)


def _decoded(frames: Iterator[Any]) -> Iterator[Any]:
    """A stage's decoded frames: timed as "decode", the heap trimmed every so often (core/heap.py)."""
    return trimmed(timed_iter("decode", frames))


def _cache(path: str | os.PathLike[str], stage: str, key: Any, cfg: RackConfig) -> StageCache:
    return StageCache.for_clip(path, stage, key, root=cfg.run.cache_dir, enabled=cfg.run.use_cache)


def _fallback_cache(
    path: str | os.PathLike[str], stage: str, key: dict[str, Any], cfg: RackConfig, notes: list[str]
) -> StageCache:
    """The cache entry of a result made while a model fell back (``notes`` of build_model): kept
    apart from the real model's, so installing the model later is never answered with it."""
    return _cache(path, stage, {**key, "fallbacks": fallback_names(notes)}, cfg)


def _analysis_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    from autofocuspull.io import scaled_size

    return scaled_size(info.width, info.height, max_side)


# the [stages] choices perception depends on
PERCEPTION_STAGES = ("faces", "objects", "masks", "tracker", "cuts")
PERCEPTION_SECTIONS = (
    "io",
    "perception.faces",
    "perception.objects",
    "perception.masks",
    "perception.tracking",
    "perception.cuts",
    "perception.subjects",
    "perception.reid",
    "perception.salient",
    "perception.perceiver",
)
PERCEPTION_CODE = (
    "autofocuspull.perception.detect",
    "autofocuspull.perception.subjects",
    "autofocuspull.perception.track",
    "autofocuspull.perception.cuts",
    "autofocuspull.perception.reid",
    "autofocuspull.perception.salient",
    "autofocuspull.perception.distance",
    "autofocuspull.perception.masks",
    "autofocuspull.io.reader",
)


def _sections(cfg: RackConfig, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: config_section(cfg, name) for name in names}


def perceive(
    path: str, info: VideoInfo, cfg: RackConfig, warnings: list[str]
) -> tuple[SubjectTracks, list[int], PersonMaskStore]:
    """Faces, people and objects tracked into subjects; shot cuts; person masks. Cached."""
    from autofocuspull.perception.subjects import Perceiver

    p = cfg.perception
    stages = {name: getattr(cfg.stages, name) for name in PERCEPTION_STAGES}
    key = stage_key(
        _sections(cfg, PERCEPTION_SECTIONS), PERCEPTION_CODE, stages=stages, n_frames=info.n_frames
    )
    cache = _cache(path, "subjects", key, cfg)
    hit = cache.load_npz("tracks.npz")
    if hit is not None:
        return _subjects_hit(hit, warnings)
    notes: list[str] = []
    faces = timed_model(_face_detector(cfg, notes), "detection")
    objects = _detector(cfg.stages.objects, p.objects, notes, "object detector", "tracking faces only")
    objects = timed_model(objects, "detection")
    segment = _detector(
        cfg.stages.masks, p.masks, notes, "person segmenter", "subjects use their boxes instead of masks"
    )
    segment = timed_model(segment, "segmentation")
    if notes:  # a model fell back: that result is kept apart from the real models' one
        cache = _fallback_cache(path, "subjects", key, cfg, notes)
        hit = cache.load_npz("tracks.npz")
        if hit is not None:
            return _subjects_hit(hit, warnings)
    masks = PersonMaskStore()
    aw, _ = _analysis_size(info, cfg.io.analysis_max_side_px)
    per = Perceiver(
        faces,
        objects,
        fps=float(info.frame_rate),
        image_size=(info.width, info.height),
        scale=info.width / aw,
        config=p.perceiver_config(),
        tracker=cfg.stages.tracker,
        cut_detector=cfg.stages.cuts,
    )
    every = p.perceiver.mask_every
    frames = _decoded(iter_frames(path, info, max_side=cfg.io.analysis_max_side_px))
    for frame in bar(frames, "detect+track", info.n_frames):
        with stage("tracking"):  # what the detectors (timed on their own) leave of the update
            per.update(frame)
        if segment is not None and frame.index % every == 0:
            masks.add(frame.index, segment(frame.rgb))
    with stage("tracking"):
        tracks, cuts = per.finish(info.n_frames)
    warnings.extend(notes)
    cache.save_npz(
        "tracks.npz",
        {
            **tracks.to_npz_dict(),
            "cut_frames": np.asarray(cuts, np.int64),
            "warnings": np.asarray(notes, dtype=str),
            **masks.to_npz_dict(),
        },
    )
    return tracks, list(cuts), masks


def _subjects_hit(
    hit: dict[str, Any], warnings: list[str]
) -> tuple[SubjectTracks, list[int], PersonMaskStore]:
    log.info("subjects: reusing cached analysis (%d subjects)", len(hit["track_id"]))
    warnings.extend(str(w) for w in hit["warnings"].tolist())
    masks = PersonMaskStore.from_npz_dict(hit)
    return SubjectTracks.from_npz_dict(hit), [int(c) for c in hit["cut_frames"]], masks


def _detector(name: str, section: Any, notes: list[str], what: str, instead: str) -> Any:
    """A detector from :data:`DETECTORS` built with its config section, or None (loudly)."""
    from autofocuspull.perception.detect import DETECTORS

    builder = DETECTORS.get(name)
    key = ("detector", name, repr(section))  # batch workers build it once (core.models.keep_models)
    return build_model(what, lambda: builder(section.model_path, section), notes, instead=instead, key=key)


def _face_detector(cfg: RackConfig, notes: list[str]) -> Any:
    """The configured face detector; one from the download cache that can't be had falls back,
    loudly, along its registry entry's ``fallback`` chain (YuNet -> CenterFace -> no faces).
    A model path you gave must be there."""
    from autofocuspull.perception.detect import DETECTORS

    section = cfg.perception.faces
    name = cfg.stages.faces
    path = section.model_path
    while True:
        nxt = None if path is not None else DETECTORS.info(name).get("fallback")
        build = DETECTORS.get(name)
        key = ("faces", name, path, repr(section))
        if nxt is None:
            return build_model(f"{name} face detector", lambda b=build, p=path: b(p, section), notes, key=key)
        got = build_model(
            f"{name} face detector",
            lambda b=build: b(None, section),
            notes,
            instead=f"FALLING BACK to {nxt} (pass --face-model PATH)",
            key=key,
        )
        if got is not None:
            return got
        name = nxt


def estimate_depth(
    path: str,
    info: VideoInfo,
    tracks: SubjectTracks,
    cut_frames: list[int],
    cfg: RackConfig,
    warnings: list[str],
    masks: PersonMaskStore | None = None,
) -> tuple[Any, str]:
    """Metric depth of every frame (a store read lazily per frame) and the name of its source."""
    from autofocuspull.perception.depth import (
        build_depth_estimator,
        clip_depth,
        depth_cache_config,
        preferred_dtype,
    )
    from autofocuspull.perception.depth.metric import focal_length_px

    d = cfg.depth
    device = resolve_device(cfg.run.device)
    focal_px = focal_length_px(info.width)
    notes: list[str] = []
    reasons: list[str] = []
    est = build_model(
        "DEPTH MODEL",
        lambda: build_depth_estimator(
            d.model,
            device=device,
            dtype=preferred_dtype(device),
            input_size=d.input_size,
            local_files_only=Path(d.model).exists() or not hub_reachable(),
            batch_size=d.batch_size,
        ),
        notes,
        instead="using heuristic depth (subjects at prior distances)",
        key=("depth", d.model, str(device), d.input_size, offline()),
        reasons=reasons,
    )
    warnings.extend(notes)
    if est is None:
        return _heuristic_depth(info, tracks, masks, focal_px, reasons[-1]), "heuristic"
    root = cfg.run.cache_dir if cfg.run.use_cache else _scratch_dir("autofocuspull-depth-")
    key = stage_key(
        {"depth": depth_cache_config(est.source, d, cut_frames), "regions": array_key(tracks.xyxy)},
        ("autofocuspull.perception.depth.run", "autofocuspull.perception.depth.estimator",
         "autofocuspull.perception.depth.align"),
    )  # fmt: skip
    cache = StageCache.for_clip(path, "depth", key, root=root)
    frames = bar(_decoded(iter_frames(path, info, max_side=d.frame_max_side_px)), "depth", info.n_frames)
    with stage("depth-other"):  # keyframe choice, flow propagation, alignment, cache; "depth" = network
        store = clip_depth(
            frames,
            timed_model(est, "depth"),
            cache,
            tracks=tracks,
            frame_size_hw=(info.height, info.width),
            config=d,
            focal_px=focal_px,
            user_distance_m=d.subject_distance_m,
            n_frames=info.n_frames,
            cuts=cut_frames,
            regions=_subject_regions(tracks, info),
        )
    return store, est.source


def _subject_regions(tracks: SubjectTracks, info: VideoInfo) -> Callable[[int], np.ndarray]:
    """Frame index -> (S, 4) subjects' boxes normalised to the frame (NaN rows where absent)."""
    size = np.array([info.width, info.height, info.width, info.height], np.float32)
    return lambda index: tracks.xyxy[:, index] / size if index < tracks.xyxy.shape[1] else np.zeros((0, 4))


def _heuristic_depth(
    info: VideoInfo, tracks: SubjectTracks, masks: PersonMaskStore | None, focal_px: float, reason: str
) -> Any:
    from autofocuspull.perception.depth import heuristic_source

    dw, dh = _analysis_size(info, 320)
    mask_fn = None
    if masks is not None and len(masks):

        def mask_fn(t: int) -> np.ndarray | None:
            return masks.subject_masks(t, tracks, (info.height, info.width), (dh, dw))

    return heuristic_source(
        tracks, (info.height, info.width), (dh, dw), reason=reason, focal_px=focal_px, mask_fn=mask_fn
    )


def _scratch_dir(prefix: str) -> str:
    """A temp folder (for uncached depth chunks) removed when the process exits, interrupted or not."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


CUE_SECTIONS = ("cues.vad", "cues.speaker", "cues.mouth", "cues.saliency", "cues.mfcc")


def _cues_hit(hit: dict[str, Any], warnings: list[str]) -> CueSeries:
    log.info("cues: reusing cached analysis")
    warnings.extend(str(w) for w in hit["warnings"].tolist())
    return CueSeries.from_npz_dict(hit)


def compute_clip_cues(
    path: str, info: VideoInfo, tracks: SubjectTracks, cfg: RackConfig, warnings: list[str]
) -> CueSeries:
    """Voice activity, active speakers and saliency per subject per frame. Cached."""
    from autofocuspull.cues import SPEAKER_MODELS, compute_cues

    c = cfg.cues
    asd_wanted = cfg.planner.mode != "saliency"  # the only way the cue mode changes what is computed
    key = stage_key(
        _sections(cfg, CUE_SECTIONS),
        ("autofocuspull.cues",),
        asd_wanted=asd_wanted,
        speaker=cfg.stages.speaker,
        transcript=file_key(c.transcript.path),
        # what the cues are computed from and indexed by: the boxes, faces and landmarks, and the
        # ids and labels of the rows (a perception change that renumbers identical boxes must not
        # be answered with cues for the old ids)
        tracks=array_key(tracks.xyxy, tracks.face_xyxy, tracks.landmarks_px, tracks.track_id),
        labels=list(tracks.label),
    )
    cache = _cache(path, "cues", key, cfg)
    hit = cache.load_npz("cues.npz")
    if hit is not None:
        return _cues_hit(hit, warnings)
    notes: list[str] = []
    audio = read_audio(path, AUDIO_RATE_HZ) if info.has_audio else None
    model = None
    if asd_wanted and audio is not None and bool(tracks.has_face.any()):
        name = cfg.stages.speaker
        build = SPEAKER_MODELS.get(name)
        fallback = None if c.speaker.model_path else SPEAKER_MODELS.info(name).get("fallback")
        model = build_model(
            f"{name} speaker model",
            lambda: build(c.speaker, c.mouth, c.mfcc),
            notes,
            fallback=(lambda: SPEAKER_MODELS.get(fallback)(c.speaker, c.mouth, c.mfcc)) if fallback else None,
            instead=f"FALLING BACK to {fallback} (much less reliable)" if fallback else None,
            key=("speaker", name, repr(c.speaker), repr(c.mfcc), repr(c.mouth)),
        )
    if notes:  # the speaker model fell back: that result is kept apart from the real model's one
        cache = _fallback_cache(path, "cues", key, cfg, notes)
        hit = cache.load_npz("cues.npz")
        if hit is not None:
            return _cues_hit(hit, warnings)
    frames = None
    if model is not None:
        frames = bar(_decoded(iter_frames(path, info)), "who speaks", info.n_frames)
    cues = compute_cues(
        frames,
        tracks,
        audio,
        info.pts_s,
        (info.width, info.height),
        asd_model=model,
        transcript=c.transcript.path,
        vad_config=c.vad,
        asd_config=c.speaker,
        saliency_config=c.saliency,
    )
    warnings.extend(notes)
    cache.save_npz("cues.npz", {**cues.to_npz_dict(), "warnings": np.asarray(notes, dtype=str)})
    return cues


def analyse(
    path: str | os.PathLike[str], cfg: RackConfig, whole_clip_cues: bool = True, raw_distances: bool = False
) -> Analysis:
    """Run (or reuse) perception, depth and cues for a clip (``whole_clip_cues=False``: without the
    voice diarisation, which needs the whole soundtrack: a piece of a clip, see :func:`analyse_piece`,
    or a fit's snapshot, which fuses the voices per trial). ``raw_distances``: subjects' distances
    are the unfiltered depth readings (a fit re-filters them per trial) instead of the focus
    distances of :func:`~autofocuspull.perception.distance.assign_subject_distances`."""
    from autofocuspull.perception.distance import raw_subject_distances
    from autofocuspull.perception.subjects import assign_subject_distances

    path = str(check_input_file(path))
    set_threads(cfg.run.threads)
    info = probe(path)
    warnings: list[str] = []
    tracks, cuts, masks = perceive(path, info, cfg, warnings)
    depth, depth_source = estimate_depth(path, info, tracks, cuts, cfg, warnings, masks)
    mask_at = masks.prob_at if len(masks) else None
    with stage("distances"):
        if raw_distances:
            tracks.distance_m[:] = raw_subject_distances(
                tracks, depth.depth_m_at, (info.height, info.width), person_mask_at=mask_at,
                config=cfg.perception.distance,
            )  # fmt: skip
        else:
            assign_subject_distances(
                tracks,
                depth.depth_m_at,
                (info.width, info.height),
                fps=float(info.frame_rate),
                cuts=cuts,
                person_mask_at=mask_at,
                config=cfg.perception.distance,
                lens=cfg.lens,  # the distance deadband is a fraction of a pixel of this lens's blur
            )
    with stage("cues"):
        cues = compute_clip_cues(path, info, tracks, cfg, warnings)
        if whole_clip_cues and cfg.planner.mode != "saliency":  # whole-clip voices fused with per-frame ASD
            cues = apply_voice_cues(path, info, tracks, cues, cfg, warnings)
    return Analysis(info, tracks, cuts, cues, depth, depth_source, warnings)


def voice_windows(path: str, info: VideoInfo, cues: CueSeries, cfg: RackConfig, warnings: list[str]):
    """GE2E embeddings of the clip's speech windows (cached), or None when the encoder is missing
    (loud fallback: speaker detection from Light-ASD alone) or the clip has no audio."""
    from autofocuspull.cues.voices import VoiceEncoder, VoiceWindows, embed_speech_windows, ge2e_weights_path

    if not info.has_audio:
        return None
    vcfg = cfg.cues.voices
    fields = ("window_s", "hop_s", "min_speech", "min_run_s", "weights_path")
    windows_of = {k: getattr(vcfg, k) for k in fields}
    key = stage_key(_sections(cfg, ("cues.vad",)), ("autofocuspull.cues.voices",), windows=windows_of)
    cache = _cache(path, "voices", key, cfg)
    hit = cache.load_npz("windows.npz")
    if hit is not None:
        return VoiceWindows(hit["centres_s"], hit["embeddings"])
    notes: list[str] = []
    encoder = build_model(
        "GE2E voice encoder",
        lambda: VoiceEncoder.load(ge2e_weights_path(vcfg.weights_path)),
        notes,
        instead="voice diarisation OFF, speaker detection from Light-ASD alone",
    )
    warnings.extend(notes)
    if encoder is None:
        return None
    audio = read_audio(path, AUDIO_RATE_HZ)
    windows = embed_speech_windows(audio, cues.speech_prob, cues.times_s, encoder, vcfg)
    cache.save_npz("windows.npz", {"centres_s": windows.centres_s, "embeddings": windows.embeddings})
    return windows


def apply_voice_cues(
    path: str, info: VideoInfo, tracks: SubjectTracks, cues: CueSeries, cfg: RackConfig, warnings: list[str]
) -> CueSeries:
    """``cues`` with the whole-clip voice diarisation fused into ``speaking`` (when it can be had)."""
    from autofocuspull.cues.voices import apply_voices

    windows = voice_windows(path, info, cues, cfg, warnings)
    return cues if windows is None else apply_voices(cues, tracks, windows, cfg.cues.voices)


# --------------------------------------------------------------------------------------------
# Analysis in pieces: a long clip analysed by several workers at once, joined for one plan
# --------------------------------------------------------------------------------------------

# What a piece's kept analysis depends on (see _piece_record): every analysis section (not the
# planner's, renderer's or encoder's: a new plan or render reuses it), and the code.
PIECE_SECTIONS = ("stages", "io", "lens", "depth", "perception", "cues")
PIECE_CODE = (
    "autofocuspull.pipeline",
    "autofocuspull.perception",
    "autofocuspull.cues",
    "autofocuspull.core",
)


def detect_clip_cuts(path: str | os.PathLike[str], cfg: RackConfig) -> list[int]:
    """The clip's shot cuts alone: the perceiver's cut detector on the frames it sees (analysis
    size), without detection or tracking, so the same cuts as :func:`perceive` finds. A decode pass
    and a few small-image differences per frame: the cheap first step that says where a long clip
    can be split (:func:`analyse_piece`). Cached."""
    from autofocuspull.perception.cuts import detect_cuts

    path = str(check_input_file(path))
    info = probe(path)
    key = stage_key(
        _sections(cfg, ("io", "perception.cuts")),
        ("autofocuspull.perception.cuts", "autofocuspull.io.reader"),
        n_frames=info.n_frames,
        detector=cfg.stages.cuts,
    )
    cache = _cache(path, "cuts", key, cfg)
    hit = cache.load_npz("cuts.npz")
    if hit is not None:
        return [int(c) for c in hit["cut_frames"]]
    frames = _decoded(iter_frames(path, info, max_side=cfg.io.analysis_max_side_px))
    frames = bar(frames, "cuts", info.n_frames)
    cuts = detect_cuts(frames, float(info.frame_rate), cfg.perception.cuts, detector=cfg.stages.cuts)
    cache.save_npz("cuts.npz", {"cut_frames": np.asarray(cuts, np.int64)})
    return list(cuts)


def _piece_config(cfg: RackConfig) -> RackConfig:
    """A piece's configuration: the run's without the transcript, whose times are the whole clip's
    (it is mapped onto the joined cues instead, see :func:`analyse_in_pieces`)."""
    import dataclasses

    c = cfg.cues
    no_transcript = dataclasses.replace(c.transcript, path=None)
    return dataclasses.replace(cfg, cues=dataclasses.replace(c, transcript=no_transcript))


def piece_clip(path: str | os.PathLike[str], info: VideoInfo, start: int, stop: int, cfg: RackConfig) -> Path:
    """Frames ``start <= index < stop`` of ``path`` as a clip of their own, times from 0: the lossless
    range clip of :mod:`autofocuspull.io.trim` (made once, kept in the analysis cache)."""
    from autofocuspull.io.trim import trimmed_clip

    return trimmed_clip(path, _piece_range(info, start, stop), cfg.run.cache_dir, cfg.run.use_cache)


def _piece_record(clip: Path, cfg: RackConfig) -> dict[str, np.ndarray]:
    """A piece's analysis as arrays (its tracks with distances, cues, cuts, depth source, warnings),
    kept in the analysis cache so that joining the pieces reads them instead of redoing anything."""
    pcfg = _piece_config(cfg)
    sections = _sections(pcfg, PIECE_SECTIONS)
    key = stage_key(sections, PIECE_CODE, cue_mode=cfg.planner.mode, device=cfg.run.device)
    cache = _cache(clip, "piece", key, cfg)
    hit = cache.load_npz("analysis.npz")
    if hit is not None:
        return hit
    a = analyse(clip, pcfg, whole_clip_cues=False)
    record = {
        **{f"tracks.{k}": v for k, v in a.tracks.to_npz_dict().items()},
        **{f"cues.{k}": v for k, v in a.cues.to_npz_dict().items()},
        "cut_frames": np.asarray(a.cut_frames, np.int64),
        "depth_source": np.asarray(a.depth_source, dtype=str),
        "warnings": np.asarray(a.warnings, dtype=str),
    }
    cache.save_npz("analysis.npz", record)
    return record


def analyse_piece(path: str | os.PathLike[str], start: int, stop: int, cfg: RackConfig) -> Path:
    """Analyse frames ``start..stop`` of a clip as a clip of its own (:func:`piece_clip`): perception,
    depth, distances and the per-frame cues; the cues that need the whole soundtrack are left to
    :func:`analyse_in_pieces`. Returns the piece's clip; its analysis is in the cache."""
    path = str(check_input_file(path))
    clip = piece_clip(path, probe(path), start, stop, cfg)
    _piece_record(clip, cfg)
    return clip


def drop_piece_clips(path: str | os.PathLike[str], pieces: list[tuple[int, int]], cfg: RackConfig) -> None:
    """Remove the lossless clips of ``pieces`` (:func:`piece_clip`), keeping their analysis
    (:func:`~autofocuspull.io.trim.drop_trimmed_clip`: one made again is found again)."""
    from autofocuspull.io.trim import drop_trimmed_clip

    info = probe(path)
    for a, b in pieces:
        drop_trimmed_clip(path, _piece_range(info, a, b), cfg.run.cache_dir)


def _piece_range(info: VideoInfo, start: int, stop: int) -> Any:
    from autofocuspull.io.trim import TimeRange

    if not 0 <= start < stop <= info.n_frames:
        raise ValueError(f"{info.path}: piece {start}..{stop} outside 0..{info.n_frames}")
    t0 = 0.0 if start == 0 else float(info.pts_s[start])
    return TimeRange(t0, None if stop == info.n_frames else float(info.pts_s[stop]))


class PieceDepth:
    """The depth of a clip analysed in pieces: frame ``index`` of the clip is read from its piece's
    own depth store, each opened (from the cache) when first asked for, so a render of a few
    shots opens only their pieces."""

    def __init__(self, path: str, info: VideoInfo, pieces: list[tuple[int, int]], cfg: RackConfig) -> None:
        self.path, self.info, self.pieces, self.cfg = path, info, pieces, _piece_config(cfg)
        self._starts = np.asarray([a for a, _ in pieces], np.int64)
        self._stores: dict[int, Any] = {}

    def depth_m_at(self, index: int) -> np.ndarray:
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        if k not in self._stores:
            clip = piece_clip(self.path, self.info, *self.pieces[k], self.cfg)
            self._stores[k] = render_depth(clip, probe(clip), self.cfg)
        return self._stores[k].depth_m_at(index - int(self._starts[k]))


def _sub(record: Any, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: record[k] for k in record if k.startswith(prefix)}


def analyse_in_pieces(
    path: str | os.PathLike[str], pieces: list[tuple[int, int]], cut_frames: list[int], cfg: RackConfig
) -> Analysis:
    """The whole clip's :class:`Analysis` from its pieces' (``[(start, stop), ...]`` covering it in
    order; a piece not analysed yet is analysed here), for one plan over the whole clip.

    Joined by :mod:`autofocuspull.core.pieces` (time concatenated, ids kept unique, a subject seen
    on both sides of a boundary inside a shot linked into one); ``cut_frames`` are the whole clip's
    (:func:`detect_clip_cuts`). Recomputed here over the whole clip, as :func:`analyse` does: voice
    activity, the transcript's turns, voice diarisation (they need the whole soundtrack) and
    saliency (geometry of the joined tracks, so a linked subject does not "enter" at a boundary).
    Kept from the pieces: tracks, focus distances, active-speaker scores, depth (:class:`PieceDepth`).
    """
    from autofocuspull.core.pieces import LINK_WINDOW_S, boundary_links, join_cues, join_tracks

    path = str(check_input_file(path))
    set_threads(cfg.run.threads)
    info = probe(path)
    records = [_piece_record(piece_clip(path, info, a, b, cfg), cfg) for a, b in pieces]
    parts = [SubjectTracks.from_npz_dict(_sub(r, "tracks.")) for r in records]
    cuts = sorted({int(c) for c in cut_frames if 0 < c < info.n_frames})
    window = max(1, round(LINK_WINDOW_S * float(info.frame_rate)))
    links = [
        [] if b in cuts else boundary_links(parts[k], parts[k + 1], window=window)
        for k, (_, b) in enumerate(pieces[:-1])
    ]
    tracks, rows = join_tracks(parts, [a for a, _ in pieces], info.n_frames, links)
    cues = join_cues([CueSeries.from_npz_dict(_sub(r, "cues.")) for r in records], rows, tracks, info.pts_s)
    warnings = list(dict.fromkeys(str(w) for r in records for w in r["warnings"].tolist()))
    with stage("cues"):
        cues = _whole_clip_cues(path, info, tracks, cues, cfg, warnings)
    log.info(
        "%s: %d pieces joined, %d subjects (%d linked across boundaries inside a shot)",
        path, len(pieces), len(tracks), sum(len(x) for x in links),
    )  # fmt: skip
    depth_source = ", ".join(dict.fromkeys(str(r["depth_source"]) for r in records))
    return Analysis(info, tracks, cuts, cues, PieceDepth(path, info, pieces, cfg), depth_source, warnings)


def _whole_clip_cues(
    path: str, info: VideoInfo, tracks: SubjectTracks, cues: CueSeries, cfg: RackConfig, warnings: list[str]
) -> CueSeries:
    """``cues`` with voice activity, saliency, the transcript and the voices computed over the whole clip."""
    import dataclasses

    from autofocuspull.cues import compute_saliency, compute_vad, load_transcript, map_transcript_to_tracks

    c = cfg.cues
    audio = read_audio(path, AUDIO_RATE_HZ) if info.has_audio else None
    speech = compute_vad(audio, info.pts_s, config=c.vad)
    saliency, components = compute_saliency(tracks, (info.width, info.height), info.pts_s, config=c.saliency)
    speaking, sources = cues.speaking, dict(cues.sources)
    if c.transcript.path is not None:
        speaking = map_transcript_to_tracks(list(load_transcript(c.transcript.path)), speaking, info.pts_s)
        sources["speaking"] += "+transcript"
    cues = dataclasses.replace(
        cues, speech_prob=speech, speaking=speaking, saliency=saliency, components=components, sources=sources
    )
    if cfg.planner.mode != "saliency":
        cues = apply_voice_cues(path, info, tracks, cues, cfg, warnings)
    return cues


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def check_planner(cfg: RackConfig) -> None:
    """Raise a usage error unless the run's planner is registered and can follow its keyframes."""
    from autofocuspull.plan import PLANNERS

    name = cfg.stages.planner
    info = PLANNERS.info(name)  # unknown: a usage error listing the known planners
    if cfg.run.keyframes and not info.get("keyframes", False):
        raise UsageError(f"--keyframes: planner {name!r} does not take user keyframes")


def plan_from_analysis(analysis: Analysis, cfg: RackConfig, planner: Any = None) -> FocusPlan:
    """Run the configured planner (or ``planner``, a name or a :class:`~autofocuspull.plan.Planner`
    object) over the whole clip."""
    from autofocuspull.plan import PLANNERS, background_distance_m, background_distances_m, load_keyframes

    chosen = cfg.stages.planner if planner is None else planner
    if planner is None:
        check_planner(cfg)
    fn, info = PLANNERS.get(chosen), PLANNERS.info(chosen)
    keyframes = load_keyframes(cfg.run.keyframes) if cfg.run.keyframes and info.get("keyframes") else ()
    inputs = PlanInputs(
        analysis.info,
        analysis.tracks,
        analysis.cues,
        analysis.cuts_s,
        analysis.depth_source,
        background_m=background_distance_m(analysis.depth),
        lens=cfg.lens,
        saliency=cfg.cues.saliency,
        keyframes=keyframes,
        shot_background_m=background_distances_m(analysis.depth, analysis.cut_frames, analysis.info.n_frames),
    )
    section = info.get("config")
    plan = fn(inputs, config_section(cfg, section) if section else None)
    plan.meta.setdefault("warnings", [])
    plan.meta["warnings"] = list(dict.fromkeys([*plan.meta["warnings"], *analysis.warnings]))
    plan.meta.update(
        {
            "autofocuspull": __version__,
            "planner": PLANNERS.name_of(chosen),
            "cue_mode": cfg.planner.mode,
            "cue_sources": analysis.cues.sources,
            "lens": config_to_dict(cfg)["lens"],
            "run_config": config_to_dict(cfg, exclude=SCHEDULING_SECTIONS),
        }
    )
    plan.video = analysis.info.to_dict()
    from autofocuspull.io.trim import range_of

    if (rng := range_of(analysis.info.path)) is not None:  # made with --start / --end
        plan.meta["range"] = {k: rng[k] for k in ("source", "start_s", "end_s", "offset_s")}
    return plan


def plan_clip(path: str | os.PathLike[str], cfg: RackConfig) -> tuple[FocusPlan, Analysis]:
    """Analyse a clip and plan its focus."""
    analysis = analyse(path, cfg)
    return plan_from_analysis(analysis, cfg), analysis


# --------------------------------------------------------------------------------------------
# Rendering and the commands
# --------------------------------------------------------------------------------------------


def check_plan_fits(plan: FocusPlan, info: VideoInfo) -> None:
    """Raise a usage error when ``plan`` was not made for the clip described by ``info``."""
    if plan.n_frames != info.n_frames:
        raise UsageError(
            f"plan has {plan.n_frames} frames but {info.path} has {info.n_frames}: "
            "was the plan made for another clip?"
        )


def render_clip(
    path: str | os.PathLike[str],
    plan: FocusPlan,
    out: str | os.PathLike[str],
    cfg: RackConfig,
    depth: Any,
    info: VideoInfo | None = None,
) -> Path:
    """Render ``path`` following ``plan`` into ``out`` (H.264 + the input's audio), atomically.

    ``info`` is the clip's :func:`probe` when the caller already has it (saves a pass over the file).
    """
    info = info or probe(path)
    check_plan_fits(plan, info)
    set_threads(cfg.run.threads)
    process = frame_processor(plan, cfg, depth, info)
    with Counter("render", info.n_frames) as tick, stage("encode"):  # what rendering leaves: encode
        return transcode(path, out, info, process, config=cfg.encode, progress=tick)


def frame_processor(
    plan: FocusPlan, cfg: RackConfig, depth: Any, info: VideoInfo
) -> Callable[[Iterator[Any]], Iterator[np.ndarray]]:
    """Frames -> rendered RGB frames following ``plan`` (the renderer as the writers call it), in the
    linear light of ``info``'s transfer function. Timed as "decode" and "rendering" (core/timing.py)."""
    from autofocuspull.render import render_video
    from autofocuspull.render.color import transfer_of

    device = resolve_device(cfg.run.device)

    def process(frames: Iterator[Any]) -> Iterator[np.ndarray]:
        rendered = render_video(
            _decoded(frames),
            lambda f: depth.depth_m_at(f.index),
            plan.focus_m,
            plan.f_number,
            cfg.lens,
            device=device,
            config=cfg.render,
            renderer=cfg.stages.renderer,
            progress=False,  # the writer's Counter shows render progress
            transfer=transfer_of(info.colour.transfer),
            workers=render_workers(cfg.run, device),
            batch_size=render_batch_frames(info.width, info.height),
        )
        return timed_iter("rendering", rendered)  # what the transcode loop leaves is "encode"

    return process


#: Pixels of one render batch: four 1080p frames. The renderer holds a few dozen float planes of a
#: batch at once, and with two batches in flight plus one queued a 4K clip at four frames a batch
#: peaked at 12.6 GiB resident; batches of one 4K frame: 5.2 GiB, and 15 % faster (eval/bench_e2e.py).
RENDER_BATCH_PIXELS = 4 * 1920 * 1080
RENDER_BATCH_MAX_FRAMES = 4  # smaller frames: more per batch saves little per-call overhead


def render_batch_frames(width: int, height: int) -> int:
    """Frames per render batch for frames of ``width`` x ``height``: as many as fit
    :data:`RENDER_BATCH_PIXELS`, at least 1, at most :data:`RENDER_BATCH_MAX_FRAMES`. (Each frame is
    rendered on its own within a batch: the batch size never changes the output.)"""
    return max(1, min(RENDER_BATCH_MAX_FRAMES, RENDER_BATCH_PIXELS // max(1, width * height)))


def render_workers(run: RunConfig, device: Any) -> int:
    """Batches rendered at once: ``run.render_workers``, else 1 on a GPU and ``min(2, threads)`` on a
    CPU (two batches in flight keep two cores busy; more only queue for the same cores)."""
    if run.render_workers is not None:
        return run.render_workers
    if str(device).startswith("cuda"):
        return 1
    return max(1, min(2, run.threads or available_cores()))


def render_depth(
    path: str | os.PathLike[str],
    info: VideoInfo,
    cfg: RackConfig,
    pieces: list[tuple[int, int]] | None = None,
) -> Any:
    """The depth source a render needs, from the cached analysis (computed when not cached); of a
    clip analysed in ``pieces`` (:func:`analyse_in_pieces`), their depth (:class:`PieceDepth`)."""
    if pieces and len(pieces) > 1:
        return PieceDepth(str(path), info, list(pieces), cfg)
    warnings: list[str] = []
    tracks, cuts, masks = perceive(str(path), info, cfg, warnings)
    return estimate_depth(str(path), info, tracks, cuts, cfg, warnings, masks)[0]


def rack(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    cfg: RackConfig,
    plan_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    overlay: str | os.PathLike[str] | None = None,
) -> FocusPlan:
    """Plan and render in one go; optionally save the plan JSON, its timeline picture and the
    overlay preview (the clip with the plan burned in)."""
    check_input_file(path)
    check_output_path(out, path, cfg.encode)
    check_planner(cfg)
    for extra in (plan_out, plot):
        if extra is not None:
            ensure_writable_dir(Path(extra).parent, Path(extra))
    if overlay is not None:
        check_output_path(overlay, path, cfg.encode)
    analysis = analyse(path, cfg)
    with stage("planning"):
        plan = plan_from_analysis(analysis, cfg)
    _save_side_outputs(plan, analysis, plan_out, plot)
    render_clip(path, plan, out, cfg, analysis.depth, analysis.info)
    if overlay is not None:
        from autofocuspull.export.overlay import write_overlay_for

        write_overlay_for(path, plan, analysis, overlay, cfg.encode)
    _summarise(plan, out)
    return plan


def _save_side_outputs(plan: FocusPlan, analysis: Analysis, plan_out, plot) -> None:
    from autofocuspull.plan import save_plan

    if plan_out is not None:
        save_plan(plan, plan_out)
        log.info("plan written to %s", plan_out)
    if plot is not None:
        from autofocuspull.evaluate.plot import plot_timeline

        plot_timeline(plan, None, plot, speech=analysis.cues.speech_prob, title=Path(analysis.info.path).name)
        log.info("plan picture written to %s", plot)


def _summarise(plan: FocusPlan, out: object) -> None:
    log.info("%s: %d pulls, depth from %s", out, len(plan.pulls), plan.depth_source)
    for p in plan.pulls:
        log.info("  %6.2f-%6.2f s  %s", p.start_s, p.end_s, p.reason)
    for w in plan.meta.get("warnings", []):
        log.warning("!!! %s", w)


def plan_command(path, out_json, cfg: RackConfig, plot=None) -> FocusPlan:
    """``autofocuspull plan``: analyse and plan, write the plan JSON (and picture)."""
    check_input_file(path)
    if Path(out_json).suffix.lower() != ".json":
        raise UsageError(f"{out_json}: the plan file must end in .json")
    ensure_writable_dir(Path(out_json).parent, Path(out_json))
    check_planner(cfg)
    plan, analysis = plan_clip(path, cfg)
    _save_side_outputs(plan, analysis, out_json, plot)
    _summarise(plan, out_json)
    return plan


def render_command(path, plan_json, out, cfg: RackConfig) -> Path:
    """``autofocuspull render``: render following a (possibly hand-edited) plan file."""
    from autofocuspull.plan import load_plan

    check_input_file(path)
    check_output_path(out, path, cfg.encode)
    from autofocuspull.io.trim import slice_plan_to

    plan = slice_plan_to(load_plan(plan_json), path)  # a whole-clip plan cut to --start / --end
    info = probe(path)
    check_plan_fits(plan, info)  # before the analysis, not minutes into it
    set_threads(cfg.run.threads)
    return render_clip(path, plan, out, cfg, render_depth(path, info, cfg), info)


def evaluate_folder(
    dataset: str | os.PathLike[str],
    cfg: RackConfig,
    plot_dir: str | os.PathLike[str] | None = None,
    keep_plan: Callable[[str, FocusPlan], None] | None = None,
    executor: Any = None,
) -> dict[str, Any]:
    """Plan every graded clip of ``dataset`` with the run's planner and score it (clips named
    outside the folder are refused, see :func:`~autofocuspull.evaluate.confined_to`);
    ``keep_plan(clip stem, plan)`` sees each plan.

    ``executor`` (an :class:`autofocuspull.batch.Executor`: a process pool or Ray) plans all the
    clips first, in parallel, with the same per-clip function; None plans them one by one here."""
    from autofocuspull import evaluate

    check_planner(cfg)
    plan_any = (
        (lambda p: plan_clip(p, cfg)[0]) if executor is None else planned_in_parallel(dataset, cfg, executor)
    )

    def plan_one(video: Path) -> FocusPlan:
        plan = plan_any(video)
        if keep_plan is not None:
            keep_plan(Path(video).stem, plan)
        return plan

    plan_fn = evaluate.confined_to(dataset, plan_one)
    return evaluate.evaluate_dataset(dataset, plan_fn, cfg.stages.planner, plot_dir=plot_dir)


def experiment(
    spec: str | os.PathLike[str], dataset: str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """``autofocuspull experiment``: every variant of ``spec`` over the graded ``dataset``, with
    metrics, plans, plots, exact configs, version and commit under ``out_dir``
    (:mod:`autofocuspull.evaluate.experiment`)."""
    from autofocuspull.evaluate.experiment import load_experiment, run_experiment

    variants = load_experiment(spec)
    for cfg in variants.values():
        check_planner(cfg)
    if not Path(dataset).is_dir():
        raise UsageError(f"{dataset}: the dataset must be a folder of clips with <stem>.grades.json")
    ensure_writable_dir(Path(out_dir), Path(out_dir))

    def run(cfg: RackConfig, plot_dir: Path, keep: Callable[[str, FocusPlan], None]) -> dict[str, Any]:
        return evaluate_folder(dataset, cfg, plot_dir, keep)

    return run_experiment(variants, dataset, out_dir, run, source=str(spec))


class PlanFailedError(RuntimeError):
    """A clip's planning failed in a worker; the message is the worker's ``Type: message``."""


def planned_in_parallel(
    dataset: str | os.PathLike[str], cfg: RackConfig, executor: Any
) -> Callable[[Path], FocusPlan]:
    """A ``plan_fn`` for :func:`evaluate_folder`: every graded clip inside ``dataset`` planned first by
    ``executor`` (clips named outside it are left to :func:`~autofocuspull.evaluate.confined_to`)."""
    from autofocuspull.batch import plan_many
    from autofocuspull.evaluate import find_graded_clips

    root = Path(os.path.abspath(dataset))
    videos = [v for _, _, v in find_graded_clips(dataset) if v is not None]
    videos = [v for v in videos if Path(os.path.abspath(v)).is_relative_to(root)]
    plans = {Path(k).resolve(): v for k, v in plan_many(videos, cfg, executor).items()}

    def planned(video: Path) -> FocusPlan:
        plan = plans.get(Path(video).resolve())
        if isinstance(plan, FocusPlan):
            return plan
        raise PlanFailedError(plan or f"{video}: not planned")

    return planned


def demo(out_dir: str | os.PathLike[str], cfg: RackConfig) -> dict[str, Path]:
    """Generate the demo clip, rack it, and draw the plan: offline, a few minutes on 2 CPU cores."""
    from autofocuspull.io.democlip import make_demo_clip

    out = Path(out_dir)
    ensure_writable_dir(out, out)
    files = {
        "input": out / "demo_input.mp4",
        "output": out / "demo_racked.mp4",
        "plan": out / "demo_plan.json",
        "picture": out / "demo_plan.png",
    }
    make_demo_clip(files["input"])
    log.info("demo clip written to %s", files["input"])
    rack(files["input"], files["output"], cfg, plan_out=files["plan"], plot=files["picture"])
    return files
