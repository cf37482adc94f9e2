"""Video writing: H.264, HEVC, ProRes 422 HQ or FFV1 with the input's timing, colour and streams.

All input streams are demuxed in one pass: video packets are decoded and handed to a frame
processor (the renderer), audio packets are copied when the output container can hold their
codec and re-encoded to AAC otherwise; subtitle and data streams are copied where the container
takes them, and the timecode is carried. Colour: frames are decoded with the input's matrix and
range (:mod:`autofocuspull.io.colour`) and encoded with the same, tagged with the input's
primaries, transfer, matrix and range; a clip deeper than 8 bits is rendered in 16-bit RGB and
written 10-bit (HEVC Main 10, H.264 High 10, ProRes, FFV1), never tone-mapped. The output goes to
a temp file beside the target that is renamed into place only when complete, with the permissions
the umask gives (:mod:`autofocuspull.core.atomic`); an existing output is refused unless
``overwrite``; the input is only ever read.
"""

from __future__ import annotations

import collections
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from autofocuspull.core.atomic import atomic_path
from autofocuspull.core.errors import InputError, UsageError
from autofocuspull.core.types import ColourInfo, Frame, VideoInfo
from autofocuspull.io.colour import describe, from_rgb, rgb48_to_sws, tag_codec_context
from autofocuspull.io.reader import (
    _origin_s,
    _video_stream,
    decode_video_packets,
    frame_to_rgb,
    indexed_frames,
    open_input,
)

log = logging.getLogger(__name__)

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio codecs each output container takes as is (decoder names mapped to codec names below).
COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    "matroska": None,  # None = anything
}
_DECODER_TO_CODEC = {"mp3float": "mp3", "ac3_fixed": "ac3", "aac_fixed": "aac"}

FrameProcessor = Callable[[Iterator[Frame]], Iterator[np.ndarray]]


@dataclass(frozen=True)
class VideoCodec:
    """One output video codec: FFmpeg encoder, pixel formats by source depth, containers it goes in."""

    encoder: str
    pix_fmt_8bit: str
    pix_fmt_deep: str
    containers: frozenset[str]
    options: dict[str, str] = field(default_factory=dict)


#: ``--codec`` choices. H.264 and HEVC take ``crf``/``preset``; ProRes 422 HQ (profile 3, 10-bit
#: 4:2:2, .mov) is the finishing codec editors ingest; FFV1 is lossless (Matroska only).
CODECS = {
    "h264": VideoCodec("libx264", "yuv420p", "yuv420p10le", frozenset({"mp4", "mov", "matroska"})),
    "hevc": VideoCodec(
        "libx265", "yuv420p", "yuv420p10le", frozenset({"mp4", "mov", "matroska"}),
        {"x265-params": "log-level=error"},
    ),
    "prores": VideoCodec("prores_ks", "yuv422p10le", "yuv422p10le", frozenset({"mov"}), {"profile": "3"}),
    "ffv1": VideoCodec(
        "ffv1", "yuv420p", "yuv420p10le", frozenset({"matroska"}), {"level": "3", "slicecrc": "1"}
    ),
}
CODEC_CHOICES = ("auto", *CODECS)


