"""Assemble the project's graded clips into an evaluation folder for ``autofocuspull eval --dataset``.

For each entry of ``eval/grades/manifest.json`` this links the footage from ../shared/footage (after
checking its sha256) or builds it with its script (the two-shot), and copies the grades file beside
it. The folder must lie outside the repository.

Usage: ``python eval/build_dataset.py OUT_DIR [--shared DIR]`` then
``autofocuspull eval --dataset OUT_DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRADES_DIR = REPO / "eval" / "grades"
sys.path.insert(0, str(REPO / "eval"))

from make_two_shot import build_two_shot  # noqa: E402  (a sibling script, not a package)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (see ../shared/footage/README.md)")
    got = sha256_of(path)
    if got != sha256:
        raise ValueError(f"{path}: sha256 {got} differs from the manifest's {sha256}: not the graded footage")


def _shared_path(rel: str, shared: Path) -> Path:
    prefix = "../shared/"
    return shared / rel[len(prefix) :] if rel.startswith(prefix) else REPO / rel


def build_dataset(out_dir: Path, shared: Path) -> list[Path]:
    """Link or build every manifest clip into ``out_dir`` with its grades; returns the videos."""
    manifest = json.loads((GRADES_DIR / "manifest.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = []
    for clip in manifest["clips"]:
        grades = GRADES_DIR / clip["grades"]
        if "built_by" in clip:
            for rel, sha in clip["sources"].items():
                _check(_shared_path(rel, shared), sha)
            src_dir = _shared_path(next(iter(clip["sources"])), shared).parent
            video = build_two_shot(src_dir, out_dir / clip["footage"])
        else:
            src = _shared_path(clip["footage"], shared)
            _check(src, clip["sha256"])
            video = out_dir / src.name
            if video.is_symlink() or video.exists():
                video.unlink()
            video.symlink_to(src.resolve())
        shutil.copyfile(grades, out_dir / grades.name)
        videos.append(video)
    return videos


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path, help="evaluation folder to create (outside the repository)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder")
    args = ap.parse_args(argv)
    out_dir = args.out_dir.resolve()
    if out_dir == REPO or REPO in out_dir.parents:
        print(f"error: {out_dir}: build the dataset outside the repository", file=sys.stderr)
        return 2
    try:
        for video in build_dataset(out_dir, args.shared):
            print(video)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
