"""Render a clip in pieces: read a frame range, encode it as a segment, join the segments losslessly.

A long clip is rendered by several workers at once, each taking a range of frames (a run of shots).
Each segment is H.264 in MP4 with the input's time base and the frames' own pts, shifted so that the
segment starts at 0: an MP4 edit list stores a non-zero start in the movie's millisecond timescale,
which would round the pts, while a start at 0 keeps every pts exact. :func:`join_segments` copies the
segments' packets (no re-encode: lossless) back at their original pts, in order, and routes the
input's audio as :func:`~autofocuspull.io.writer.transcode` does, so the joined file has the same
frames, times and audio as a single-pass render; only the segment boundaries gain a keyframe.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from autofocuspull.core.arrays import TIME_TOLERANCE_S, first_index_at
from autofocuspull.core.atomic import atomic_path
from autofocuspull.core.errors import InputError
from autofocuspull.core.types import Frame, VideoInfo
from autofocuspull.io.reader import (
    _origin_s,
    _video_stream,
    frame_to_rgb,
    iter_frames,
    open_input,
)
from autofocuspull.io.writer import (
    OUTPUT_FORMATS,
    EncodeConfig,
    FrameProcessor,
    _AudioTrack,
    check_output_path,
    codec_for,
    rgb_to_video_frame,
    video_stream_out,
)

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".mp4"
#: The container each codec's segments are written in; the joined output's container is the user's. A
#: segment must keep the input's time base so its packets go back at exact pts: MP4 and MOV do, Matroska
#: (FFV1's only container here) stores milliseconds, so FFV1 output is rendered in one piece.
SEGMENT_FORMAT = {"h264": "mp4", "hevc": "mp4", "prores": "mov"}


def frame_pts(info: VideoInfo, origin_s: float, index: int) -> int:
    """The pts (in ``info.time_base`` ticks) of frame ``index``, as the writer stamps it."""
    return round((float(info.pts_s[index]) + origin_s) / float(info.time_base))


def split_frames(pts_s: np.ndarray, cut_frames: Sequence[int], piece_s: float) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` frame ranges covering a clip of frame times ``pts_s``, in order.

    One range for a clip shorter than ``2 * piece_s`` (or ``piece_s <= 0``); else pieces of about
    ``piece_s`` that end at a shot cut when one lies within half a piece of the target, and at the
    target frame otherwise (a single long shot is still split). The ranges depend on the frame
    times and cuts only, so the same clip always splits the same way.
    """
    t = np.asarray(pts_s, np.float64)
    n = len(t)
    if n == 0:
        return []
    if piece_s <= 0 or t[-1] - t[0] < 2 * piece_s:
        return [(0, n)]
    cuts = np.array(sorted(c for c in cut_frames if 0 < c < n), np.int64)
    bounds = [0]
    while t[-1] - t[bounds[-1]] >= 1.5 * piece_s:
        t0 = t[bounds[-1]]
        near = cuts[(t[cuts] >= t0 + 0.5 * piece_s) & (t[cuts] <= t0 + 1.5 * piece_s)] if len(cuts) else cuts
        if len(near):
            nxt = int(near[np.argmin(np.abs(t[near] - (t0 + piece_s)))])
        else:
            nxt = int(np.searchsorted(t, t0 + piece_s))
        bounds.append(max(nxt, bounds[-1] + 1))
    bounds.append(n)
    return list(itertools.pairwise(bounds))


def iter_frame_range(path: str | os.PathLike[str], info: VideoInfo, start: int, stop: int) -> Iterator[Frame]:
    """Frames ``start <= index < stop`` of a clip (RGB, rotation applied), as :func:`iter_frames` gives them.

    Seeks to the keyframe before ``start`` and identifies frames by their decoded pts, checked against
    the probed times; when a decoded pts is missing or matches no probed time (a damaged or oddly
    timed file), it decodes from the start instead, where :func:`iter_frames` assigns the indices.
    """
    if not 0 <= start < stop <= info.n_frames:
        raise ValueError(f"frame range {start}..{stop} outside 0..{info.n_frames}")
    if start > 0:
        frames = _seek_range(path, info, start, stop)
        if frames is not None:
            yield from frames
            return
    for frame in iter_frames(path, info):
        if frame.index >= stop:
            return
        if frame.index >= start:
            yield frame


