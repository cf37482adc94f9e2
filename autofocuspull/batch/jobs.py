"""What a batch is made of: the clips of a folder, their outputs, the work units, and the manifest.

Discovery walks the folder recursively (sorted, hidden files and folders skipped, the output folder
skipped when it lies inside) and opens every file with FFmpeg: a file FFmpeg can't open, one with no
video stream, or a still image is skipped with a note saying why. Each clip ``DIR/a/b.mov`` is racked
to ``OUTDIR/a/b.mp4`` with its plan beside it (``OUTDIR/a/b.plan.json``); two inputs that would share
an output name (``b.mov`` and ``b.avi``) keep their extension in it (``b.mov.mp4``).

The manifest (``OUTDIR/autofocuspull-batch.json``, written only by the driver, atomically) records per
clip the input's sha256, size and mtime, the effective configuration and its hash, and each output's
path, size and sha256. A rerun skips a clip whose entry is complete for the same input and
configuration with its outputs intact, and runs the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from autofocuspull.core.cache import atomic_write_bytes
from autofocuspull.io.reader import av_open_read

log = logging.getLogger(__name__)

MANIFEST_NAME = "autofocuspull-batch.json"
MANIFEST_SCHEMA = "autofocuspull.batch/1"
SEGMENTS_DIR = ".segments"  # inside OUTDIR: rendered segments of clips not yet joined
_STILL_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif"}


@dataclass(frozen=True)
class BatchConfig:
    """How a batch is split and scheduled (what the clips look like is the :class:`RackConfig`'s job).

    ``segment_s``: clips longer than twice this are rendered in segments of about this length, cut
    at shot boundaries where the analysis found them. One minute of video is a task of seconds on a
    GPU and minutes on a CPU: long enough that the per-task overhead (reloading the clip's analysis,
    seeking) stays under a few percent, short enough that a 1-hour interview spreads over 60 workers.
    ``max_retries``: how often a task whose worker process died (killed, out of memory, segfault) is
    run again; a Python exception is not retried (it would fail the same way) and fails its clip.
    ``gpu_per_worker``: the GPU fraction each Ray worker asks for when the cluster has GPUs:
    Depth-Anything-V2-Small (fp16, 518 px) and the renderer at 1080p use 2-3 GB together, so four
    workers share a 24 GB card with headroom, and while one decodes or encodes on the CPU the
    others keep the GPU busy. ``cpus_per_worker``: CPUs reserved per worker (its torch threads).
    ``analysis_piece_s``: clips longer than twice this are *analysed* in pieces of about this length
    too (perception, depth, distances, active speakers; each piece a task), at shot cuts where one
    lies within half a piece of the target (a cheap cut-detection pass runs first), and joined into
    one whole-clip analysis that is planned once (:func:`autofocuspull.pipeline.analyse_in_pieces`).
    Longer than ``segment_s`` because a boundary inside a shot costs accuracy (its tracks restart and
    are linked back by box overlap; the speaker model loses a second of context) while a render
    boundary costs nothing: at CPU analysis speeds (a few frames per second) two minutes is a task of
    tens of minutes, the lossless copy each piece is analysed from costs a few percent of that, and
    a one-hour take spreads over 30 workers. 0 analyses every clip in one task.
    ``output_suffix``: the container of the racked clips. ``verify_hashes``: on a rerun, check the
    sha256 of inputs and outputs instead of trusting an unchanged size and mtime.
    """

    ray: bool = False  # start a local Ray instance sized to this machine (else a local process pool)
    ray_address: str | None = None  # join the Ray cluster at this address (implies Ray)
    workers: int | None = None  # None: one per ``cpus_per_worker`` CPUs of the machine or cluster
    segment_s: float = 60.0
    analysis_piece_s: float = 120.0
    max_retries: int = 2
    gpu_per_worker: float = 0.25
    cpus_per_worker: int = 1
    output_suffix: str = ".mp4"
    verify_hashes: bool = False
    plan_only: bool = False  # plan every clip, render none (datasets, experiments)


@dataclass(frozen=True)
class ClipJob:
    """One clip of the batch: ``input`` (absolute), ``rel`` (its path under the batch folder: the
    manifest key), ``output`` video and ``plan`` JSON paths, ``segments_dir`` for its rendered pieces."""

    input: str
    rel: str
    output: str
    plan: str
    segments_dir: str
    est_frames: int = 0


@dataclass(frozen=True)
class Segment:
    """Frames ``start <= index < stop`` of a clip, rendered as piece ``index`` of ``count``."""

    index: int
    count: int
    start: int
    stop: int


@dataclass(frozen=True)
class Skipped:
    """A file of the batch folder that is not racked, and why."""

    path: str
    reason: str


def media_check(path: Path) -> tuple[int, str | None]:
    """``(estimated frames, None)`` for a video FFmpeg reads, else ``(0, why it is skipped)``."""
    try:
        container = av_open_read(path)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        return 0, f"not a media file FFmpeg can read ({type(e).__name__})"
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            return 0, f"no video stream (found: {', '.join(kinds)})"
        if container.format.name in _STILL_FORMATS:
            return 0, f"a still image ({container.format.name})"
        stream = container.streams.video[0]
        frames = int(stream.frames or 0)
        if not frames and container.duration and stream.average_rate:
            frames = round(container.duration / av.time_base * float(stream.average_rate))
        return max(frames, 1), None
    finally:
        container.close()


def _walk(folder: Path, skip: Path | None) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder, followlinks=True):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or r / d != skip))
        for name in sorted(files):
            if not name.startswith("."):
                yield r / name


def find_clips(
    folder: str | os.PathLike[str], outdir: str | os.PathLike[str], config: BatchConfig | None = None
) -> tuple[list[ClipJob], list[Skipped]]:
    """The clips under ``folder`` (recursively) as jobs writing into ``outdir``, and the skipped files."""
    cfg = config or BatchConfig()
    root, out = Path(os.path.abspath(folder)), Path(os.path.abspath(outdir))
    found: list[tuple[Path, int]] = []
    skipped: list[Skipped] = []
    for path in _walk(root, out if out.is_relative_to(root) else None):
        frames, why = media_check(path)
        if why is None:
            found.append((path, frames))
        else:
            skipped.append(Skipped(str(path.relative_to(root)), why))
    stems: dict[Path, int] = {}
    for path, _ in found:
        key = path.relative_to(root).with_suffix("")
        stems[key] = stems.get(key, 0) + 1
    jobs = []
    for path, frames in found:
        rel = path.relative_to(root)
        base = rel.with_suffix("") if stems[rel.with_suffix("")] == 1 else rel
        digest = hashlib.sha256(str(rel).encode()).hexdigest()[:16]
        jobs.append(
            ClipJob(
                input=str(path),
                rel=str(rel),
                output=str(out / base.parent / (base.name + cfg.output_suffix)),
                plan=str(out / base.parent / (base.name + ".plan.json")),
                segments_dir=str(out / SEGMENTS_DIR / digest),
                est_frames=frames,
            )
        )
    return jobs, skipped


# --------------------------------------------------------------------------------------------
# Hashes and the manifest
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """sha256 hex digest of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_record(path: str | os.PathLike[str], sha256: str | None = None) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns", "sha256"}`` of a file (hashing it unless ``sha256`` is given)."""
    st = os.stat(path)
    return {
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha256 or sha256_file(path),
    }


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# Settings that change where things are kept or how the work is spread, not what is written.
_NOT_OUTPUT = {
    "rack": {"run": ("cache_dir", "use_cache", "device")},
    "batch": ("workers", "max_retries", "verify_hashes", "cpus_per_worker", "gpu_per_worker"),
}


def effective_config(rack_cfg: Any, batch_cfg: BatchConfig) -> dict[str, Any]:
    """The settings that determine a clip's outputs, as JSON (the manifest's ``config``): the whole
    run configuration tree and the batch's segment length, container and plan-only flag. The
    device is left out on purpose: a rerun on another machine (GPU or CPU) reuses finished clips."""
    from autofocuspull import __version__
    from autofocuspull.config import config_to_dict

    rack = _jsonable(config_to_dict(rack_cfg))
    for name in _NOT_OUTPUT["rack"]["run"]:
        rack.get("run", {}).pop(name, None)
    batch = _jsonable(batch_cfg)
    for name in _NOT_OUTPUT["batch"]:
        batch.pop(name, None)
    return {"rack": rack, "batch": batch, "autofocuspull": __version__}


def config_digest(config: Mapping[str, Any]) -> str:
    """sha256 of the effective config's canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


class Manifest:
    """The batch's record of finished and failed clips: ``OUTDIR/autofocuspull-batch.json``."""

    def __init__(self, outdir: str | os.PathLike[str]) -> None:
        self.path = Path(outdir) / MANIFEST_NAME
        self.clips: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.clips = dict(data.get("clips", {}))
            except (OSError, ValueError, AttributeError) as e:
                log.warning("%s: unreadable manifest (%s); every clip will be redone", self.path, e)

    def complete(self, job: ClipJob, config_sha: str, *, verify: bool = False) -> bool:
        """True when ``job`` finished before with this config and its input and outputs are unchanged."""
        entry = self.clips.get(job.rel)
        if not entry or entry.get("status") != "done" or entry.get("config_sha256") != config_sha:
            return False
        records = [entry.get("input", {}), *entry.get("outputs", {}).values()]
        return all(_unchanged(r, verify) for r in records) and bool(entry.get("outputs"))

    def record(self, rel: str, entry: Mapping[str, Any]) -> None:
        """Set a clip's entry and write the manifest (atomically)."""
        self.clips[rel] = dict(entry)
        self.save()

    def save(self) -> None:
        data = {"schema": MANIFEST_SCHEMA, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "clips": dict(sorted(self.clips.items()))}  # fmt: skip
        atomic_write_bytes(self.path, (json.dumps(data, indent=1) + "\n").encode())


def _unchanged(record: Mapping[str, Any], verify: bool) -> bool:
    path = record.get("path")
    if not path or not os.path.isfile(path):
        return False
    st = os.stat(path)
    if st.st_size != record.get("size"):
        return False
    if verify or st.st_mtime_ns != record.get("mtime_ns"):
        return sha256_file(path) == record.get("sha256")
    return True
