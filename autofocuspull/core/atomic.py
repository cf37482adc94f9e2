"""Atomic file output, the one way every stage writes a file.

A file is written to a hidden temp file in the target's folder (so the final rename never crosses a
file system), flushed to disk, given the permissions an ordinary ``open()`` would give it (0666
minus the umask: ``mkstemp`` alone makes 0600 files that collaborators and editors cannot read), and
only then renamed into place. An interrupted write leaves the old file (or nothing) and no debris.
``overwrite=False`` refuses an existing target, atomically (a hard link, which fails if the name
exists), so two runs racing for one output cannot both win.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe for that instant)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """Mode bits a new regular file gets from ``open()``: 0o666 & ~umask."""
    return 0o666 & ~current_umask()


def default_dir_mode() -> int:
    """Mode bits a new folder gets from ``mkdir()``: 0o777 & ~umask (``mkdtemp`` gives 0o700)."""
    return 0o777 & ~current_umask()


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, overwrite: bool = True, fsync: bool = True, suffix: str | None = None
) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on a clean exit it becomes ``path``.

    The temp name keeps ``path``'s extension (or ``suffix``), so tools that choose a format by
    extension (FFmpeg muxers, savefig) see the right one. With ``overwrite=False`` an existing
    ``path`` raises :class:`FileExistsError` (checked before and, atomically, at the rename). On an
    exception the temp file is removed and ``path`` is untouched.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target}: exists (pass overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    ext = target.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".partial{ext}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            _publish_exclusive(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _publish_exclusive(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` unless ``target`` exists (atomically where links work)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(f"{target}: exists (pass overwrite to replace it)") from None
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise FileExistsError(f"{target}: exists (pass overwrite to replace it)") from None
        os.replace(tmp, target)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