@dataclass(frozen=True)
class EncodeConfig:
    """Output settings.

    ``codec`` "auto" writes H.264 for 8-bit sources (plays everywhere) and HEVC Main 10 for deeper
    ones (what phones record HDR in; H.264 High 10 plays on few devices). ``crf`` 18 is x264's
    "visually lossless" point (x265 at 18 is as good or better) and is ignored by ProRes and FFV1.
    ``faststart`` moves the MP4/MOV index to the front so players can start before the download
    ends. ``overwrite`` False refuses an existing output (like ffmpeg without ``-y``).
    """

    codec: str = "auto"
    crf: int = 18
    preset: str = "medium"
    audio_bitrate: int = 192_000
    faststart: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.codec not in CODEC_CHOICES:
            raise UsageError(f"encode.codec: expected one of {', '.join(CODEC_CHOICES)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise UsageError(f"encode.crf: expected 0..51, got {self.crf}")


def codec_for(cfg: EncodeConfig, colour: ColourInfo) -> str:
    """The codec name ``cfg`` resolves to for a source of ``colour``."""
    if cfg.codec != "auto":
        return cfg.codec
    return "hevc" if colour.high_bit_depth else "h264"


def check_output_path(
    out_path: str | os.PathLike[str],
    in_path: str | os.PathLike[str] | None = None,
    config: EncodeConfig | None = None,
) -> Path:
    """Validate an output path: known extension, a container the codec goes in, not the input,
    not an existing file (unless ``config.overwrite``), folder creatable and writable."""
    cfg = config or EncodeConfig()
    out = Path(out_path)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        known = ", ".join(sorted(OUTPUT_FORMATS))
        raise UsageError(f"{out}: unsupported output extension {out.suffix or '(none)'!r} (use {known})")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory, expected an output file path")
    if in_path is not None and _same_file(out, Path(in_path)):
        raise UsageError(f"{out}: output path is the input file; choose another path")
    fmt = OUTPUT_FORMATS[out.suffix.lower()]
    if cfg.codec != "auto" and fmt not in CODECS[cfg.codec].containers:
        exts = sorted(e for e, f in OUTPUT_FORMATS.items() if f in CODECS[cfg.codec].containers)
        raise UsageError(f"{out}: codec {cfg.codec} cannot go in {out.suffix} (use {', '.join(exts)})")
    if (out.exists() or out.is_symlink()) and not cfg.overwrite:
        raise UsageError(f"{out}: already exists (pass -y/--overwrite to replace it)")
    ensure_writable_dir(out.parent, out)
    return out


def ensure_writable_dir(folder: Path, target: Path) -> None:
    """Create ``folder`` if needed; raise a one-line error naming ``target`` if it can't be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(target, f"output folder {folder} cannot be created ({e.strerror or e})") from None
    try:  # a real write: permission bits don't tell for root, read-only mounts or full disks
        fd, probe_path = tempfile.mkstemp(dir=folder, prefix=".autofocuspull-write-test.")
        os.close(fd)
        os.unlink(probe_path)
    except OSError as e:
        raise InputError(target, f"output folder {folder} is not writable ({e.strerror or e})") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _audio_codec_name(stream: av.audio.stream.AudioStream) -> str:
    name = stream.codec_context.name
    return _DECODER_TO_CODEC.get(name, name)


class _AudioTrack:
    """One input audio stream's route into the output: packet copy or AAC re-encode."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        src: av.audio.stream.AudioStream,
        fmt: str,
        cfg: EncodeConfig,
        path: object,
    ) -> None:
        self.src = src
        self.path = path
        codec = _audio_codec_name(src)
        allowed = COPYABLE_AUDIO[fmt]
        self.copy = allowed is None or codec in allowed
        if self.copy:
            self.dst = out.add_stream_from_template(src)
        else:
            rate = src.codec_context.sample_rate or 48000
            channels = src.codec_context.channels or 2
            layout = "mono" if channels == 1 else "stereo"
            self.dst = out.add_stream("aac", rate=rate, layout=layout)
            self.dst.bit_rate = cfg.audio_bitrate
            self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            log.info("%s: audio stream %d (%s) re-encoded to AAC for %s", path, src.index, codec, fmt)
        if src.language:
            self.dst.metadata["language"] = src.language

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        """Output packets for one input packet (None flushes the encoder)."""
        if self.copy:
            if packet is None or packet.dts is None or not packet.size:
                return []
            packet.stream = self.dst
            return [packet]
        frames = []
        try:
            decoded = self.src.decode(packet) if packet is not None else self.src.decode(None)
        except av.error.EOFError:  # already flushed by the demuxer's final empty packet
            decoded = []
        except av.error.FFmpegError as e:
            log.warning("%s: skipped a damaged audio packet (%s)", self.path, e)
            decoded = []
        for frame in decoded:
            frame.pts = None
            frames.extend(self.resampler.resample(frame))
        if packet is None:
            frames.extend(self.resampler.resample(None))
        out = [p for f in frames for p in self.dst.encode(f)]
        if packet is None:
            out.extend(self.dst.encode(None))
        return out


