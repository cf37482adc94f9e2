"""A clip's colour encoding: read it, apply the players' rules for untagged files, convert with it.

YUV -> RGB and back depend on the matrix (BT.601, BT.709, BT.2020) and the range (limited: Y in
16-235 at 8 bits; full: 0-255). FFmpeg's scaler assumes BT.601 whenever a frame is untagged, but
players and editors show untagged HD as BT.709 (up to 31 code values apart on saturated colours),
so this module resolves the tags once per clip and every conversion passes them explicitly:

* matrix: the file's, else BT.601 below 720 lines (SD) and BT.709 from 720 lines up (HD);
* range: the file's (``yuvj*`` pixel formats are full range), else limited;
* primaries and transfer: the file's, else what goes with the resolved matrix (SD: SMPTE 170M /
  BT.470BG for 576-line PAL; HD: BT.709), so the output carries explicit, consistent tags.

The output is encoded with the same matrix and range and tagged with all four values; the
transfer is kept (PQ, HLG), with no tone-mapping anywhere.
"""

from __future__ import annotations

import av
import numpy as np

from autofocuspull.core.types import ColourInfo

# FFmpeg enum values (libavutil/pixfmt.h).
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 0, 1, 2, 4, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
PRI_BT709, PRI_UNSPECIFIED, PRI_BT470BG, PRI_SMPTE170M, PRI_BT2020 = 1, 2, 5, 6, 9
TRC_BT709, TRC_UNSPECIFIED, TRC_SMPTE170M, TRC_SRGB, TRC_PQ, TRC_HLG = 1, 2, 6, 13, 16, 18

#: Swscale's matrix names for the AVColorSpace codes it converts with.
_SWS_MATRIX = {
    SPC_BT709: "ITU709",
    SPC_FCC: "FCC",
    SPC_BT470BG: "ITU601",
    SPC_SMPTE170M: "SMPTE170M",
    SPC_SMPTE240M: "SMPTE240M",
    SPC_BT2020_NCL: "BT2020",
    SPC_BT2020_CL: "BT2020",
}

MATRIX_NAMES = {SPC_BT709: "bt709", SPC_BT470BG: "bt601", SPC_SMPTE170M: "bt601", SPC_BT2020_NCL: "bt2020",
                SPC_BT2020_CL: "bt2020c", SPC_SMPTE240M: "smpte240m", SPC_FCC: "fcc"}  # fmt: skip
TRANSFER_NAMES = {TRC_BT709: "bt709", TRC_SMPTE170M: "bt601", TRC_SRGB: "srgb", TRC_PQ: "pq", TRC_HLG: "hlg",
                  14: "bt2020-10", 15: "bt2020-12"}  # fmt: skip

#: Lines from which an untagged clip is HD (BT.709); below it SD (BT.601), as players decide.
HD_MIN_LINES = 720


def _int(v: object) -> int:
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def bit_depth_of(pix_fmt: str | None) -> int:
    """Bits per luma sample of an FFmpeg pixel format name (8 when unknown)."""
    if not pix_fmt:
        return 8
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return 8
    return max(8, int(fmt.components[0].bits)) if fmt.components else 8


def resolve_colour(
    matrix: int, range_: int, primaries: int, transfer: int, pix_fmt: str | None, height: int
) -> ColourInfo:
    """:class:`ColourInfo` from a stream's (or frame's) tags, with the untagged rules above.

    ``height`` is the coded height (SD below :data:`HD_MIN_LINES`)."""
    tagged = []
    hd = height >= HD_MIN_LINES
    if matrix in _SWS_MATRIX:
        tagged.append("matrix")
    else:  # unspecified, reserved, or RGB/YCgCo/ICtCp that the YUV path can't honour
        matrix = SPC_BT709 if hd else SPC_SMPTE170M
    if range_ in (RANGE_LIMITED, RANGE_FULL):
        tagged.append("range")
    else:
        range_ = RANGE_FULL if pix_fmt and pix_fmt.startswith("yuvj") else RANGE_LIMITED
    if primaries not in (0, PRI_UNSPECIFIED) and primaries < 23:
        tagged.append("primaries")
    elif matrix in (SPC_BT2020_NCL, SPC_BT2020_CL):
        primaries = PRI_BT2020
    elif matrix in (SPC_BT470BG, SPC_SMPTE170M):
        primaries = PRI_BT470BG if 540 < height <= 576 else PRI_SMPTE170M
    else:
        primaries = PRI_BT709
    if transfer not in (0, TRC_UNSPECIFIED) and transfer < 19:
        tagged.append("transfer")
    else:
        transfer = TRC_SMPTE170M if matrix in (SPC_BT470BG, SPC_SMPTE170M) else TRC_BT709
    return ColourInfo(matrix, range_, primaries, transfer, bit_depth_of(pix_fmt), tuple(tagged))


