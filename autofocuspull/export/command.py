"""The ``export`` and ``import`` commands (called from :func:`autofocuspull.pipeline.run_command`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autofocuspull.core.errors import UsageError
from autofocuspull.export import FORMATS
from autofocuspull.export.common import ExportConfig, plan_rate, resolve_clip

log = logging.getLogger(__name__)


def _check_suffix(fmt: str, out: Path) -> None:
    suffixes = FORMATS[fmt][1]
    if suffixes is None:
        if out.suffix and out.exists() and not out.is_dir():
            raise UsageError(f"{out}: --to {fmt} writes an image sequence into a folder, not a file")
        return
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"{out}: --to {fmt} expects a file ending in {', '.join(suffixes)}")


def export_command(args: Any, cfg: Any) -> int:
    """``autofocuspull export PLAN.json --to FORMAT -o OUT``."""
    from autofocuspull.plan import load_plan

    fmt, out = args.to, Path(args.output)
    _check_suffix(fmt, out)
    plan = load_plan(args.plan)
    ecfg = cfg.export
    if fmt == "otio":
        from autofocuspull.export.timeline import export_otio

        export_otio(plan, out)
    elif fmt == "csv":
        from autofocuspull.export.table import export_csv

        export_csv(plan, out)
    elif fmt == "ae":
        from autofocuspull.export.scripts import export_ae

        export_ae(plan, out, ecfg)
    elif fmt == "resolve":
        from autofocuspull.export.scripts import export_resolve

        export_resolve(plan, out, ecfg)
    else:
        _export_from_clip(fmt, plan, args, cfg, out, ecfg)
    log.info("%s written to %s", fmt, out)
    print(out)
    return 0


def _export_from_clip(fmt: str, plan: Any, args: Any, cfg: Any, out: Path, ecfg: ExportConfig) -> None:
    """Passes and the overlay: they need the clip and its (cached) analysis."""
    from autofocuspull import pipeline
    from autofocuspull.export import passes
    from autofocuspull.io import check_input_file, probe

    clip = resolve_clip(plan, args.plan, args.clip)
    check_input_file(clip)
    info = probe(clip)
    pipeline.check_plan_fits(plan, info)
    stem = Path(clip).stem
    size = (info.width, info.height)
    if fmt == "overlay":
        from autofocuspull.export.overlay import write_overlay

        analysis = pipeline.analyse(clip, cfg)
        write_overlay(
            clip, plan, out, analysis.cues.speech_prob, speaking_rows(plan, analysis.cues), info, cfg.encode
        )
        return
    warnings: list[str] = []
    tracks, cuts, masks = pipeline.perceive(str(clip), info, cfg, warnings)
    if fmt == "mattes":

        hw = (info.height, info.width)

        def masks_at(t: int):
            return masks.subject_masks(t, plan.subjects, hw, hw) if len(masks) else None

        passes.write_mattes(out, plan.subjects, masks_at, size, stem)
        return
    depth, _ = pipeline.estimate_depth(str(clip), info, tracks, cuts, cfg, warnings, masks)
    passes.write_depth_pass(out, fmt, depth.depth_m_at, info.n_frames, size, stem, ecfg)


def speaking_rows(plan: Any, cues: Any):
    """(S, T) speaking probability in the order of ``plan.subjects`` (None if the ids differ)."""
    import numpy as np

    ids = cues.track_id.tolist()
    rows = [ids.index(int(i)) if int(i) in ids else None for i in plan.subjects.track_id]
    if any(r is None for r in rows) or not len(rows):
        return None
    return np.asarray(cues.speaking)[rows]


def run_handoff(args: Any, cfg: Any) -> int:
    """Dispatch ``export``, ``import`` and ``app``."""
    if args.command == "export":
        return export_command(args, cfg)
    if args.command == "import":
        return import_command(args)
    from autofocuspull.app import run_app

    return run_app(args, cfg)


def import_command(args: Any) -> int:
    """``autofocuspull import FILE (.csv | an OTIO file) -o KEYFRAMES.json [--plan PLAN.json]``."""
    from autofocuspull.export.importers import keyframes_from_csv, keyframes_from_otio, save_keyframes

    src, out = Path(args.input), Path(args.output)
    if out.suffix.lower() != ".json":
        raise UsageError(f"{out}: the keyframes file must end in .json")
    plan = None
    if args.plan is not None:
        from autofocuspull.plan import load_plan

        plan = load_plan(args.plan)
    if src.suffix.lower() == ".csv":
        keyframes = keyframes_from_csv(src, plan_rate(plan) if plan is not None else None)
    else:
        keyframes, skipped = keyframes_from_otio(src)
        for name in skipped:
            log.info("marker %r: not a focus decision, skipped", name)
    if plan is not None:
        ids = set(plan.subjects.track_id.tolist())
        for k in keyframes:
            if k.subject is not None and k.subject not in ids:
                raise UsageError(
                    f"{src}: decision at {k.t_s:.2f} s names subject {k.subject}, "
                    f"which {args.plan} does not have (ids: {sorted(ids)})"
                )
    save_keyframes(keyframes, out)
    log.info("%d keyframes written to %s", len(keyframes), out)
    print(out)
    return 0
