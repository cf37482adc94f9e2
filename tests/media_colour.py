"""Colour-bar test clips in a chosen colour setup, and an independent YUV reader for checking them.

The clips are written with PyAV: RGB bars converted to YUV by swscale with an explicit matrix and
range, and tagged (or deliberately left untagged) in the codec parameters. The checker never uses
swscale: it reads the output's Y/Cb/Cr planes and applies the matrix equations (Kr, Kb) and
range scaling written out here.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

#: 75 % SMPTE-like bars (8-bit full-range RGB): grey, yellow, cyan, green, magenta, red, blue.
BARS_RGB = np.array(
    [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191]],
    np.uint8,
)
KR_KB = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114), 9: (0.2627, 0.0593)}
SWS = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 9: "BT2020"}


def bars_image(w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(BARS_RGB):
        img[:, i * w // 7 : (i + 1) * w // 7] = c
    return img


def bar_centres_x(w: int) -> list[int]:
    return [(2 * i + 1) * w // 14 for i in range(7)]


def write_bars(
    path: Path,
    w: int,
    h: int,
    *,
    matrix: int,
    full_range: bool = False,
    tag: bool = True,
    primaries: int | None = None,
    transfer: int | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    n: int = 3,
    timecode: str | None = None,
) -> Path:
    """Bars encoded with ``matrix`` (AVColorSpace code) and range; tagged unless ``tag=False``."""
    fmt = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}[path.suffix]
    yuv = _bars_yuv(w, h, matrix, full_range, pix_fmt)
    # Lossless, so the input's bars are only off by the RGB -> YUV rounding.
    opts = {"x265-params": "log-level=error:lossless=1"} if codec == "libx265" else {"qp": "0"}
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=25, options=opts)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        cc = s.codec_context
        if timecode:
            s.metadata["timecode"] = timecode
        if tag:
            cc.colorspace, cc.color_range = matrix, 2 if full_range else 1
            cc.color_primaries = primaries if primaries is not None else {1: 1, 5: 5, 6: 6, 9: 9}[matrix]
            cc.color_trc = transfer if transfer is not None else {1: 1, 5: 6, 6: 6, 9: 14}[matrix]
        elif full_range:
            cc.color_range = 2
        for k in range(n):
            f = yuv.reformat()  # a copy: pts set per frame
            f.pts = k
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def _bars_yuv(w: int, h: int, matrix: int, full_range: bool, pix_fmt: str) -> av.VideoFrame:
    """The bars as a 4:2:0 YUV frame computed by hand (matrix equations, range, rounding)."""
    bits = 10 if "10" in pix_fmt else 8
    kr, kb = KR_KB[matrix]
    rgb = bars_image(w, h).astype(np.float64) / 255.0
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    pb, pr = (rgb[..., 2] - y) / (2 * (1 - kb)), (rgb[..., 0] - y) / (2 * (1 - kr))
    s = 2 ** (bits - 8)
    if full_range:
        top = 2**bits - 1
        yc, cb, cr = y * top, 128 * s + pb * top, 128 * s + pr * top
    else:
        yc, cb, cr = 16 * s + 219 * s * y, 128 * s + 224 * s * pb, 128 * s + 224 * s * pr
    dt = np.uint16 if bits > 8 else np.uint8
    planes = [yc, cb[::2, ::2], cr[::2, ::2]]  # bars are wider than 2 px: point subsampling is exact
    frame = av.VideoFrame(w, h, pix_fmt)
    for i, arr in enumerate(planes):
        q = np.clip(np.floor(arr + 0.5), 0, 2**bits - 1).astype(dt)
        p = frame.planes[i]
        buf = np.zeros((p.height, p.line_size // q.itemsize), dt)
        buf[:, : q.shape[1]] = q
        p.update(buf.tobytes())
    return frame


def _plane(frame: av.VideoFrame, i: int) -> np.ndarray:
    p = frame.planes[i]
    deep = frame.format.components[0].bits > 8
    dt = np.uint16 if deep else np.uint8
    arr = np.frombuffer(bytes(p), dt).reshape(p.height, p.line_size // np.dtype(dt).itemsize)
    return arr[:, : p.width]


def read_bars(path: Path, matrix: int, full_range: bool) -> np.ndarray:
    """(7, 3) float RGB (8-bit scale) at the bar centres of the first frame, decoded from the
    YUV planes with ``matrix``'s Kr/Kb and the range by hand (no swscale)."""
    with av.open(str(path)) as c:
        frame = next(c.decode(c.streams.video[0]))
    bits = frame.format.components[0].bits
    y, cb, cr = (_plane(frame, i).astype(np.float64) for i in range(3))
    sub_x = frame.width // cb.shape[1]
    sub_y = frame.height // cb.shape[0]
    scale = 2 ** (bits - 8)
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    out = []
    for x in bar_centres_x(frame.width):
        row = frame.height // 2
        yy, u, v = y[row, x], cb[row // sub_y, x // sub_x], cr[row // sub_y, x // sub_x]
        if full_range:
            top = 2**bits - 1
            yn, un, vn = yy / top, (u - 128 * scale) / top, (v - 128 * scale) / top
        else:
            yn = (yy - 16 * scale) / (219 * scale)
            un, vn = (u - 128 * scale) / (224 * scale), (v - 128 * scale) / (224 * scale)
        r = yn + 2 * (1 - kr) * vn
        b = yn + 2 * (1 - kb) * un
        g = (yn - kr * r - kb * b) / kg
        out.append([r * 255, g * 255, b * 255])
    return np.array(out)


def tags(path: Path) -> dict[str, object]:
    """What ffprobe shows of the first video stream (PyAV reads the same codec parameters)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        return {
            "codec": cc.name, "profile": cc.profile, "pix_fmt": cc.format.name, "matrix": int(cc.colorspace),
            "range": int(cc.color_range), "primaries": int(cc.color_primaries), "transfer": int(cc.color_trc),
            "container": c.format.name, "codec_tag": s.codec_tag,
        }  # fmt: skip