def colour_of_stream(stream: av.video.stream.VideoStream) -> ColourInfo:
    """The resolved colour of a video stream, from its codec parameters."""
    cc = stream.codec_context
    fmt = cc.format.name if cc.format is not None else None
    return resolve_colour(
        _int(cc.colorspace), _int(cc.color_range), _int(cc.color_primaries), _int(cc.color_trc),
        fmt, int(cc.height or 0),
    )  # fmt: skip


def sws_matrix(colour: ColourInfo) -> str:
    """Swscale matrix name for ``colour``."""
    return _SWS_MATRIX.get(colour.matrix, "ITU709")


def sws_range(colour: ColourInfo) -> str:
    """Swscale range name ("JPEG" = full, "MPEG" = limited)."""
    return "JPEG" if colour.range == RANGE_FULL else "MPEG"




def to_rgb(frame: av.VideoFrame, colour: ColourInfo, *, high_bit: bool = False, **size) -> av.VideoFrame:
    """``frame`` as RGB (``rgb24``, or ``rgb48le`` when ``high_bit``) decoded with ``colour``'s
    matrix and range; ``size`` (``width``, ``height``) optionally rescales in the same pass."""
    return frame.reformat(
        format="rgb48le" if high_bit else "rgb24",
        src_colorspace=sws_matrix(colour),
        src_color_range=sws_range(colour),
        dst_color_range="JPEG",
        interpolation=size.pop("interpolation", None) or _interp(rgb_out=not high_bit),
        **size,
    )


#: Swscale's 16-bit RGB puts white (Y = 940 at 10 bits, 235 at 8) at 65280 (255·256), not 65535:
#: the reader rescales to the full 16-bit scale the renderer's tables assume, the writer back.
SWS_RGB48_WHITE = 65280


def rgb48_from_sws(a: np.ndarray) -> np.ndarray:
    """uint16 RGB from swscale (white 65280) -> full 16-bit scale (white 65535)."""
    return np.minimum(a.astype(np.float32) * (65535 / SWS_RGB48_WHITE) + 0.5, 65535).astype(np.uint16)


def rgb48_to_sws(a: np.ndarray) -> np.ndarray:
    """uint16 RGB on the full 16-bit scale -> swscale's (white 65280)."""
    return (a.astype(np.float32) * (SWS_RGB48_WHITE / 65535) + 0.5).astype(np.uint16)


def from_rgb(frame: av.VideoFrame, colour: ColourInfo, pix_fmt: str) -> av.VideoFrame:
    """An RGB frame as ``pix_fmt`` YUV with ``colour``'s matrix and range, tagged with all four."""
    out = frame.reformat(
        format=pix_fmt,
        src_color_range="JPEG",
        dst_colorspace=sws_matrix(colour),
        dst_color_range=sws_range(colour),
        interpolation=_interp(),
    )
    # Tags set on the frame, not passed to reformat: given a target transfer or primaries, this
    # swscale converts to them from the (untagged) RGB frame, a silent tone/gamut mapping.
    out.colorspace, out.color_range = colour.matrix, colour.range
    out.color_trc, out.color_primaries = colour.transfer, colour.primaries
    return out


def _interp(rgb_out: bool = False):
    """Swscale flags: accurate rounding, full chroma. Without ACCURATE_RND and (for rgb24 output)
    FULL_CHR_H_INT, swscale's packed-RGB path is 2 codes dark on 75 % bars; FULL_CHR_H_INT in
    turn garbles rgb48le output in this FFmpeg, so 16-bit output goes without it (0.8 codes)."""
    from av.video.reformatter import Interpolation

    flags = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP
    return flags | Interpolation.FULL_CHR_H_INT if rgb_out else flags


def tag_codec_context(cc: av.codec.context.CodecContext, colour: ColourInfo) -> None:
    """Write the four colour tags into an encoder's context (VUI / colr atom / ProRes header)."""
    cc.colorspace = colour.matrix
    cc.color_range = colour.range
    cc.color_primaries = colour.primaries
    cc.color_trc = colour.transfer


def describe(colour: ColourInfo) -> str:
    """One line for logs, e.g. ``bt709/limited, transfer hlg, 10-bit (untagged: matrix)``."""
    untagged = [k for k in ("matrix", "range", "primaries", "transfer") if k not in colour.tagged]
    rng = "full" if colour.range == RANGE_FULL else "limited"
    m = MATRIX_NAMES.get(colour.matrix, str(colour.matrix))
    t = TRANSFER_NAMES.get(colour.transfer, str(colour.transfer))
    note = f" (untagged, assumed: {', '.join(untagged)})" if untagged else ""
    return f"{m}/{rng}, transfer {t}, {colour.bit_depth}-bit{note}"
