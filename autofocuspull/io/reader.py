"""Video reading with PyAV: exact presentation times, rotation applied, frames streamed.

Times come from the container's pts (never index / rounded fps). Decoders emit frames in display
order, but some files carry pts that are permuted or lost; each decoded frame therefore gets the
smallest pending pts of the packets fed so far (what FFmpeg's reordering amounts to), which keeps
times exact for good files and monotonic for bad ones. Packets that fail to decode are skipped
with a warning; the remaining frames keep their own times.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from autofocuspull.core.arrays import nearest_index
from autofocuspull.core.errors import InputError
from autofocuspull.core.types import AudioStreamInfo, ColourInfo, Frame, VideoInfo
from autofocuspull.io.colour import colour_of_stream, describe, rgb48_from_sws, to_rgb

log = logging.getLogger(__name__)


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Raise :class:`InputError` unless ``path`` is an existing, non-empty, readable file."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a directory, expected a video file")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty (0 bytes)")
    return p


# PyAV before 19 decodes metadata strictly unless told to ignore undecodable bytes (binary tags in
# phone MOVs); PyAV 19 always decodes with "surrogateescape" and has no such option
_AV_OPEN_OPTIONS = {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}


def av_open_read(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """``av.open`` for reading, tolerant of undecodable metadata whatever the PyAV version."""
    return av.open(str(path), mode="r", **_AV_OPEN_OPTIONS)


def open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file for reading, turning FFmpeg errors into one-line :class:`InputError`."""
    p = check_input_file(path)
    try:
        return av_open_read(p)
    except av.error.InvalidDataError:
        raise InputError(p, "not a media file FFmpeg can read (invalid data, or a damaged header)") from None
    except av.error.FFmpegError as e:
        raise InputError(p, f"cannot be opened: {e.strerror or e}") from None


def _video_stream(container: av.container.InputContainer, path: object) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise InputError(path, f"has no video stream (found: {', '.join(kinds)})")
    return container.streams.video[0]


def _origin_s(container: av.container.InputContainer) -> float:
    """Clip time zero in seconds: the container's start time (so audio and video share a clock)."""
    start = container.start_time
    return float(start) / av.time_base if start is not None else 0.0


def _packet_pts(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[int]:
    pts: list[int] = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:
            continue
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None:
            pts.append(int(ts))
    return sorted(set(pts))


def _audio_infos(container: av.container.InputContainer) -> tuple[AudioStreamInfo, ...]:
    infos = []
    for s in container.streams.audio:
        cc = s.codec_context
        dur = float(s.duration * s.time_base) if s.duration is not None and s.time_base else None
        infos.append(AudioStreamInfo(s.index, cc.name, int(cc.sample_rate or 0), int(cc.channels or 0), dur))
    return tuple(infos)


def _first_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    try:
        for frame in container.decode(stream):
            return round(frame.rotation / 90.0) * 90 % 360
    except av.error.FFmpegError:
        return 0
    return 0


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's metadata and the exact presentation time of every frame.

    Demuxes the video packets once (no full decode) and decodes one frame for the rotation.
    Raises :class:`InputError` (one line, naming the file) for anything that is not a readable video.
    """
    with open_input(path) as container:
        stream = _video_stream(container, path)
        cc = stream.codec_context
        tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1000)
        origin = _origin_s(container)
        pts = _packet_pts(container, stream)
        if not pts:
            raise InputError(path, "video stream has no frames")
        container.seek(0)
        rotation = _first_rotation(container, stream)
        container.seek(0)
        pts_s = np.asarray(pts, np.float64) * float(tb) - origin
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        rate = Fraction(rate) if rate else Fraction(len(pts), 1)
        last_dur = float(1 / rate) if rate else 0.0
        w, h = int(cc.width), int(cc.height)
        dw, dh = (h, w) if rotation in (90, 270) else (w, h)
        return VideoInfo(
            path=str(path),
            width=dw,
            height=dh,
            coded_width=w,
            coded_height=h,
            rotation_deg=rotation,
            frame_rate=rate,
            time_base=tb,
            pts_s=pts_s,
            duration_s=float(pts_s[-1] - min(pts_s[0], 0.0) + last_dur),
            codec=cc.name,
            container=container.format.name,
            audio=_audio_infos(container),
            colour=_colour(stream, path),
        )


def _colour(stream: av.video.stream.VideoStream, path: object) -> ColourInfo:
    colour = colour_of_stream(stream)
    log.debug("%s: colour %s", path, describe(colour))
    return colour


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) scaled down so that max(w, h) <= max_side (never up), both at least 1 px."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def frame_to_rgb(
    frame: av.VideoFrame,
    rotation_deg: int,
    max_side: int | None = None,
    colour: ColourInfo | None = None,
    *,
    high_bit: bool = False,
) -> np.ndarray:
    """A decoded frame as RGB (H, W, 3) in display orientation, optionally downscaled.

    YUV is converted with ``colour``'s matrix and range (default: the frame's own tags resolved by
    the players' rules, see :mod:`autofocuspull.io.colour`). uint8, or uint16 on the full 16-bit
    scale with ``high_bit`` (the render path of clips deeper than 8 bits)."""
    if colour is None:
        from autofocuspull.io.colour import resolve_colour

        colour = resolve_colour(
            int(frame.colorspace or 2), int(frame.color_range or 0), int(frame.color_primaries or 2),
            int(frame.color_trc or 2), frame.format.name, frame.height,
        )  # fmt: skip
    size = {}
    if max_side is not None:
        w, h = scaled_size(frame.width, frame.height, max_side)
        if (w, h) != (frame.width, frame.height):
            from av.video.reformatter import Interpolation

            exact = Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
            size = {"width": w, "height": h, "interpolation": Interpolation.AREA | exact}
    rgb = to_rgb(frame, colour, high_bit=high_bit, **size).to_ndarray()
    if high_bit:
        rgb = rgb48_from_sws(rgb)
    k = (rotation_deg // 90) % 4
    # rotation_deg is counter-clockwise (FFmpeg display matrix), like np.rot90 with positive k.
    return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb


class _PtsReorderer:
    """Assigns display times: each decoded frame takes the smallest pts still pending."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._seen: set[int] = set()

    def push(self, packet: av.Packet) -> None:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None and not packet.is_discard and ts not in self._seen:
            self._seen.add(int(ts))
            heapq.heappush(self._heap, int(ts))

    def drop(self, packet: av.Packet) -> None:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None and ts in self._heap:
            self._heap.remove(int(ts))
            heapq.heapify(self._heap)

    def pop(self, frame: av.VideoFrame) -> int | None:
        if self._heap:
            return heapq.heappop(self._heap)
        return frame.pts


def decode_video_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    packets: Iterator[av.Packet],
    path: object,
) -> Iterator[tuple[int | None, av.VideoFrame]]:
    """Decode video ``packets``, yielding (pts in stream time base, frame); bad packets are skipped."""
    reorder = _PtsReorderer()
    for packet in packets:
        if packet.stream_index != stream.index:
            continue
        if packet.size:
            reorder.push(packet)
        try:
            frames = stream.decode(packet)
        except av.error.EOFError:
            if packet.size:
                raise
            frames = []  # a second flush packet: the decoder is already drained
        except av.error.FFmpegError as e:
            log.warning("%s: skipped a damaged video packet at pts %s (%s)", path, packet.pts, e)
            reorder.drop(packet)
            continue
        for frame in frames:
            yield reorder.pop(frame), frame
    try:
        flushed = stream.decode(None)
    except av.error.EOFError:  # the demuxer's own flush packet already drained the decoder
        flushed = []
    except av.error.FFmpegError as e:
        log.warning("%s: the video decoder failed while flushing (%s)", path, e)
        flushed = []
    for frame in flushed:
        yield reorder.pop(frame), frame


