"""Time ranges (``--start S --end S`` on rack, plan and render), like FFmpeg's ``-ss`` / ``-to``.

The range keeps the frames whose presentation time is in ``[start_s, end_s)`` (pts-exact: from
the container's times, no frame index times fps) and the audio from the first kept frame's time
to ``end_s`` (or the end of the last kept frame when that is sooner), to the sample. They are
written once, losslessly (H.264 RGB at ``crf 0``, the audio as float PCM, every track kept) to a
QuickTime file in the analysis cache, with times shifted so that the first kept frame is at 0
(as FFmpeg's output of ``-ss``); every stage then runs on that file unchanged, the analysis is
cached for it, and a rerun with the same range reuses it. Plans made from it carry
``meta["range"] = {"source", "start_s", "end_s", "offset_s"}`` (``offset_s``: where the plan's
t = 0 is in the source), which exports use to point editors at the original clip.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from autofocuspull.core.atomic import atomic_path
from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import VideoInfo
from autofocuspull.io.reader import (
    _origin_s,
    _video_stream,
    check_input_file,
    decode_video_packets,
    frame_to_rgb,
    indexed_frames,
    open_input,
    probe,
)

log = logging.getLogger(__name__)

RANGE_FILE = "range.json"  # beside the trimmed clip: where it came from
RESYNC_S = 0.02  # audio frames are placed by counting samples unless their pts jumps by more (20 ms,
# under the 45 ms at which a lip-sync error becomes visible, above the jitter of rounded pts)


@dataclass(frozen=True)
class TimeRange:
    """``start_s`` (>= 0) to ``end_s`` (None = the clip's end), seconds of the source clip."""

    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.start_s) or self.start_s < 0:
            raise UsageError(f"--start {self.start_s}: expected a time >= 0 in seconds")
        if self.end_s is not None and not (np.isfinite(self.end_s) and self.end_s > self.start_s):
            raise UsageError(f"--end {self.end_s}: expected a time after --start ({self.start_s} s)")


def frame_mask(info: VideoInfo, rng: TimeRange) -> np.ndarray:
    """(T,) bool: the frames of ``info`` whose time is in the range."""
    eps = 1e-9
    keep = info.pts_s >= rng.start_s - eps
    if rng.end_s is not None:
        keep &= info.pts_s < rng.end_s - eps
    return keep


