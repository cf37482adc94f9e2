"""The only module that wires the stages together; the CLI calls nothing else.

    video I/O → perception (subjects, cuts, depth) → cues → planner → renderer → writer

Each analysis stage is cached per clip and per config (:class:`~autofocuspull.core.cache.StageCache`),
so an interrupted run resumes and a rerun with another planner or lens reuses the analysis.
Models are built here (device and dtype chosen here, never inside model code); a model that
can't be had either stops the run with what to download, or is replaced by a documented fallback
that is logged loudly and recorded in the plan's ``meta["warnings"]``.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
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
from autofocuspull.core.cache import StageCache, code_fingerprint
from autofocuspull.core.errors import ModelUnavailableError, UsageError
from autofocuspull.core.hub import host_reachable
from autofocuspull.core.types import CueSeries, FocusPlan, Lens, PlanInputs, SubjectTracks, VideoInfo
from autofocuspull.io import (
    EncodeConfig,
    check_input_file,
    check_output_path,
    iter_frames,
    probe,
    read_audio,
    transcode,
)
from autofocuspull.io.writer import ensure_writable_dir
from autofocuspull.perception.masks import PersonMaskStore
from autofocuspull.progress import Counter, bar

log = logging.getLogger(__name__)

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
MASK_EVERY = 3  # person masks on every 3rd frame of the perception pass (nearest one serves the rest)


@dataclass(frozen=True)
class RackConfig:
    """Everything a run needs besides its files. Hyperparameters of each stage live in that
    stage's own config dataclass; this record only selects models, modes and resolutions."""

    device: str = "auto"
    analysis_max_side_px: int = 640  # detection, tracking and cuts run at this size
    depth_max_side_px: int = 960  # frames handed to the depth model (it resizes to its input)
    depth_model: str = DEFAULT_DEPTH_MODEL
    depth_input_size: int = 518
    depth_every: int = 2  # run the depth network on every k-th frame (and on big motion)
    face_model: str | None = None
    object_model: str | None = None
    segment_model: str | None = None
    asd_model: str | None = None
    asd_head: str | None = None
    cue: str = "auto"
    planner: str = "default"
    keyframes: str | None = None
    transcript: str | None = None
    subject_distance_m: float | None = None
    lens: Lens = field(default_factory=Lens)
    blades: int = 0
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    cache_root: str | None = None
    use_cache: bool = True


