"""Image-sequence passes for compositing: depth (16-bit PNG, EXR float metres) and subject mattes.

- ``depth-png``: one 16-bit grey PNG per frame, normalised dioptres (``ExportConfig``: 65535 at
  ``depth_near_m`` or nearer, 0 at infinity), the map the ``ae`` / ``resolve`` scripts key against;
- ``depth-exr``: one OpenEXR per frame, channel ``Z``, float32 metres (written with the
  ``OpenEXR`` package, the Academy Software Foundation's own bindings);
- ``mattes``: per subject a folder ``subject_<id>/`` of 8-bit PNGs, 255 on the subject: the
  person mask inside its box for people (where masks were computed), its box otherwise.

Depth maps come at the depth stage's resolution and are resized to the frame with bilinear
interpolation. Files are named ``<clip>_<pass>_000000.<ext>`` by frame index (editors import
them as numbered sequences). A pass is written into a temp folder that is renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.core.atomic import default_dir_mode
from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import SubjectTracks
from autofocuspull.export.common import ExportConfig, depth_to_unit
from autofocuspull.progress import bar

PASSES = ("depth-png", "depth-exr", "mattes")


def frame_name(stem: str, kind: str, index: int, ext: str) -> str:
    return f"{stem}_{kind}_{index:06d}.{ext}"


def depth_png_u16(depth_m: np.ndarray, cfg: ExportConfig) -> np.ndarray:
    """uint16 (H, W) normalised dioptres of a depth map in metres."""
    return np.round(depth_to_unit(depth_m, cfg) * 65535.0).astype(np.uint16)


def write_exr(path: Path, depth_m: np.ndarray) -> None:
    """One-channel (``Z``) float32 OpenEXR of metres, ZIP compressed."""
    try:
        import OpenEXR
    except ImportError:
        raise UsageError(
            "--to depth-exr needs OpenEXR: pip install 'autofocuspull[export]' (or openexr)"
        ) from None
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": np.ascontiguousarray(depth_m, np.float32)}) as f:
        f.write(str(path))


def read_exr(path: str | os.PathLike[str]) -> np.ndarray:
    """The ``Z`` channel of an EXR written by :func:`write_exr` (float32 metres)."""
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        return np.asarray(f.channels()["Z"].pixels, np.float32)


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out}: expected a new or empty folder for the image sequence")


def _into_folder(out: Path, fill: Callable[[Path], int]) -> int:
    """Run ``fill(tmp_dir)`` and rename the folder to ``out`` (atomic: all frames or none)."""
    _check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        n = fill(tmp)
        os.chmod(tmp, default_dir_mode())  # mkdtemp's 0700 would hide the frames from others
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
        return n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_depth_pass(
    out_dir: str | os.PathLike[str],
    kind: str,
    depth_m_at: Callable[[int], np.ndarray],
    n_frames: int,
    size_wh: tuple[int, int],
    stem: str,
    cfg: ExportConfig | None = None,
) -> int:
    """Write every frame's depth (``depth_m_at(i)`` metres, any size) as ``kind`` into ``out_dir``."""
    cfg = cfg or ExportConfig()
    w, h = size_wh

    def fill(tmp: Path) -> int:
        for i in bar(range(n_frames), f"export {kind}", n_frames):
            d = cv2.resize(np.asarray(depth_m_at(i), np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            if kind == "depth-png":
                if not cv2.imwrite(str(tmp / frame_name(stem, "depth", i, "png")), depth_png_u16(d, cfg)):
                    raise OSError(f"{tmp}: could not write a PNG")
            else:
                write_exr(tmp / frame_name(stem, "depth", i, "exr"), d)
        return n_frames

    return _into_folder(Path(out_dir), fill)


def subject_matte(
    tracks: SubjectTracks, row: int, t: int, size_wh: tuple[int, int], person: np.ndarray | None
) -> np.ndarray:
    """uint8 (H, W) matte of subject ``row`` at frame ``t``: ``person`` (bool (S, H, W) from the
    mask store, or None) where it covers the subject, else its box; zeros when absent."""
    w, h = size_wh
    out = np.zeros((h, w), np.uint8)
    if not tracks.present[row, t]:
        return out
    if person is not None and person[row].any():
        out[person[row]] = 255
        return out
    x0, y0, x1, y1 = (round(float(v)) for v in tracks.xyxy[row, t])
    out[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)] = 255
    return out


def write_mattes(
    out_dir: str | os.PathLike[str],
    tracks: SubjectTracks,
    masks_at: Callable[[int], np.ndarray | None],
    size_wh: tuple[int, int],
    stem: str,
) -> int:
    """Write ``subject_<id>/<stem>_matte_<id>_NNNNNN.png`` for every subject and frame."""

    def fill(tmp: Path) -> int:
        folders = []
        for s in range(len(tracks)):
            folders.append(tmp / f"subject_{int(tracks.track_id[s])}")
            folders[-1].mkdir()
        for t in bar(range(tracks.n_frames), "export mattes", tracks.n_frames):
            person = masks_at(t)
            for s in range(len(tracks)):
                sid = int(tracks.track_id[s])
                m = subject_matte(tracks, s, t, size_wh, person)
                if not cv2.imwrite(str(folders[s] / frame_name(stem, f"matte_{sid}", t, "png")), m):
                    raise OSError(f"{folders[s]}: could not write a PNG")
        return tracks.n_frames * len(tracks)

    return _into_folder(Path(out_dir), fill)
