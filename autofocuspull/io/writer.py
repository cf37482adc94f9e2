"""Video writing: H.264 (yuv420p) with the input's frame timing and every audio stream kept.

All input streams are demuxed in one pass: video packets are decoded and handed to a frame
processor (the renderer), audio packets are copied when the output container can hold their
codec and re-encoded to AAC otherwise. The output goes to a temp file beside the target that is
renamed into place only when complete; the input is never written.
"""

from __future__ import annotations

import collections
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from autofocuspull.core.errors import InputError, UsageError
from autofocuspull.core.types import Frame, VideoInfo
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
class EncodeConfig:
    """H.264 settings of the output: constant quality ``crf`` and x264 ``preset``."""

    crf: int = 18
    preset: str = "medium"
    audio_bitrate: int = 192_000


def check_output_path(
    out_path: str | os.PathLike[str], in_path: str | os.PathLike[str] | None = None
) -> Path:
    """Validate an output path: known extension, not the input, folder creatable and writable."""
    out = Path(out_path)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        known = ", ".join(sorted(OUTPUT_FORMATS))
        raise UsageError(f"{out}: unsupported output extension {out.suffix or '(none)'!r} (use {known})")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory, expected an output file path")
    if in_path is not None and _same_file(out, Path(in_path)):
        raise UsageError(f"{out}: output path is the input file; choose another path")
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


def temp_path_for(out: Path) -> Path:
    """A fresh hidden temp path beside ``out`` (same folder, so the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=f".partial{out.suffix}")
    os.close(fd)
    return Path(tmp)


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
    """Decode ``in_path``, pass its frames through ``process``, write H.264 + audio to ``out_path``.

    ``process`` maps an iterator of :class:`Frame` to an iterator of RGB uint8 (H, W, 3) images,
    one per input frame, in order. Frame times are those of the input. Every audio stream is kept
    (copied, or AAC where the container can't hold it). Atomic: the output appears only when done.
    """
    cfg = config or EncodeConfig()
    out = check_output_path(out_path, in_path)
    tmp = temp_path_for(out)
    try:
        _transcode_into(in_path, tmp, OUTPUT_FORMATS[out.suffix.lower()], info, process, cfg, progress)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _transcode_into(
    in_path,
    tmp: Path,
    fmt: str,
    info: VideoInfo,
    process: FrameProcessor,
    cfg: EncodeConfig,
    progress: Callable[[int], None] | None,
) -> None:
    with open_input(in_path) as src, av.open(str(tmp), mode="w", format=fmt) as dst:
        vsrc = _video_stream(src, in_path)
        vsrc.thread_type = "AUTO"
        w, h = info.width + info.width % 2, info.height + info.height % 2
        vdst = dst.add_stream(
            "libx264", rate=info.frame_rate, options={"crf": str(cfg.crf), "preset": cfg.preset}
        )
        vdst.width, vdst.height, vdst.pix_fmt = w, h, "yuv420p"
        vdst.time_base = info.time_base
        vdst.codec_context.time_base = info.time_base
        tracks = {s.index: _AudioTrack(dst, s, fmt, cfg, in_path) for s in src.streams.audio}
        origin = _origin_s(src)
        pending: collections.deque[int] = collections.deque()
        frames = _demux_frames(src, vsrc, dst, tracks, info, origin, pending, in_path)
        for i, rgb in enumerate(process(frames)):
            if not pending:
                raise RuntimeError("frame processor returned more frames than it was given")
            if rgb.shape[:2] != (info.height, info.width):
                raise ValueError(
                    f"rendered frame: expected shape ({info.height}, {info.width}, 3), got {rgb.shape}"
                )
            vf = av.VideoFrame.from_ndarray(_even(rgb), format="rgb24")
            vf.pts, vf.time_base = pending.popleft(), info.time_base
            dst.mux(vdst.encode(vf.reformat(format="yuv420p")))
            if progress:
                progress(i + 1)
        for _ in frames:  # drain: audio after the last video packet
            pass
        dst.mux(vdst.encode(None))
        for track in tracks.values():
            dst.mux(track.packets(None))


def _demux_frames(src, vsrc, dst, tracks, info: VideoInfo, origin: float, pending, path) -> Iterator[Frame]:
    """Demux every stream once: mux audio as it comes, yield decoded video frames."""
    streams = [vsrc, *(t.src for t in tracks.values())]
    tb = float(info.time_base)
    video_packets = _route(src.demux(*streams), vsrc.index, tracks, dst)
    decoded = decode_video_packets(src, vsrc, video_packets, path)
    for index, t_s, frame in indexed_frames(decoded, info, origin):
        pending.append(round((t_s + origin) / tb))
        yield Frame(index, t_s, frame_to_rgb(frame, info.rotation_deg))


def _route(packets, video_index: int, tracks, dst) -> Iterator[av.Packet]:
    for packet in packets:
        if packet.stream_index == video_index:
            yield packet
        elif packet.stream_index in tracks:
            dst.mux(tracks[packet.stream_index].packets(packet))
