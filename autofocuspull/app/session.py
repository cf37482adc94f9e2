"""One editing session of the app: a clip, its analysis, the plan being edited and its previews.

Every edit re-plans from the analysis (the analysis is never recomputed), re-applies the stored
drags and aperture changes, and compares the result with the plan before: only the frames that
changed (focus distance, f-number or subject) are re-rendered, at the preview size, first in a
background thread, and the rest of the preview stays as it was; the full-size render keeps its
pieces and re-renders only those the changed frames fall in (:mod:`.pieces`). Each edit is saved
at once to the plan file and the keyframes file.

Why the whole clip is re-planned, not a window around the edit: the planner's solution is one
optimum over the clip (:mod:`autofocuspull.plan.viterbi`), and a change anywhere can move it
elsewhere, even across a cut. A cut makes switching free, but the solver's state there is (choice,
how long held): a subject kept through a cut may be left again soon after it, one switched to at
the cut must be held ``min_hold_s`` first. So a decision just after a cut can change what the shot
before ends on (tests/test_app_render.py builds such a case), and inside a shot it can move any
switch of that shot. A window re-solved between fixed ends (the previous hold, the next one, the
shot's cuts) would be a different, local planner: its plan would differ from the one ``rack``
makes from the same decisions. Re-planning the whole clip costs little next to rendering
(eval/bench_app_render.py: ``replan_s``), and diffing the result finds exactly the frames that
changed, wherever the optimum moved them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from autofocuspull.app.edits import (
    ApertureEdit,
    PullRetime,
    apply_edits,
    changed_span,
    edits_from_meta,
    retime_pull,
)
from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import FocusPlan
from autofocuspull.plan.keyframes import Keyframe

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """Settings of the app's previews.

    ``preview_max_side_px``: the frames shown and re-rendered after an edit are this large (longest
    side): about what one of the page's two panes shows on a laptop screen, with 16 times fewer
    pixels (and 4 times smaller blur kernels) than 1080p, so a re-rendered span is back quickly.
    ``jpeg_quality``: previews travel as JPEG; at 90 the codec's artefacts are well below the blur
    differences being judged, at a twentieth of the raw size.
    ``full_piece_s``: the full-size render is kept in pieces of about this length (ending at shot
    cuts where one is near), and an edit re-renders only the pieces its changed frames fall in. A
    pull and the hold around it span 1-3 s, so 2 s pieces re-render about 2-4 s of footage per
    edit whatever the clip's length. Shorter pieces cost more than they save: each one starts
    with a keyframe (x264 alone puts one every 250 frames; 2 s is a broadcast-like GOP of 50
    frames at 25 fps, and the file grows by 0.9 % on a 20 s 640x360 dialogue clip,
    eval/bench_app_render.py), and each seeks into the input and decodes from the keyframe before
    its start (input GOPs of 0.5-2 s are common), which a 0.5 s piece would repeat four times as
    often. 0: one piece (every edit re-renders the whole clip).
    """

    preview_max_side_px: int = 480
    jpeg_quality: int = 90
    full_piece_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.full_piece_s >= 0:
            raise ValueError(f"app.full_piece_s: expected seconds >= 0, got {self.full_piece_s}")


def _jpeg(rgb: np.ndarray, quality: int = AppConfig.jpeg_quality) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class AppSession:
    """State of the app for one clip (thread-safe: the HTTP server calls it from many threads)."""

    def __init__(
        self,
        clip: Path,
        analysis: Any,
        cfg: Any,
        plan_path: Path,
        keyframes_path: Path,
        plan: FocusPlan | None = None,
        keyframes: list[Keyframe] | None = None,
        app_config: AppConfig | None = None,
    ) -> None:
        from autofocuspull.io import iter_frames

        self.clip = clip
        self.folder = Path(os.path.abspath(clip)).parent  # as named: a linked clip's own folder
        self.analysis, self.cfg = analysis, cfg
        self.plan_path, self.keyframes_path = plan_path, keyframes_path
        self.lock = threading.RLock()
        self.render_lock = threading.Lock()
        self.keyframes: list[Keyframe] = list(keyframes or [])
        self.retimes: list[PullRetime] = []
        self.apertures: list[ApertureEdit] = []
        self.notes: list[str] = []
        self.version = 0
        info = analysis.info
        from autofocuspull.pipeline import resolve_device

        self.device = resolve_device(cfg.run.device)  # previews render where `rack` would
        self.app_config = app_config or getattr(cfg, "app", None) or AppConfig()
        q = self.app_config.jpeg_quality
        side = self.app_config.preview_max_side_px
        self.source = [_jpeg(f.rgb, q) for f in iter_frames(clip, info, max_side=side)]
        if len(self.source) != info.n_frames:
            raise UsageError(f"{clip}: decoded {len(self.source)} of {info.n_frames} frames")
        h, w = cv2.imdecode(np.frombuffer(self.source[0], np.uint8), cv2.IMREAD_COLOR).shape[:2]
        self.preview_size = (w, h)
        self.preview: dict[int, tuple[int, bytes]] = {}  # frame -> (plan version rendered, JPEG)
        self.queue: deque[int] = deque()
        self.last_span = (0, 0)
        self.full_render: dict[str, Any] = {"state": "idle"}
        self.pieces: Any = None  # the full render's PieceRenderer, made at the first full render
        if plan is None:
            plan = self._planned()
        else:
            self.retimes, self.apertures = edits_from_meta(plan.meta)
        self.plan = plan
        self._save()
        self.worker = threading.Thread(target=self._render_loop, name="preview-render", daemon=True)
        self.wake = threading.Event()
        self.stopping = False
        self.worker.start()

    # ----------------------------------------------------------------------------------------
    # Planning and edits
    # ----------------------------------------------------------------------------------------

    def _planned(self) -> FocusPlan:
        """The planner's plan with the current keyframes, then the stored drags and apertures."""
        from autofocuspull import pipeline
        from autofocuspull.export.importers import save_keyframes

        save_keyframes(self.keyframes, self.keyframes_path)
        kf = str(self.keyframes_path) if self.keyframes else None
        run = dataclasses.replace(self.cfg.run, keyframes=kf)
        cfg = dataclasses.replace(self.cfg, run=run)
        plan = pipeline.plan_from_analysis(self.analysis, cfg)
        self.notes = apply_edits(plan, self.retimes, self.apertures)
        plan.meta["keyframes_file"] = str(self.keyframes_path)
        return plan

    def _commit(self, new: FocusPlan) -> tuple[int, int]:
        span = changed_span(self.plan, new)
        self.plan = new
        self.version += 1
        self._save()
        self.last_span = span
        if span[1] > span[0]:
            for k in range(*span):
                self.preview.pop(k, None)
            self.queue.extendleft(reversed(range(*span)))
            self.wake.set()
        return span

    def _save(self) -> None:
        from autofocuspull.export.importers import save_keyframes
        from autofocuspull.plan import save_plan

        save_plan(self.plan, self.plan_path)
        save_keyframes(self.keyframes, self.keyframes_path)

    def add_decision(self, t_s: float, subject: int | None, point: tuple[float, float] | None,
                     strength: str) -> tuple[int, int]:  # fmt: skip
        """A click on a subject (or a point) at ``t_s``: a keyframe, then re-plan."""
        ids = set(self.plan.subjects.track_id.tolist())
        if subject is not None and subject not in ids:
            raise UsageError(f"subject {subject}: no such subject (ids: {sorted(ids)})")
        t0, t1 = float(self.plan.times_s[0]), float(self.plan.times_s[-1])
        if not t0 - 1e-9 <= t_s <= t1 + 1e-9:
            raise UsageError(f"t_s {t_s}: outside the clip ({t0:.3f}..{t1:.3f} s)")
        with self.lock:
            kf = Keyframe(float(t_s), subject, point, strength)
            self.keyframes = sorted([k for k in self.keyframes if abs(k.t_s - t_s) > 1e-6] + [kf],
                                    key=lambda k: k.t_s)  # fmt: skip
            return self._commit(self._planned())

    def remove_decision(self, index: int) -> tuple[int, int]:
        with self.lock:
            if not 0 <= index < len(self.keyframes):
                raise UsageError(f"decision {index}: there are {len(self.keyframes)}")
            del self.keyframes[index]
            return self._commit(self._planned())

    def retime(self, index: int, start_s: float, end_s: float) -> tuple[int, int]:
        """Drag pull ``index`` to ``start_s``..``end_s``."""
        with self.lock:
            if not 0 <= index < len(self.plan.pulls):
                raise UsageError(f"pull {index}: the plan has {len(self.plan.pulls)} pulls")
            p = self.plan.pulls[index]
            if p.end_s <= p.start_s:
                raise UsageError(f"pull {index} is a cut: focus jumps there, there is nothing to drag")
            orig = next((r.orig_start_s for r in self.retimes if abs(r.start_s - p.start_s) < 1e-6
                         and r.to_id == p.to_id), p.start_s)  # fmt: skip
            new = _copy_plan(self.plan)
            retime_pull(new, index, start_s, end_s)
            q = new.pulls[index]
            self.retimes = [r for r in self.retimes if not (r.to_id == p.to_id and r.orig_start_s == orig)]
            self.retimes.append(PullRetime(p.from_id, p.to_id, orig, q.start_s, q.end_s))
            new.meta["edits"] = {"pulls": [r.to_dict() for r in self.retimes],
                                 "aperture": [a.to_dict() for a in self.apertures]}  # fmt: skip
            return self._commit(new)

    def set_aperture(
        self, f_number: float, start_s: float = 0.0, end_s: float | None = None
    ) -> tuple[int, int]:
        with self.lock:
            try:
                edit = ApertureEdit(float(f_number), float(start_s), end_s)
            except ValueError as e:
                raise UsageError(str(e)) from None
            self.apertures.append(edit)
            return self._commit(self._planned())

    # ----------------------------------------------------------------------------------------
    # Previews
    # ----------------------------------------------------------------------------------------

    def _render(self, k: int) -> bytes:
        from autofocuspull.render import render_frame

        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(self.source[k], np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)  # fmt: skip
        w, h = self.preview_size
        depth = cv2.resize(np.asarray(self.analysis.depth.depth_m_at(k), np.float32), (w, h),
                           interpolation=cv2.INTER_LINEAR)  # fmt: skip
        with self.lock:
            focus, fnum, version = float(self.plan.focus_m[k]), float(self.plan.f_number[k]), self.version
        with self.render_lock:
            out = render_frame(rgb, depth, focus, self.cfg.lens, f_number=fnum, device=self.device,
                               config=self.cfg.render)  # fmt: skip
        jpeg = _jpeg(out, self.app_config.jpeg_quality)
        with self.lock:
            if version == self.version:
                self.preview[k] = (version, jpeg)
        return jpeg

    def preview_jpeg(self, k: int) -> bytes:
        self._check_frame(k)
        hit = self.preview.get(k)
        return hit[1] if hit is not None else self._render(k)

    def source_jpeg(self, k: int) -> bytes:
        self._check_frame(k)
        return self.source[k]

    def _check_frame(self, k: int) -> None:
        if not 0 <= k < len(self.source):
            raise UsageError(f"frame {k}: the clip has {len(self.source)} frames")

    def _render_loop(self) -> None:
        while not self.stopping:
            with self.lock:
                k = self.queue.popleft() if self.queue else None
            if k is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            if k in self.preview:
                continue
            try:
                self._render(k)
            except Exception:  # a bad frame must not stop the previews of the others
                log.exception("preview of frame %d failed", k)

    def pending(self) -> int:
        with self.lock:
            return sum(1 for k in self.queue if k not in self.preview)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        if self.pieces is not None:
            self.pieces.close()

    # ----------------------------------------------------------------------------------------
    # Full-size render and status
    # ----------------------------------------------------------------------------------------

    def start_full_render(self) -> Path:
        """Render the plan at full size into ``<clip stem>.racked.mp4`` (.mkv for FFV1) beside the
        clip (replacing the last one), in a background thread, by pieces (:mod:`.pieces`): after an
        edit only the pieces covering changed frames are rendered again. ``status()["full_render"]``
        follows it: state, and how many pieces were rendered and reused."""
        from autofocuspull.app.pieces import PieceRenderer

        with self.lock:
            if self.full_render.get("state") == "running":
                raise UsageError("a full render is already running")
            if self.pieces is None:
                a = self.analysis
                self.pieces = PieceRenderer(self.clip, a.info, a.cut_frames, a.depth, self.cfg,
                                            self.app_config.full_piece_s)  # fmt: skip
            pieces = self.pieces
            out = self.folder / f"{self.clip.stem}.racked{pieces.suffix}"
            plan = _copy_plan(self.plan)
            self.full_render = {"state": "running", "path": out.name, "version": self.version,
                                "pieces": len(pieces.bounds), "rendered": 0, "reused": 0}  # fmt: skip

        def note(report: dict[str, Any]) -> None:
            with self.lock:
                self.full_render.update(report)

        def run() -> None:
            try:
                report = pieces.render(plan, out, progress=note)
                note({"state": "done", **report})
            except Exception as e:
                log.exception("full render failed")
                note({"state": "error", "error": str(e)})

        threading.Thread(target=run, name="full-render", daemon=True).start()
        return out

    def status(self) -> dict[str, Any]:
        with self.lock:
            a, b = self.last_span
            done = sum(1 for k in range(a, b) if self.preview.get(k, (-1,))[0] == self.version)
            return {
                "version": self.version,
                "span": [a, b],
                "span_rendered": done,
                "pending": self.pending(),
                "full_render": dict(self.full_render),
                "notes": list(self.notes),
            }

    def state(self) -> dict[str, Any]:
        from autofocuspull.export.importers import keyframes_to_list

        info = self.analysis.info
        with self.lock:
            return {
                "clip": self.clip.name,
                "n_frames": info.n_frames,
                "frame_rate": float(info.frame_rate),
                "width": info.width,
                "height": info.height,
                "preview_size": list(self.preview_size),
                "times_s": [round(float(t), 6) for t in self.plan.times_s],
                "speech": [round(float(p), 3) for p in self.analysis.cues.speech_prob],
                "keyframes": keyframes_to_list(self.keyframes),
                "edits": self.plan.meta.get("edits", {}),
                "plan_file": str(self.plan_path),
                "keyframes_file": str(self.keyframes_path),
                "f_number": float(self.cfg.lens.f_number),
                **self.status(),
            }


def _copy_plan(plan: FocusPlan) -> FocusPlan:
    import copy

    return FocusPlan(
        times_s=plan.times_s.copy(),
        subject_id=plan.subject_id.copy(),
        focus_xy=plan.focus_xy.copy(),
        focus_m=plan.focus_m.copy(),
        f_number=plan.f_number.copy(),
        pulls=list(plan.pulls),
        subjects=plan.subjects,
        cuts_s=list(plan.cuts_s),
        depth_source=plan.depth_source,
        video=dict(plan.video),
        meta=copy.deepcopy(plan.meta),
    )
