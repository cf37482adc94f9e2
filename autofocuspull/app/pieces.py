"""The app's full-size render, in pieces that an edit invalidates only where it changed.

The clip is split once into short frame ranges (:func:`~autofocuspull.io.segments.split_frames`,
ending at shot cuts where one is near, as the batch stage splits its segments). Each range is
rendered and encoded on its own (:func:`~autofocuspull.io.segments.encode_segment`) into a cache
folder, under a name made of its frame range and a hash of everything its pixels depend on:

- the plan's ``focus_m`` and ``f_number`` over the range, as the renderer reads them (float32).
  The subject ids and focus points are not part of it: the renderer never reads them, so an edit
  that only renames who is in focus at the same distance re-renders nothing (the plan file,
  which the edit rewrites at once, carries them);
- the depth maps of the range's frames (hashed once per session: the analysis does not change
  while the app runs), so a piece rendered with another depth model or analysis is never reused;
- the folder itself is keyed by the clip's content (:class:`~autofocuspull.core.cache.StageCache`),
  the ``render``, ``encode`` and ``lens`` config sections, the renderer's name, the device and the
  code of the renderer, reader and writer.

A render looks each piece up, renders the missing ones, and joins all of them with the input's
audio into the output by a lossless packet copy (:func:`~autofocuspull.io.segments.join_segments`,
atomic), so after an edit only the pieces covering the changed frames cost a render. Pieces the
latest render did not use are removed, so the folder holds one clip's worth. Codecs whose
segments can't be joined (:data:`~autofocuspull.io.segments.SEGMENT_FORMAT`: FFV1) are rendered
whole every time, and the report says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.cache import StageCache, array_key, stage_key
from autofocuspull.core.types import FocusPlan, VideoInfo
from autofocuspull.io.segments import SEGMENT_SUFFIX

log = logging.getLogger(__name__)

PIECE_CODE = (
    "autofocuspull.render",
    "autofocuspull.io.reader",
    "autofocuspull.io.writer",
    "autofocuspull.io.segments",
    "autofocuspull.io.colour",
)


def output_suffix(codec: str) -> str:
    """The output file's extension for ``codec``: .mp4 where it goes (plays everywhere), else the
    first container it does go in (FFV1: .mkv)."""
    from autofocuspull.io.writer import CODECS, OUTPUT_FORMATS

    return next(ext for ext, fmt in OUTPUT_FORMATS.items() if fmt in CODECS[codec].containers)


class PieceRenderer:
    """Full-size renders of one clip (its analysis fixed), reusing the pieces an edit left alone.

    ``piece_s``: the pieces' target length (see :class:`~autofocuspull.app.session.AppConfig`).
    """

    def __init__(
        self, clip: Path, info: VideoInfo, cut_frames: list[int], depth: Any, cfg: Any, piece_s: float
    ) -> None:
        from autofocuspull.io.segments import SEGMENT_FORMAT, split_frames
        from autofocuspull.io.writer import codec_for
        from autofocuspull.pipeline import resolve_device

        self.clip, self.info, self.depth = clip, info, depth
        # the app's own output is replaced by each render (it is the app's file, named by it)
        self.encode = dataclasses.replace(cfg.encode, overwrite=True)
        self.cfg = dataclasses.replace(cfg, encode=self.encode)
        self.codec = codec_for(self.encode, info.colour)
        self.splittable = self.codec in SEGMENT_FORMAT
        self.suffix = output_suffix(self.codec)
        whole = [(0, info.n_frames)]
        self.bounds = split_frames(info.pts_s, cut_frames, piece_s) if self.splittable else whole
        key = stage_key(
            {"render": cfg.render, "encode": self.encode, "lens": cfg.lens},
            PIECE_CODE,
            renderer=cfg.stages.renderer,
            device=str(resolve_device(cfg.run.device)),
        )
        self.store = StageCache.for_clip(clip, "app-pieces", key, root=cfg.run.cache_dir,
                                         enabled=cfg.run.use_cache)  # fmt: skip
        self.scratch: Path | None = None
        if self.store.enabled:
            assert self.store.root is not None
            self.folder = self.store.root
        else:  # no cache: pieces live as long as the session
            self.scratch = self.folder = Path(tempfile.mkdtemp(prefix="autofocuspull-pieces-"))
        self._depth_keys: dict[tuple[int, int], str] = {}

    def piece_path(self, plan: FocusPlan, start: int, stop: int) -> Path:
        """Where the piece ``start..stop`` rendered following ``plan`` is kept."""
        if (start, stop) not in self._depth_keys:
            self._depth_keys[(start, stop)] = array_key(
                *(np.asarray(self.depth.depth_m_at(k), np.float32) for k in range(start, stop))
            )
        h = hashlib.sha256(self._depth_keys[(start, stop)].encode())
        h.update(np.ascontiguousarray(plan.focus_m[start:stop], np.float32).tobytes())
        h.update(np.ascontiguousarray(plan.f_number[start:stop], np.float32).tobytes())
        return self.folder / f"{start:07d}-{stop:07d}-{h.hexdigest()[:20]}{SEGMENT_SUFFIX}"

    def render(
        self, plan: FocusPlan, out: Path, progress: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Render ``plan`` into ``out`` (atomically); returns what was re-rendered and reused:
        ``{"pieces", "rendered", "reused", "frames_rendered", "seconds"[, "note"]}``.
        ``progress`` sees that record (so far) after each piece."""
        from autofocuspull import pipeline
        from autofocuspull.core.threads import set_threads

        t0 = time.perf_counter()
        report: dict[str, Any] = {"pieces": len(self.bounds), "rendered": 0, "reused": 0}
        report["frames_rendered"] = 0
        if not self.splittable:
            report["note"] = f"rendered whole: {self.codec} output can't be joined from pieces"
            pipeline.render_clip(self.clip, plan, out, self.cfg, self.depth, self.info)
            report.update(rendered=1, frames_rendered=self.info.n_frames)
            report["seconds"] = round(time.perf_counter() - t0, 3)
            return report
        set_threads(self.cfg.run.threads)
        with self.store.lock() if self.store.enabled else nullcontext():  # one render per folder at a time
            pieces = self._pieces(plan, report, progress)
            from autofocuspull.io.segments import join_segments

            join_segments(self.clip, [(p, a) for p, a in pieces], out, self.info, config=self.encode)
            self._prune({p.name for p, _ in pieces})
        report["seconds"] = round(time.perf_counter() - t0, 3)
        return report

    def _pieces(self, plan: FocusPlan, report: dict[str, Any], progress) -> list[tuple[Path, int]]:
        from autofocuspull import pipeline
        from autofocuspull.io.segments import encode_segment

        process = pipeline.frame_processor(plan, self.cfg, self.depth, self.info)
        pieces = []
        for a, b in self.bounds:
            path = self.piece_path(plan, a, b)
            if path.is_file():
                report["reused"] += 1
            else:
                encode_segment(self.clip, path, self.info, a, b, process, config=self.encode)
                report["rendered"] += 1
                report["frames_rendered"] += b - a
            pieces.append((path, a))
            if progress is not None:
                progress(dict(report))
        return pieces

    def _prune(self, keep: set[str]) -> None:
        for f in self.folder.glob(f"*{SEGMENT_SUFFIX}"):
            if f.name not in keep:
                f.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the session's scratch pieces (the cache folder's stay for the next session)."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