def iter_frames(
    path: str | os.PathLike[str],
    info: VideoInfo | None = None,
    *,
    max_side: int | None = None,
) -> Iterator[Frame]:
    """Stream a clip's frames in display order as :class:`Frame` (RGB uint8, rotation applied).

    ``Frame.index`` is the frame's position in ``info.pts_s`` (so a frame lost to damage leaves a
    gap rather than shifting later frames); ``max_side`` downscales for analysis. Memory is
    constant in the clip's length.
    """
    info = info or probe(path)
    with open_input(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        decoded = decode_video_packets(container, stream, container.demux(stream), path)
        for index, t_s, frame in indexed_frames(decoded, info, _origin_s(container)):
            yield Frame(index, t_s, frame_to_rgb(frame, info.rotation_deg, max_side, info.colour))


def indexed_frames(
    decoded: Iterator[tuple[int | None, av.VideoFrame]], info: VideoInfo, origin_s: float
) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """(index in ``info.pts_s``, time in s, frame) for decoded (pts, frame) pairs, in display order."""
    tb = float(info.time_base)
    next_index = 0
    for pts, frame in decoded:
        t_s = pts * tb - origin_s if pts is not None else float(frame.time or 0.0) - origin_s
        index = _index_of(info.pts_s, t_s, next_index)
        next_index = index + 1
        yield index, float(info.pts_s[min(index, info.n_frames - 1)]), frame


def _index_of(pts_s: np.ndarray, t_s: float, expected: int) -> int:
    """Index of the probed frame time nearest ``t_s`` (the expected next index when ambiguous)."""
    if expected < len(pts_s) and abs(pts_s[expected] - t_s) < 1e-6:
        return expected
    if not len(pts_s):
        return expected
    return int(nearest_index(pts_s, np.array([t_s]))[0])


def read_audio(
    path: str | os.PathLike[str], sample_rate: int = 16000, stream_index: int = 0
) -> np.ndarray | None:
    """The clip's audio as float32 mono (N,) in [-1, 1] at ``sample_rate`` Hz, from clip time zero.

    Returns None when the clip has no audio stream. Leading silence is inserted when the audio
    starts after the clip's time zero, so sample ``i`` is at ``i / sample_rate`` seconds.
    """
    with open_input(path) as container:
        if len(container.streams.audio) <= stream_index:
            return None
        stream = container.streams.audio[stream_index]
        origin = _origin_s(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        start_s: float | None = None
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                log.warning("%s: skipped a damaged audio packet (%s)", path, e)
                continue
            for frame in frames:
                if start_s is None and frame.time is not None:
                    start_s = float(frame.time) - origin
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    lead = round(max(start_s or 0.0, 0.0) * sample_rate)
    if lead:
        audio = np.concatenate([np.zeros(lead, np.float32), audio])
    return np.clip(audio, -1.0, 1.0)