def resolve_device(name: str) -> Any:
    """``torch.device`` for "cpu", "cuda" or "auto" (cuda when available)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
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
        return [float(self.info.pts_s[i]) for i in self.cut_frames if 0 < i < self.info.n_frames]


def _cache(path: str | os.PathLike[str], stage: str, config: Any, cfg: RackConfig) -> StageCache:
    return StageCache.for_clip(path, stage, config, root=cfg.cache_root, enabled=cfg.use_cache)


def _analysis_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    from autofocuspull.io import scaled_size

    return scaled_size(info.width, info.height, max_side)


def perceive(
    path: str, info: VideoInfo, cfg: RackConfig, warnings: list[str]
) -> tuple[SubjectTracks, list[int], PersonMaskStore]:
    """Faces, people and objects tracked into subjects; shot cuts; person masks. Cached."""
    from autofocuspull.perception.detect import build_face_detector, build_object_detector
    from autofocuspull.perception.subjects import Perceiver, PerceiverConfig

    pcfg = PerceiverConfig()
    key = {
        "config": dataclasses.asdict(pcfg),
        "max_side": cfg.analysis_max_side_px,
        "face": cfg.face_model,
        "object": cfg.object_model,
        "n": info.n_frames,
        "code": code_fingerprint(
            "autofocuspull.perception.detect",
            "autofocuspull.perception.subjects",
            "autofocuspull.perception.track",
            "autofocuspull.perception.cuts",
            "autofocuspull.perception.reid",
            "autofocuspull.perception.salient",
            "autofocuspull.perception.masks",
            "autofocuspull.io.reader",
        ),
        "segment": cfg.segment_model,
        "mask_every": MASK_EVERY,
    }
    cache = _cache(path, "subjects", key, cfg)
    hit = cache.load_npz("tracks.npz")
    if hit is not None:
        log.info("subjects: reusing cached analysis (%d subjects)", len(hit["track_id"]))
        warnings.extend(str(w) for w in hit["warnings"].tolist())
        masks = PersonMaskStore.from_npz_dict(hit)
        return SubjectTracks.from_npz_dict(hit), [int(c) for c in hit["cut_frames"]], masks
    notes: list[str] = []
    faces = _logged(build_face_detector, notes, "yunet", cfg.face_model)
    try:
        objects = build_object_detector("yolox-nano", cfg.object_model)
    except ModelUnavailableError as e:
        msg = f"object detector unavailable, tracking faces only: {e}"
        log.warning("!!! %s", msg)
        notes.append(msg)
        objects = None
    segment = _person_segmenter(cfg, notes)
    masks = PersonMaskStore()
    aw, _ = _analysis_size(info, cfg.analysis_max_side_px)
    per = Perceiver(
        faces,
        objects,
        fps=float(info.frame_rate),
        image_size=(info.width, info.height),
        scale=info.width / aw,
        config=pcfg,
    )
    for frame in bar(
        iter_frames(path, info, max_side=cfg.analysis_max_side_px), "detect+track", info.n_frames
    ):
        per.update(frame)
        if segment is not None and frame.index % MASK_EVERY == 0:
            masks.add(frame.index, segment(frame.rgb))
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


def _person_segmenter(cfg: RackConfig, notes: list[str]) -> Callable[[np.ndarray], np.ndarray] | None:
    """DeepLabv3 person probability, or None (subjects then use boxes) when it can't be had."""
    from autofocuspull.perception.detect import build_person_segmenter

    try:
        return build_person_segmenter("deeplabv3", cfg.segment_model)
    except ModelUnavailableError as e:
        msg = f"person segmenter unavailable, subjects use their boxes instead of masks: {e}"
        log.warning("!!! %s", msg)
        notes.append(msg)
        return None


def _logged(builder: Callable[..., Any], notes: list[str], *args: Any) -> Any:
    """Build a model, recording any loud fallback WARNING it logs into ``notes`` for the plan file."""

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                notes.append(record.getMessage())

    handler = _Catch()
    root = logging.getLogger("autofocuspull")
    root.addHandler(handler)
    try:
        return builder(*args)
    finally:
        root.removeHandler(handler)


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
        DepthRunConfig,
        clip_depth,
        depth_cache_config,
        depth_estimator_or_none,
        heuristic_source,
        preferred_dtype,
    )
    from autofocuspull.perception.depth.metric import focal_length_px

    device = resolve_device(cfg.device)
    focal_px = focal_length_px(info.width)
    local_only = not Path(cfg.depth_model).exists() and not host_reachable("huggingface.co")
    est, reason = depth_estimator_or_none(
        cfg.depth_model,
        device=device,
        dtype=preferred_dtype(device),
        input_size=cfg.depth_input_size,
        local_files_only=local_only,
    )
    if est is None:
        msg = f"DEPTH MODEL UNAVAILABLE, using heuristic depth (subjects at prior distances): {reason}"
        warnings.append(msg)
        dw, dh = _analysis_size(info, 320)
        mask_fn = None
        if masks is not None and len(masks):

            def mask_fn(t: int) -> np.ndarray | None:
                return masks.subject_masks(t, tracks, (info.height, info.width), (dh, dw))

        src = heuristic_source(
            tracks, (info.height, info.width), (dh, dw), reason=reason, focal_px=focal_px, mask_fn=mask_fn
        )
        return src, "heuristic"
    run_cfg = DepthRunConfig(keyframe_interval=cfg.depth_every)
    root = cfg.cache_root if cfg.use_cache else _scratch_dir("autofocuspull-depth-")
    key = depth_cache_config(est.source, cfg.depth_input_size, run_cfg, cut_frames)
    key["code"] = code_fingerprint(
        "autofocuspull.perception.depth.run",
        "autofocuspull.perception.depth.estimator",
        "autofocuspull.perception.depth.align",
    )
    cache = StageCache.for_clip(path, "depth", key, root=root)
    frames = bar(iter_frames(path, info, max_side=cfg.depth_max_side_px), "depth", info.n_frames)
    store = clip_depth(
        frames,
        est,
        cache,
        tracks=tracks,
        frame_size_hw=(info.height, info.width),
        config=run_cfg,
        focal_px=focal_px,
        user_distance_m=cfg.subject_distance_m,
        n_frames=info.n_frames,
        cuts=cut_frames,
    )
    return store, est.source


