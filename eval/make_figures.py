"""Make the README's before/after picture from the offline demo.

    python eval/make_figures.py [--demo-dir DIR] [--out eval/figures/demo_before_after.png]

Runs ``autofocuspull demo`` (through the pipeline) unless DIR already holds its outputs, then puts
two frames side by side, input left and render right: one while focus holds the near subject,
one after it has racked to the far subject.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from autofocuspull.io import iter_frames
from autofocuspull.pipeline import RackConfig, demo

FRAMES = (25, 125)  # 1.0 s: near subject held; 5.0 s: near subject gone, far subject in focus


def frames_at(path: Path, indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    return {f.index: f.rgb for f in iter_frames(path) if f.index in indices}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, default=Path("/tmp/autofocuspull-demo"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "figures" / "demo_before_after.png")
    args = ap.parse_args()
    src, out = args.demo_dir / "demo_input.mp4", args.demo_dir / "demo_racked.mp4"
    if not out.exists():
        demo(args.demo_dir, RackConfig())
    before, after = frames_at(src, FRAMES), frames_at(out, FRAMES)
    rows = [
        np.concatenate([before[i], np.full((before[i].shape[0], 8, 3), 255, np.uint8), after[i]], 1)
        for i in FRAMES
    ]
    grid = np.concatenate([rows[0], np.full((8, rows[0].shape[1], 3), 255, np.uint8), rows[1]], 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(args.out)


if __name__ == "__main__":
    main()