def _seek_range(path, info: VideoInfo, start: int, stop: int) -> list[Frame] | None:
    """The frames by seeking, or None when their pts don't identify them exactly."""
    out: list[Frame] = []
    with open_input(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        origin = _origin_s(container)
        tb = float(info.time_base)
        container.seek(frame_pts(info, origin, start), stream=stream, backward=True, any_frame=False)
        expected = start
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    return None
                t_s = frame.pts * tb - origin
                index = first_index_at(info.pts_s, t_s)
                if index >= info.n_frames or abs(info.pts_s[index] - t_s) > TIME_TOLERANCE_S:
                    return None
                if index < start:
                    continue
                if index != expected:
                    return None  # a frame lost or reordered: the full decode decides the indices
                out.append(Frame(index, float(info.pts_s[index]), frame_to_rgb(frame, info.rotation_deg)))
                expected += 1
                if expected == stop:
                    return out
        except av.error.FFmpegError:
            return None
    return None


def encode_segment(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    info: VideoInfo,
    start: int,
    stop: int,
    process: FrameProcessor,
    *,
    config: EncodeConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Frames ``start..stop`` of ``in_path`` through ``process`` into a video-only segment, atomically.

    Pts are the input's, minus the pts of frame ``start`` (see the module docstring).
    """
    cfg = config or EncodeConfig()
    out = Path(out_path)
    with open_input(in_path) as src:
        origin = _origin_s(src)
    base = frame_pts(info, origin, start)
    codec = codec_for(cfg, info.colour)
    with atomic_path(out) as tmp, av.open(str(tmp), mode="w", format=SEGMENT_FORMAT[codec]) as dst:
        vdst = video_stream_out(dst, codec, info, cfg, SEGMENT_FORMAT[codec])
        pending: collections.deque[int] = collections.deque()
        n = 0
        for rgb in process(_noting(iter_frame_range(in_path, info, start, stop), pending)):
            if not pending:
                raise RuntimeError("frame processor returned more frames than it was given")
            vf = rgb_to_video_frame(rgb, info, vdst.pix_fmt)
            vf.pts, vf.time_base = frame_pts(info, origin, pending.popleft()) - base, info.time_base
            dst.mux(vdst.encode(vf))
            n += 1
            if progress:
                progress(n)
        dst.mux(vdst.encode(None))
        if n != stop - start:
            raise InputError(
                in_path, f"segment {start}..{stop}: rendered {n} frames, expected {stop - start}"
            )
    return out


def _noting(frames: Iterator[Frame], pending: collections.deque[int]) -> Iterator[Frame]:
    """``frames``, appending each index to ``pending`` as it is handed to the processor."""
    for frame in frames:
        pending.append(frame.index)
        yield frame


def join_segments(
    in_path: str | os.PathLike[str],
    segments: Sequence[tuple[str | os.PathLike[str], int]],
    out_path: str | os.PathLike[str],
    info: VideoInfo,
    *,
    config: EncodeConfig | None = None,
) -> Path:
    """Join ``[(segment file, its first frame index), ...]`` (in order) with the input's audio, atomically.

    Video packets are copied (lossless) back to their original pts; every audio stream of the input
    is copied or re-encoded as by :func:`~autofocuspull.io.writer.transcode`. Raises ValueError when
    the segments' H.264 parameters differ (they can't share one stream) or their timing would not
    be monotonic.
    """
    cfg = config or EncodeConfig()
    out = check_output_path(out_path, in_path, cfg)
    with atomic_path(out, overwrite=cfg.overwrite) as tmp:
        _join_into(in_path, segments, tmp, OUTPUT_FORMATS[out.suffix.lower()], info, cfg)
    return out


def _join_into(in_path, segments, tmp: Path, fmt: str, info: VideoInfo, cfg: EncodeConfig) -> None:
    with open_input(in_path) as src, av.open(str(tmp), mode="w", format=fmt) as dst:
        origin = _origin_s(src)
        first = av.open(str(segments[0][0]))
        try:
            vdst = dst.add_stream_from_template(first.streams.video[0])
            extradata = first.streams.video[0].codec_context.extradata
        finally:
            first.close()
        vdst.time_base = info.time_base
        tracks = {s.index: _AudioTrack(dst, s, fmt, cfg, in_path) for s in src.streams.audio}
        audio = _audio_packets(src, tracks)
        video = _video_packets(segments, info, origin, extradata)
        tb_v = float(info.time_base)
        merged = heapq.merge(
            ((float(p.dts) * tb_v, 0, i, p) for i, p in enumerate(video)),
            ((t, 1, i, p) for i, (t, p) in enumerate(audio)),
        )
        for _, kind, _, packet in merged:
            if kind == 0:
                packet.stream = vdst
            dst.mux(packet)
        for track in tracks.values():
            dst.mux(track.packets(None))


def _video_packets(segments, info: VideoInfo, origin: float, extradata: bytes | None) -> Iterator[av.Packet]:
    last_dts: int | None = None
    for seg_path, start in segments:
        base = frame_pts(info, origin, start)
        with av.open(str(seg_path)) as seg:
            stream = seg.streams.video[0]
            if stream.codec_context.extradata != extradata:
                raise ValueError(f"{seg_path}: H.264 parameters differ from the first segment's")
            if stream.time_base != info.time_base:
                raise ValueError(f"{seg_path}: time base {stream.time_base}, expected {info.time_base}")
            for packet in seg.demux(stream):
                if not packet.size or packet.pts is None or packet.dts is None:
                    continue
                packet.pts += base
                packet.dts += base
                if last_dts is not None and packet.dts <= last_dts:
                    if last_dts + 1 > packet.pts:
                        raise ValueError(f"{seg_path}: decode times overlap the previous segment's")
                    packet.dts = last_dts + 1
                last_dts = packet.dts
                yield packet


def _audio_packets(src, tracks: dict) -> Iterator[tuple[float, av.Packet]]:
    """The output's audio packets with their times in seconds, in input order."""
    if not tracks:
        return
    for packet in src.demux(*(t.src for t in tracks.values())):
        track = tracks.get(packet.stream_index)
        if track is None:  # an end-of-stream packet PyAV may attribute to another stream
            continue
        for p in track.packets(packet):
            ts = p.dts if p.dts is not None else p.pts
            t = float(ts * p.time_base) if ts is not None and p.time_base else 0.0
            yield t, p
