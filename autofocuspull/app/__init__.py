"""The local web app: ``autofocuspull app CLIP [--plan PLAN.json] [--port N] [--no-browser]``.

Review the automatic pulls on the clip (subjects outlined, focus point marked), the plan's
timeline (subjects as lanes, holds, pulls with their reasons, speech, cuts) and the rendered
preview; click a subject to add a decision, drag a pull, change the aperture. Only what changed is
re-planned and re-rendered; every edit is saved to the plan file and its keyframes file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autofocuspull.app.server import AppServer
from autofocuspull.app.session import AppSession
from autofocuspull.core.errors import AutofocusError, UsageError

log = logging.getLogger(__name__)

__all__ = ["AppServer", "AppSession", "open_session", "run_app"]


def default_paths(clip: Path, plan: Path | None) -> tuple[Path, Path]:
    """(plan file, keyframes file): ``--plan`` or ``<clip>.plan.json`` beside the clip, and
    ``<plan stem>.keyframes.json`` beside the plan."""
    plan_path = plan if plan is not None else clip.with_name(f"{clip.stem}.plan.json")
    stem = plan_path.name[: -len(".plan.json")] if plan_path.name.endswith(".plan.json") else plan_path.stem
    return plan_path, plan_path.with_name(f"{stem}.keyframes.json")


def open_session(clip: Path, plan: Path | None, cfg: Any) -> AppSession:
    """Analyse the clip (cached, as for ``rack``) and open the plan (made and saved when absent)."""
    from autofocuspull import pipeline
    from autofocuspull.io import check_input_file
    from autofocuspull.io.writer import ensure_writable_dir
    from autofocuspull.plan import load_keyframes, load_plan

    check_input_file(clip)
    plan_path, kf_path = default_paths(clip, plan)
    try:
        ensure_writable_dir(plan_path.parent, plan_path)
    except AutofocusError as e:
        raise UsageError(f"{e}: pass --plan PATH to keep the plan and decisions elsewhere") from None
    existing = load_plan(plan_path) if plan_path.exists() else None
    if kf_path.exists():
        keyframes = load_keyframes(kf_path)
    else:  # the session's own decisions file starts from --keyframes, when given
        keyframes = load_keyframes(cfg.run.keyframes) if cfg.run.keyframes else []
    analysis = pipeline.analyse(clip, cfg)
    if existing is not None:
        pipeline.check_plan_fits(existing, analysis.info)
    return AppSession(clip, analysis, cfg, plan_path, kf_path, existing, keyframes)


def run_app(args: Any, cfg: Any) -> int:
    """``autofocuspull app``: serve until interrupted."""
    session = open_session(Path(args.input), args.plan, cfg)
    server = AppServer(session, "127.0.0.1", args.port)
    print(f"autofocuspull app: {server.url}  (plan: {session.plan_path}; Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        session.stop()
        server.server_close()
    return 0