def _even(rgb: np.ndarray) -> np.ndarray:
    """Pad an odd height/width by repeating the last row/column (yuv420p needs even sizes)."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def transcode(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    info: VideoInfo,
    process: FrameProcessor,
    *,
    config: EncodeConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Decode ``in_path``, pass its frames through ``process``, write video + streams to ``out_path``.

    ``process`` maps an iterator of :class:`Frame` to an iterator of RGB (H, W, 3) images, one per
    input frame, in order: uint8, or uint16 on the 16-bit scale when the frames it is given are
    uint16 (sources deeper than 8 bits). Frame times are those of the input. Every audio stream is
    kept (copied, or AAC where the container can't hold it), as are subtitle and data streams the
    container takes and the timecode. Atomic: the output appears only when done.
    """
    cfg = config or EncodeConfig()
    out = check_output_path(out_path, in_path, cfg)
    fmt = OUTPUT_FORMATS[out.suffix.lower()]
    codec = codec_for(cfg, info.colour)
    if fmt not in CODECS[codec].containers:
        raise UsageError(f"{out}: codec {codec} cannot go in {out.suffix} (choose --codec or another suffix)")
    try:
        with atomic_path(out, overwrite=cfg.overwrite) as tmp:
            _transcode_into(in_path, tmp, fmt, codec, info, process, cfg, progress)
    except FileExistsError:
        raise UsageError(f"{out}: already exists (pass -y/--overwrite to replace it)") from None
    return out


def mux_options(cfg: EncodeConfig, fmt: str) -> dict[str, str]:
    """The muxer's options for an output in container ``fmt`` (faststart for MP4/MOV)."""
    return {"movflags": "+faststart"} if cfg.faststart and fmt in ("mp4", "mov") else {}


def rgb_to_video_frame(rgb: np.ndarray, info: VideoInfo, pix_fmt: str) -> av.VideoFrame:
    """A rendered (H, W, 3) RGB frame (uint8, or uint16 for sources deeper than 8 bits) as a frame in
    the encoder's ``pix_fmt``, converted with the source's own matrix and range (``info.colour``)."""
    if rgb.shape[:2] != (info.height, info.width):
        raise ValueError(f"rendered frame: expected shape ({info.height}, {info.width}, 3), got {rgb.shape}")
    want = np.uint16 if info.colour.high_bit_depth else np.uint8
    if rgb.dtype != want:
        raise ValueError(f"rendered frame: expected dtype {np.dtype(want).name}, got {rgb.dtype}")
    if info.colour.high_bit_depth:
        vf = av.VideoFrame.from_ndarray(rgb48_to_sws(_even(rgb)), format="rgb48le")
    else:
        vf = av.VideoFrame.from_ndarray(_even(rgb), format="rgb24")
    return from_rgb(vf, info.colour, pix_fmt)


def video_stream_out(dst, codec: str, info: VideoInfo, cfg: EncodeConfig, fmt: str):
    """The output video stream for ``codec`` in container ``fmt``, tagged with the source's colour."""
    spec = CODECS[codec]
    options = dict(spec.options)
    if codec in ("h264", "hevc"):
        options.update(crf=str(cfg.crf), preset=cfg.preset)
    vdst = dst.add_stream(spec.encoder, rate=info.frame_rate, options=options)
    vdst.width, vdst.height = info.width + info.width % 2, info.height + info.height % 2
    vdst.pix_fmt = spec.pix_fmt_deep if info.colour.high_bit_depth else spec.pix_fmt_8bit
    vdst.time_base = info.time_base
    vdst.codec_context.time_base = info.time_base
    if codec == "hevc" and fmt in ("mp4", "mov"):
        vdst.codec_tag = "hvc1"  # what Apple players and editors require of HEVC in MP4/MOV
    tag_codec_context(vdst.codec_context, info.colour)
    return vdst