def _scratch_dir(prefix: str) -> str:
    """A temp folder (for uncached depth chunks) removed when the process exits, interrupted or not."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def compute_clip_cues(
    path: str, info: VideoInfo, tracks: SubjectTracks, cfg: RackConfig, warnings: list[str]
) -> CueSeries:
    """Voice activity, active speakers and saliency per subject per frame. Cached."""
    from autofocuspull.cues import build_active_speaker_model, compute_cues

    asd_wanted = cfg.cue != "saliency"  # the only way the cue mode changes what is computed here
    key = {
        "asd": cfg.asd_model,
        "head": cfg.asd_head,
        "asd_wanted": asd_wanted,
        "transcript": _file_key(cfg.transcript),
        "tracks": _tracks_key(tracks),
        "code": code_fingerprint("autofocuspull.cues"),
    }
    cache = _cache(path, "cues", key, cfg)
    hit = cache.load_npz("cues.npz")
    if hit is not None:
        log.info("cues: reusing cached analysis")
        warnings.extend(str(w) for w in hit["warnings"].tolist())
        return CueSeries.from_npz_dict(hit)
    notes: list[str] = []
    audio = read_audio(path, 16000) if info.has_audio else None
    wants_asd = asd_wanted and audio is not None and bool(tracks.has_face.any())
    model = _logged(build_active_speaker_model, notes, cfg.asd_model, cfg.asd_head) if wants_asd else None
    frames = iter_frames(path, info) if model is not None else None
    if frames is not None:
        frames = bar(frames, "who speaks", info.n_frames)
    cues = compute_cues(
        frames,
        tracks,
        audio,
        info.pts_s,
        (info.width, info.height),
        asd_model=model,
        transcript=cfg.transcript,
    )
    warnings.extend(notes)
    cache.save_npz("cues.npz", {**cues.to_npz_dict(), "warnings": np.asarray(notes, dtype=str)})
    return cues


def _file_key(path: str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    return f"{p.resolve()}:{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.exists() else str(p)


def _tracks_key(tracks: SubjectTracks) -> str:
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(np.nan_to_num(tracks.xyxy, nan=-1)).tobytes())
    return h.hexdigest()[:16]


def analyse(path: str | os.PathLike[str], cfg: RackConfig) -> Analysis:
    """Run (or reuse) perception, depth and cues for a clip."""
    path = str(check_input_file(path))
    info = probe(path)
    warnings: list[str] = []
    tracks, cuts, masks = perceive(path, info, cfg, warnings)
    depth, depth_source = estimate_depth(path, info, tracks, cuts, cfg, warnings, masks)
    from autofocuspull.perception.subjects import assign_subject_distances

    assign_subject_distances(
        tracks,
        depth.depth_m_at,
        (info.width, info.height),
        fps=float(info.frame_rate),
        cuts=cuts,
        person_mask_at=masks.prob_at if len(masks) else None,
        lens=cfg.lens,  # the distance deadband is a fraction of a pixel of this lens's blur
    )
    cues = compute_clip_cues(path, info, tracks, cfg, warnings)
    return Analysis(info, tracks, cuts, cues, depth, depth_source, warnings)


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _background_m(analysis: Analysis) -> float:
    """Focus distance when no subject is chosen: a far point of the scene (75th percentile of depth)."""
    depth = analysis.depth.depth_m_at(0)
    return float(np.clip(np.nanpercentile(depth, 75), 1.0, 100.0))


def plan_from_analysis(analysis: Analysis, cfg: RackConfig) -> FocusPlan:
    """Run the selected planner over the whole clip."""
    from autofocuspull.plan import PLANNERS, PlannerConfig, load_keyframes, plan_focus

    check_planner(cfg.planner)
    inputs = PlanInputs(
        analysis.info,
        analysis.tracks,
        analysis.cues,
        analysis.cuts_s,
        analysis.depth_source,
        background_m=_background_m(analysis),
        lens=cfg.lens,
    )
    if cfg.planner == "default":
        pcfg = PlannerConfig(mode=cfg.cue, f_number=cfg.lens.f_number)
        keyframes = load_keyframes(cfg.keyframes) if cfg.keyframes else None
        plan = plan_focus(inputs, pcfg, keyframes)
    else:
        if cfg.keyframes:
            raise UsageError(
                f"--keyframes: only the default planner takes user keyframes, not {cfg.planner!r}"
            )
        plan = PLANNERS[cfg.planner](inputs, None)
    plan.meta.setdefault("warnings", [])
    plan.meta["warnings"] = list(dict.fromkeys([*plan.meta["warnings"], *analysis.warnings]))
    plan.meta.update(
        {
            "autofocuspull": __version__,
            "planner": cfg.planner,
            "cue_mode": cfg.cue,
            "cue_sources": analysis.cues.sources,
            "lens": dataclasses.asdict(cfg.lens),
        }
    )
    plan.video = analysis.info.to_dict()
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
    from autofocuspull.render import RenderConfig, render_video

    info = info or probe(path)
    check_plan_fits(plan, info)
    device = resolve_device(cfg.device)
    rcfg = RenderConfig(blades=cfg.blades)

    def process(frames: Iterator[Any]) -> Iterator[np.ndarray]:
        return render_video(
            frames,
            lambda f: depth.depth_m_at(f.index),
            plan.focus_m,
            plan.f_number,
            cfg.lens,
            device=device,
            config=rcfg,
            progress=False,  # the transcode's Counter shows render progress
        )

    with Counter("render", info.n_frames) as tick:
        return transcode(path, out, info, process, config=cfg.encode, progress=tick)


def rack(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    cfg: RackConfig,
    plan_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> FocusPlan:
    """Plan and render in one go; optionally save the plan JSON and its timeline picture."""
    check_input_file(path)
    check_output_path(out, path)
    for extra in (plan_out, plot):
        if extra is not None:
            ensure_writable_dir(Path(extra).parent, Path(extra))
    plan, analysis = plan_clip(path, cfg)
    _save_side_outputs(plan, analysis, plan_out, plot)
    render_clip(path, plan, out, cfg, analysis.depth, analysis.info)
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
    plan, analysis = plan_clip(path, cfg)
    _save_side_outputs(plan, analysis, out_json, plot)
    _summarise(plan, out_json)
    return plan


def render_command(path, plan_json, out, cfg: RackConfig) -> Path:
    """``autofocuspull render``: render following a (possibly hand-edited) plan file."""
    from autofocuspull.plan import load_plan

    check_input_file(path)
    check_output_path(out, path)
    plan = load_plan(plan_json)
    info = probe(path)
    check_plan_fits(plan, info)  # before the analysis, not minutes into it
    warnings: list[str] = []
    tracks, cuts, masks = perceive(str(path), info, cfg, warnings)
    depth, _ = estimate_depth(str(path), info, tracks, cuts, cfg, warnings, masks)
    return render_clip(path, plan, out, cfg, depth, info)


def confined_to(folder: str | os.PathLike[str], plan_fn: Callable[[Path], FocusPlan]):
    """``plan_fn`` refusing clips outside ``folder``: a grades file's ``video`` field (``../x.mp4``,
    an absolute path) must not reach files beyond the dataset it belongs to. The check is on the
    path as named, so a symbolic link that the dataset's owner placed in the folder (how footage is
    shared without copying it) is read through; it is only ever read, never written."""
    root = Path(os.path.abspath(folder))

    def checked(video: Path) -> FocusPlan:
        if not Path(os.path.abspath(video)).is_relative_to(root):
            raise UsageError(f"{video}: outside the dataset folder {root} (check the grades' video field)")
        return plan_fn(video)

    return checked


def eval_command(args: Any, cfg: RackConfig) -> int:
    """``autofocuspull eval``: one plan against its grades, or a whole graded folder."""
    from autofocuspull import evaluate

    if args.dataset is not None:
        if args.plan is not None:
            raise UsageError("eval: give either PLAN.json GRADES.json or --dataset DIR, not both")
        run_cfg = dataclasses.replace(cfg, planner=args.planner)
        plan_fn = confined_to(args.dataset, lambda p: plan_clip(p, run_cfg)[0])
        result = evaluate.evaluate_dataset(args.dataset, plan_fn, args.planner, plot_dir=args.plot)
        print(json.dumps(result) if args.json else evaluate.format_table(result))
        return 0
    if args.plan is None or args.grades is None:
        raise UsageError("eval: expected PLAN.json GRADES.json, or --dataset DIR")
    from autofocuspull.plan import load_plan

    plan, grades = load_plan(args.plan), evaluate.load_grades(args.grades)
    metrics = evaluate.score_plan(plan, grades)
    print(json.dumps(metrics) if args.json else evaluate.format_metrics(metrics))
    if args.plot is not None:
        from autofocuspull.evaluate.plot import plot_timeline

        plot_timeline(plan, grades, args.plot, title=Path(args.plan).name)
    return 0


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
    for name, p in files.items():
        print(f"{name:>8}: {p}")
    return files


def config_from_args(args: Any) -> RackConfig:
    """The run's :class:`RackConfig` from parsed CLI arguments."""
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731
    lens = Lens(get("focal_length", 50.0), get("f_number", 1.4), get("sensor_width", 36.0))
    return RackConfig(
        device=args.device,
        depth_model=get("depth_model") or DEFAULT_DEPTH_MODEL,
        depth_every=get("depth_every") or RackConfig.depth_every,
        face_model=get("face_model"),
        object_model=get("object_model"),
        segment_model=get("segment_model"),
        asd_model=get("asd_model"),
        asd_head=get("asd_head"),
        cue=get("cue", "auto"),
        planner=get("planner", "default"),
        keyframes=str(get("keyframes")) if get("keyframes") else None,
        transcript=str(get("transcript")) if get("transcript") else None,
        subject_distance_m=get("subject_distance"),
        lens=lens,
        blades=_blades(get("aperture_shape", "circle")),
        encode=EncodeConfig(crf=get("crf", 18), preset=get("preset", "medium")),
        cache_root=str(args.cache_dir) if args.cache_dir else None,
        use_cache=not args.no_cache,
    )