def range_of(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``meta["range"]`` record of a trimmed clip (None for any other file)."""
    f = Path(path).parent / RANGE_FILE
    if not f.is_file():
        return None
    try:
        d = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return d if isinstance(d, dict) and Path(d.get("trimmed", "")).name == Path(path).name else None


def _route_audio(packets, video_index: int, audio: dict[int, Any]) -> Iterator[av.Packet]:
    for packet in packets:
        if packet.stream_index == video_index:
            yield packet
        elif packet.stream_index in audio:
            audio[packet.stream_index].feed(packet)


class _AudioCut:
    """One audio stream, cut to [t0, t1) seconds to the sample and written as float PCM."""

    def __init__(self, dst: av.container.OutputContainer, src: av.audio.stream.AudioStream, t0: float,
                 t1: float, origin: float) -> None:  # fmt: skip
        cc = src.codec_context
        self.rate = int(cc.sample_rate or 48000)
        self.layout = cc.layout.name if cc.layout is not None else "stereo"
        self.src, self.t0, self.t1, self.origin = src, t0, t1, origin
        self.dst = dst.add_stream("pcm_f32le", rate=self.rate, layout=self.layout)
        if src.language:
            self.dst.metadata["language"] = src.language
        self.resampler = av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)
        self.written = 0  # samples written
        self.out = dst
        self.next_s: float | None = None  # source time of the next resampled sample

    def feed(self, packet: av.Packet | None) -> None:
        try:
            frames = self.src.decode(packet)
        except av.error.EOFError:
            frames = []
        except av.error.FFmpegError as e:
            log.warning("%s: skipped a damaged audio packet (%s)", self.src.container.name, e)
            return
        for frame in frames:
            t = float(frame.time) - self.origin if frame.time is not None else self.next_s
            if self.next_s is None or (t is not None and abs(t - self.next_s) > RESYNC_S):
                self.next_s = t or 0.0  # first frame, or a gap / overlap in the stream: follow its pts
            frame.pts = None
            for r in self.resampler.resample(frame):
                self._write(r.to_ndarray().reshape(r.samples, -1).T)
        if packet is None:
            for r in self.resampler.resample(None):
                self._write(r.to_ndarray().reshape(r.samples, -1).T)
            self.out.mux(self.dst.encode(None))

    def _write(self, samples: np.ndarray) -> None:
        """``samples`` (C, N) float32 starting at ``self.next_s`` source seconds."""
        n = samples.shape[1]
        start = self.next_s if self.next_s is not None else 0.0
        self.next_s = start + n / self.rate
        a = round((self.t0 - start) * self.rate)
        b = round((self.t1 - start) * self.rate)
        a, b = max(a, 0), min(b, n)
        if b <= a:
            return
        chunk = np.ascontiguousarray(samples[:, a:b].T.reshape(1, -1), np.float32)
        f = av.AudioFrame.from_ndarray(chunk, format="flt", layout=self.layout)
        f.sample_rate, f.pts = self.rate, self.written
        self.written += b - a
        self.out.mux(self.dst.encode(f))


def write_range(
    src_path: str | os.PathLike[str], info: VideoInfo, rng: TimeRange, out: Path
) -> dict[str, Any]:
    """Write the range of ``src_path`` to ``out`` (.mov, lossless) and return its range record."""
    keep = frame_mask(info, rng)
    if not keep.any():
        raise UsageError(
            f"{src_path}: no frame in --start {rng.start_s} --end {rng.end_s} "
            f"(the clip's frames run from {info.pts_s[0]:.3f} to {info.pts_s[-1]:.3f} s)"
        )
    idx = np.flatnonzero(keep)
    t0 = float(info.pts_s[idx[0]])
    last_end = float(info.pts_s[idx[-1]]) + info.frame_duration_s
    t1 = min(rng.end_s, last_end) if rng.end_s is not None else max(last_end, info.duration_s)
    tb = info.time_base
    with atomic_path(out) as tmp, open_input(src_path) as src, av.open(str(tmp), "w", format="mov") as dst:
        vsrc = _video_stream(src, src_path)
        vsrc.thread_type = "AUTO"
        vdst = dst.add_stream("libx264rgb", rate=info.frame_rate, options={"crf": "0", "preset": "ultrafast"})
        vdst.width, vdst.height, vdst.pix_fmt = info.width, info.height, "rgb24"
        vdst.time_base = vdst.codec_context.time_base = tb
        origin = _origin_s(src)
        audio = {s.index: _AudioCut(dst, s, t0, t1, origin) for s in src.streams.audio}
        packets = _route_audio(src.demux(vsrc, *(a.src for a in audio.values())), vsrc.index, audio)
        decoded = decode_video_packets(src, vsrc, packets, src_path)
        for index, t_s, frame in indexed_frames(decoded, info, origin):
            if not keep[index]:
                continue
            vf = av.VideoFrame.from_ndarray(frame_to_rgb(frame, info.rotation_deg), format="rgb24")
            vf.pts, vf.time_base = round((t_s - t0) / float(tb)), tb
            dst.mux(vdst.encode(vf))
        dst.mux(vdst.encode(None))
        for a in audio.values():
            a.feed(None)
    return {"source": os.path.abspath(src_path), "start_s": rng.start_s, "end_s": rng.end_s, "offset_s": t0,
            "n_frames": int(keep.sum()), "trimmed": out.name}  # fmt: skip


def trimmed_clip(src_path: str | os.PathLike[str], rng: TimeRange, cache_root: str | None = None,
                 use_cache: bool = True) -> Path:  # fmt: skip
    """The range of ``src_path`` as a clip of its own (made once, kept in the analysis cache)."""
    check_input_file(src_path)
    info = probe(src_path)
    cache, out = _range_cache(src_path, rng, cache_root)
    with cache.lock():
        if not (use_cache and out.is_file() and range_of(out) is not None):
            record = write_range(src_path, info, rng, out)
            (cache.root / RANGE_FILE).write_text(json.dumps(record))
            log.info(
                "range %s: %d frames from %.3f s written to %s",
                src_path,
                record["n_frames"],
                record["offset_s"],
                out,
            )
    return out


def _range_cache(src_path: str | os.PathLike[str], rng: TimeRange, cache_root: str | None) -> tuple:
    """The cache folder of a range of ``src_path`` and the path of its clip there."""
    from autofocuspull.core.cache import StageCache, code_fingerprint

    key = {"start_s": rng.start_s, "end_s": rng.end_s, "code": code_fingerprint("autofocuspull.io.trim")}
    cache = StageCache.for_clip(src_path, "range", key, root=cache_root, enabled=True)
    assert cache.root is not None
    end = "end" if rng.end_s is None else f"{rng.end_s:g}"
    return cache, cache.root / f"{Path(src_path).stem}_{rng.start_s:g}-{end}s.mov"


def drop_trimmed_clip(src_path: str | os.PathLike[str], rng: TimeRange, cache_root: str | None = None):
    """Remove the clip :func:`trimmed_clip` made for ``rng`` (if any): lossless x264 is
    deterministic, so one made again has the same content and the analysis cached for it is found
    again (the cache keys clips by content)."""
    cache, out = _range_cache(src_path, rng, cache_root)
    with cache.lock():
        out.unlink(missing_ok=True)


def apply_range(args: Any, cache_root: str | None, use_cache: bool) -> None:
    """CLI glue: replace ``args.input`` by the trimmed clip when ``--start`` / ``--end`` are given."""
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is None and end is None:
        return
    out = getattr(args, "output", None)
    if out is not None and args.command in ("rack", "render"):
        from autofocuspull.io.writer import EncodeConfig, check_output_path

        # Against the source, before any work (the codec/container check follows with the config).
        check_output_path(out, args.input, EncodeConfig(overwrite=bool(getattr(args, "overwrite", None))))
    args.input = trimmed_clip(args.input, TimeRange(start or 0.0, end), cache_root, use_cache)


def slice_plan_to(plan: Any, clip: str | os.PathLike[str]) -> Any:
    """A whole-clip plan cut to the range ``clip`` was trimmed to (unchanged when it already fits)."""
    rng = range_of(clip)
    if rng is None or plan.n_frames == rng["n_frames"]:
        return plan
    src = probe(rng["source"])
    if plan.n_frames != src.n_frames:
        return plan  # check_plan_fits reports it
    from autofocuspull.core.types import FocusPlan

    keep = frame_mask(src, TimeRange(rng["start_s"], rng["end_s"]))
    t0 = float(rng["offset_s"])
    pulls = [p for p in plan.pulls if p.end_s >= t0 and (rng["end_s"] is None or p.start_s < rng["end_s"])]
    shifted = [type(p)(max(p.start_s - t0, 0.0), max(p.end_s - t0, 0.0), p.from_id, p.to_id, p.reason,
                       p.from_m, p.to_m) for p in pulls]  # fmt: skip
    return FocusPlan(
        times_s=plan.times_s[keep] - t0,
        subject_id=plan.subject_id[keep],
        focus_xy=plan.focus_xy[keep],
        focus_m=plan.focus_m[keep],
        f_number=plan.f_number[keep],
        pulls=shifted,
        subjects=_slice_tracks(plan.subjects, keep),
        cuts_s=[c - t0 for c in plan.cuts_s if c >= t0 and (rng["end_s"] is None or c < rng["end_s"])],
        depth_source=plan.depth_source,
        video=plan.video,
        meta={**plan.meta, "range": {k: rng[k] for k in ("source", "start_s", "end_s", "offset_s")}},
    )


def _slice_tracks(tracks: Any, keep: np.ndarray) -> Any:
    from autofocuspull.core.types import SubjectTracks

    return SubjectTracks(
        tracks.track_id,
        tracks.label,
        tracks.xyxy[:, keep],
        tracks.face_xyxy[:, keep],
        tracks.landmarks_px[:, keep],
        tracks.distance_m[:, keep],
        tracks.confidence[:, keep],
        tracks.focus_xy[:, keep],
    )