def _transcode_into(
    in_path,
    tmp: Path,
    fmt: str,
    codec: str,
    info: VideoInfo,
    process: FrameProcessor,
    cfg: EncodeConfig,
    progress: Callable[[int], None] | None,
) -> None:
    options = mux_options(cfg, fmt)
    with open_input(in_path) as src, av.open(str(tmp), mode="w", format=fmt, options=options) as dst:
        vsrc = _video_stream(src, in_path)
        vsrc.thread_type = "AUTO"
        vdst = video_stream_out(dst, codec, info, cfg, fmt)
        _carry_timecode(src, vsrc, vdst, dst)
        tracks = {s.index: _AudioTrack(dst, s, fmt, cfg, in_path) for s in src.streams.audio}
        copies = _copied_streams(src, dst, fmt, in_path)
        log.info("%s: colour %s -> %s %s", in_path, describe(info.colour), codec, vdst.pix_fmt)
        origin = _origin_s(src)
        pending: collections.deque[int] = collections.deque()
        frames = _demux_frames(src, vsrc, dst, tracks, copies, info, origin, pending, in_path)
        for i, rgb in enumerate(process(frames)):
            if not pending:
                raise RuntimeError("frame processor returned more frames than it was given")
            vf = rgb_to_video_frame(rgb, info, vdst.pix_fmt)
            vf.pts, vf.time_base = pending.popleft(), info.time_base
            dst.mux(vdst.encode(vf))
            if progress:
                progress(i + 1)
        for _ in frames:  # drain: audio after the last video packet
            pass
        dst.mux(vdst.encode(None))
        for track in tracks.values():
            dst.mux(track.packets(None))


#: Subtitle codecs each container takes as packets (None = anything FFmpeg can mux there).
COPYABLE_SUBTITLES = {"mp4": {"mov_text"}, "mov": {"mov_text"}, "matroska": None}


def _timecode(metadata) -> str | None:
    """The ``timecode`` tag, whatever its case (Matroska upper-cases tags)."""
    return next((v for k, v in metadata.items() if k.lower() == "timecode"), None)


def _carry_timecode(src, vsrc, vdst, dst) -> None:
    """Copy the start timecode: MOV/MP4 muxers write it as a tmcd track, Matroska as a tag."""
    candidates = [vsrc.metadata, src.metadata, *(s.metadata for s in src.streams.data)]
    tc = next((t for t in map(_timecode, candidates) if t), None)
    if tc:
        vdst.metadata["timecode"] = tc
        dst.metadata["timecode"] = tc


def _copied_streams(src, dst, fmt: str, path) -> dict[int, object]:
    """Subtitle and data streams copied as packets where ``fmt`` takes them (others: a warning).
    Timecode (tmcd) data tracks are not copied: :func:`_carry_timecode` recreates them."""
    out = {}
    for s in [*src.streams.subtitles, *src.streams.data]:
        name = s.codec_context.name if s.codec_context is not None else None
        if s.type == "data" and (_timecode(s.metadata) or s.codec_tag == "tmcd"):
            continue
        allowed = COPYABLE_SUBTITLES.get(fmt) if s.type == "subtitle" else None
        if allowed is not None and name not in allowed:
            log.warning("%s: %s stream %d (%s) dropped: %s cannot hold it", path, s.type, s.index, name, fmt)
            continue
        try:
            out[s.index] = dst.add_stream_from_template(s)
        except (ValueError, av.error.FFmpegError) as e:
            log.warning("%s: %s stream %d (%s) dropped: %s", path, s.type, s.index, name, e)
            continue
        if s.language:
            out[s.index].metadata["language"] = s.language
    return out


def _demux_frames(
    src, vsrc, dst, tracks, copies, info: VideoInfo, origin: float, pending, path
) -> Iterator[Frame]:
    """Demux every stream once: mux audio, subtitles and data as they come, yield video frames."""
    streams = [vsrc, *(t.src for t in tracks.values()), *(src.streams[i] for i in copies)]
    tb = float(info.time_base)
    video_packets = _route(src.demux(*streams), vsrc.index, tracks, copies, dst)
    decoded = decode_video_packets(src, vsrc, video_packets, path)
    high_bit = info.colour.high_bit_depth
    for index, t_s, frame in indexed_frames(decoded, info, origin):
        pending.append(round((t_s + origin) / tb))
        yield Frame(index, t_s, frame_to_rgb(frame, info.rotation_deg, None, info.colour, high_bit=high_bit))


def _route(packets, video_index: int, tracks, copies, dst) -> Iterator[av.Packet]:
    for packet in packets:
        if packet.stream_index == video_index:
            yield packet
        elif packet.stream_index in tracks:
            dst.mux(tracks[packet.stream_index].packets(packet))
        elif packet.stream_index in copies and packet.dts is not None and packet.size:
            packet.stream = copies[packet.stream_index]
            dst.mux(packet)
