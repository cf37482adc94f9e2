"""Per-clip analysis cache: atomic, lock-protected, keyed by the clip and the stage's config.

Entries are ``.npz`` (numpy arrays, ``allow_pickle=False``) or ``.json`` files under
``<cache root>/clips/<clip key>/<stage>-<config hash>/``. A write goes to a temp file that is
renamed into place, so an interrupted run never leaves a corrupt entry; a ``filelock`` guards
writers so two runs on the same clip can share the cache. Stages that produce many frames store
chunks (``chunk_00000.npz``...) so an interrupted run resumes from the last complete chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from autofocuspull.core.atomic import atomic_write_bytes
from autofocuspull.core.hub import cache_dir


def config_hash(config: Any) -> str:
    """Short stable hash of a JSON-able config (dataclasses are converted with ``vars``)."""
    blob = json.dumps(config, sort_keys=True, default=lambda o: getattr(o, "__dict__", str(o)))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_fingerprint(*modules: str) -> str:
    """Short hash of the source of the given modules or packages (e.g. ``"autofocuspull.cues"``).

    Part of each stage's cache key, so a change to a stage's code invalidates its cached results
    instead of silently reusing what the old code computed.
    """
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"code_fingerprint: no module named {name!r}")
        root = Path(spec.origin)
        files = sorted(root.parent.rglob("*.py")) if root.name == "__init__.py" else [root]
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage_key(sections: Mapping[str, Any], code: Sequence[str], **inputs: Any) -> dict[str, Any]:
    """The key of a stage's cache entry: its own configuration sections (dataclasses or dicts),
    a fingerprint of the code that computes it (:func:`code_fingerprint` of ``code``), and
    whatever else its result depends on (``inputs``: upstream results' keys, frame counts...).
    Nothing else goes in, so changing another stage's configuration reuses this one."""
    import dataclasses

    def plain(v: Any) -> Any:
        return dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v

    return {
        "sections": {name: plain(v) for name, v in sections.items()},
        "code": code_fingerprint(*code),
        **{k: plain(v) for k, v in inputs.items()},
    }


def file_key(path: str | os.PathLike[str] | None) -> str | None:
    """Key of a small input file (a transcript, keyframes): resolved path, mtime and size."""
    if path is None:
        return None
    p = Path(path)
    return f"{p.resolve()}:{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.exists() else str(p)


def array_key(*arrays: np.ndarray) -> str:
    """Short sha256 of arrays' bytes (NaN written as -1): the key of an upstream result."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.nan_to_num(a, nan=-1)).tobytes())
    return h.hexdigest()[:16]


def clip_key(path: str | os.PathLike[str]) -> str:
    """Key of a clip from its content fingerprint (size + first/last MiB), not its name."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(p, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
    return h.hexdigest()[:24]


NPZ_COMPRESSLEVEL = 1  # zlib level of cache entries: 5x faster than numpy's default 6, ~10 % larger


def savez_fast(file: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez_compressed`` at zlib level :data:`NPZ_COMPRESSLEVEL` (``np.load`` reads it as usual).

    The depth chunks of a clip are written once and read a few times; at numpy's default level 6,
    compressing them took ~10 % of a 640x360 rack's CPU time.
    """
    import zipfile

    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


class StageCache:
    """Cache folder of one stage for one clip and one config. ``enabled=False`` makes a no-op cache."""

    def __init__(self, root: Path | None, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled and root is not None

    @classmethod
    def for_clip(
        cls,
        video_path: str | os.PathLike[str],
        stage: str,
        config: Any,
        root: str | os.PathLike[str] | None = None,
        enabled: bool = True,
    ) -> StageCache:
        base = Path(root) if root is not None else cache_dir()
        clip_folder = base / "clips" / clip_key(video_path)
        if enabled:
            _note_source(clip_folder, video_path)
        return cls(clip_folder / f"{stage}-{config_hash(config)}", enabled)

    def _path(self, name: str) -> Path:
        assert self.root is not None
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"cache entry name must be a plain file name, got {name!r}")
        return self.root / name

    def lock(self) -> FileLock:
        """Inter-process lock of this stage folder (use ``with cache.lock():``)."""
        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"))

    def has(self, name: str) -> bool:
        return self.enabled and self._path(name).is_file()

    def save_npz(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        if not self.enabled:
            return
        import io

        buf = io.BytesIO()
        savez_fast(buf, arrays)
        atomic_write_bytes(self._path(name), buf.getvalue())

    def load_npz(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of an entry, or None when missing or unreadable (a bad entry is removed)."""
        if not self.has(name):
            return None
        path = self._path(name)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:
            path.unlink(missing_ok=True)
            return None

    def save_json(self, name: str, obj: Any) -> None:
        if self.enabled:
            atomic_write_bytes(self._path(name), json.dumps(obj, indent=1).encode())

    def load_json(self, name: str) -> Any | None:
        if not self.has(name):
            return None
        try:
            return json.loads(self._path(name).read_text())
        except Exception:
            self._path(name).unlink(missing_ok=True)
            return None


SOURCE_FILE = "source.json"  # in each clip folder: the path the clip was last analysed from


class BackgroundSaves:
    """``.npz`` entries of one cache written in order by a background thread while the caller goes
    on computing (numpy's zip writer spends its time in zlib, which releases the GIL).

    At most ``max_pending`` entries wait (each holds its arrays); :meth:`wait` blocks until all are
    on disk and re-raises a failed write. Use it as a context manager: leaving the block, normally
    or by an exception (an interrupted run), finishes what was handed over, so a rerun resumes
    from every chunk that was computed.
    """

    def __init__(self, cache: StageCache, max_pending: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.cache = cache
        self.max_pending = max(1, int(max_pending))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cache-write")
        self._pending: list[Any] = []

    def save_npz(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Queue ``arrays`` for ``name`` (the caller must not change them afterwards)."""
        while len(self._pending) >= self.max_pending:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self.cache.save_npz, name, arrays))

    def wait(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def __enter__(self) -> BackgroundSaves:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _note_source(clip_folder: Path, video_path: str | os.PathLike[str]) -> None:
    """Record which file a clip folder belongs to (the folder is named by the content hash)."""
    note = clip_folder / SOURCE_FILE
    path = str(Path(video_path).resolve())
    try:
        if note.is_file() and json.loads(note.read_text()).get("path") == path:
            return
        atomic_write_bytes(note, json.dumps({"path": path}).encode())
    except (OSError, ValueError):
        pass  # a read-only or damaged cache still serves; the note is only for `cache list`


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def cache_entries(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every cached stage result: ``{"clip", "source", "stage", "path", "bytes"}``, by clip and stage."""
    base = Path(root) if root is not None else cache_dir()
    out = []
    for clip in sorted(p for p in (base / "clips").glob("*") if p.is_dir()):
        try:
            source = json.loads((clip / SOURCE_FILE).read_text()).get("path")
        except (OSError, ValueError):
            source = None
        for stage in sorted(p for p in clip.iterdir() if p.is_dir()):
            out.append(
                {
                    "clip": clip.name,
                    "source": source,
                    "stage": stage.name.rsplit("-", 1)[0],
                    "path": str(stage),
                    "bytes": _folder_bytes(stage),
                }
            )
    return out


def clear_cache(root: str | os.PathLike[str] | None = None, *, models: bool = False) -> int:
    """Delete the per-clip analysis (and the downloaded models with ``models``); returns bytes freed."""
    import shutil

    base = Path(root) if root is not None else cache_dir()
    freed = 0
    for name in ("clips", "models") if models else ("clips",):
        folder = base / name
        if folder.is_dir():
            freed += _folder_bytes(folder)
            shutil.rmtree(folder)
    return freed