def _blades(shape: str) -> int:
    if shape == "circle":
        return 0
    if shape.startswith("blades:") and shape[7:].isdigit() and int(shape[7:]) >= 3:
        return int(shape[7:])
    raise UsageError(f"--aperture-shape {shape}: expected 'circle' or 'blades:N' with N >= 3")


def check_planner(name: str) -> None:
    """Raise a usage error unless ``name`` is a registered planner."""
    from autofocuspull.plan import PLANNERS

    if name not in PLANNERS:
        raise UsageError(f"--planner {name}: unknown planner (choose from {', '.join(sorted(PLANNERS))})")


def run_command(args: Any) -> int:
    """Dispatch a parsed CLI command."""
    if args.cache_dir is not None:  # one folder for the analysis and the downloaded models
        os.environ["AUTOFOCUSPULL_CACHE"] = str(args.cache_dir)
    cfg = config_from_args(args)
    if args.command in ("rack", "plan") or getattr(args, "dataset", None) is not None:
        check_planner(getattr(args, "planner", cfg.planner))
    if args.command == "rack":
        rack(args.input, args.output, cfg, plan_out=args.plan_out, plot=args.plot)
    elif args.command == "plan":
        plan_command(args.input, args.output, cfg, plot=args.plot)
    elif args.command == "render":
        render_command(args.input, args.plan, args.output, cfg)
    elif args.command == "eval":
        return eval_command(args, cfg)
    elif args.command == "demo":
        demo(args.output_dir, cfg)
    return 0
