"""Assemble the project's graded clips into an evaluation folder for ``autofocuspull eval --dataset``.

For each entry of ``eval/grades/manifest.json`` this links the footage from ../shared/footage (after
checking its sha256) or builds it with its script (the two-shot), and copies the grades file beside
it. The folder must lie outside the repository. It also writes ``categories.json`` there
(``{clip stem: category}``) so scores can be broken down by kind of scene.

Every manifest entry has a ``category`` (:data:`CATEGORIES`). Clips whose category is in
:data:`COMPOSITED` were built by compositing real footage (labelled by construction); they are a
separate set and are never mixed into the real-clip figures: ``--set real`` (the real clips only),
``--set composited`` or ``--set all`` (the default, every clip). ``--category`` keeps only the
named categories (repeatable).

Usage: ``python eval/build_dataset.py OUT_DIR [--shared DIR] [--set real] [--category dialogue-1shot]``
then ``autofocuspull eval --dataset OUT_DIR``.
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

import make_dialogue_composites  # noqa: E402  (sibling scripts, not a package)
from make_two_shot import build_two_shot  # noqa: E402

CATEGORIES = {
    "dialogue-1shot": "two or more people talking in one continuous shot (graded turn by turn)",
    "dialogue-edited": "a conversation cut as shot/reverse-shot or two-shot and close-ups",
    "edited": "an edited film or performance with cuts (one main subject per shot)",
    "talking-head": "one person talking to the camera or an off-camera interviewer",
    "product": "an object in hands or on a table",
    "animal": "an animal as the subject",
    "movement": "people or animals entering, leaving or moving in depth",
    "no-story": "crowds, traffic, scenery: nothing deserves focus, any pull is wrong",
    "composited-dialogue": "a dialogue scene composited from real talking footage, labelled by construction",
}
COMPOSITED = frozenset({"composited-dialogue"})
SETS = ("all", "real", "composited")


def load_manifest() -> dict:
    """The grades manifest, each entry's ``category`` checked against :data:`CATEGORIES`."""
    manifest = json.loads((GRADES_DIR / "manifest.json").read_text())
    for clip in manifest["clips"]:
        if clip.get("category") not in CATEGORIES:
            raise ValueError(
                f"{GRADES_DIR / 'manifest.json'}: {clip['grades']}: category {clip.get('category')!r} "
                f"is not one of {', '.join(CATEGORIES)}"
            )
    return manifest


def select_clips(clips: list[dict], subset: str = "all", categories: list[str] | None = None) -> list[dict]:
    """The manifest entries in ``subset`` (all, real, composited) and, if given, in ``categories``."""
    if subset not in SETS:
        raise ValueError(f"set {subset!r}: expected one of {', '.join(SETS)}")
    unknown = sorted(set(categories or ()) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"category {unknown[0]!r}: expected one of {', '.join(CATEGORIES)}")
    out = []
    for clip in clips:
        composited = clip["category"] in COMPOSITED
        if (subset == "real" and composited) or (subset == "composited" and not composited):
            continue
        if categories and clip["category"] not in categories:
            continue
        out.append(clip)
    return out


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


def _build(clip: dict, shared: Path, out_path: Path) -> Path:
    """Build a composited clip with the script the manifest names."""
    if clip["built_by"] == "eval/make_two_shot.py":
        src_dir = _shared_path(next(iter(clip["sources"])), shared).parent
        return build_two_shot(src_dir, out_path)
    if clip["built_by"] == "eval/make_dialogue_composites.py":
        scene = make_dialogue_composites.scene_by_name(clip["scene"])
        return make_dialogue_composites.build_scene(scene, shared, out_path)
    raise ValueError(f"{clip['grades']}: unknown builder {clip['built_by']!r}")


def build_dataset(
    out_dir: Path, shared: Path, subset: str = "all", categories: list[str] | None = None
) -> list[Path]:
    """Link or build the selected manifest clips into ``out_dir`` with their grades; returns the videos."""
    clips = select_clips(load_manifest()["clips"], subset, categories)
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = []
    for clip in clips:
        grades = GRADES_DIR / clip["grades"]
        if "built_by" in clip:
            for rel, sha in clip["sources"].items():
                _check(_shared_path(rel, shared), sha)
            video = _build(clip, shared, out_dir / clip["footage"])
        else:
            src = _shared_path(clip["footage"], shared)
            _check(src, clip["sha256"])
            video = out_dir / src.name
            if video.is_symlink() or video.exists():
                video.unlink()
            video.symlink_to(src.resolve())
        shutil.copyfile(grades, out_dir / grades.name)
        videos.append(video)
    index = {Path(c["grades"]).name[: -len(".grades.json")]: c["category"] for c in clips}
    tmp = out_dir / ".categories.json.tmp"
    tmp.write_text(json.dumps(index, indent=2) + "\n")
    tmp.replace(out_dir / "categories.json")
    return videos


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path, help="evaluation folder to create (outside the repository)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder")
    ap.add_argument(
        "--set",
        dest="subset",
        choices=SETS,
        default="all",
        help="real clips, composited (labelled-by-construction) clips, or all (default)",
    )
    ap.add_argument(
        "--category", action="append", choices=list(CATEGORIES), help="keep only this category (repeatable)"
    )
    args = ap.parse_args(argv)
    out_dir = args.out_dir.resolve()
    if out_dir == REPO or REPO in out_dir.parents:
        print(f"error: {out_dir}: build the dataset outside the repository", file=sys.stderr)
        return 2
    try:
        for video in build_dataset(out_dir, args.shared, args.subset, args.category):
            print(video)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
