"""Shot-cut detection: PySceneDetect's ``AdaptiveDetector``, with two vetoes it lacks.

Candidates come from PySceneDetect's adaptive detector (pixel-wise HSV change of consecutive
frames, compared with the mean change of the frames on either side). It replaced a colour-histogram
detector of ours that missed cuts in animation, where every shot is painted from the same few
colours (``eval/bench_cuts.py``: recall 0.60 against the library's 1.00 on MPEG-4 AVI cartoons
made from the graded clips). Two vetoes are ours, each measured by the same benchmark:

- *a cut changes the whole picture*: at a cut at least ``min_changed_fraction`` of the cells of a
  ``grid_cells`` x ``grid_cells`` grid change by ``min_cell_change``; a slide changing on a screen
  in a wide shot, or anything else that changes only part of the frame, is not a cut;
- *the picture does not come back*: a car crossing close to the lens, a flash, or a hand waved
  over it changes the picture for a few frames and then the shot is there again. A candidate is
  vetoed when some frame up to ``max_occluder_s`` after it is close to some frame up to
  ``max_occluder_s`` before it (their change is below ``return_ratio`` of the candidate's own): the
  same shot lies on both sides, whether the candidate is where the disruption begins, inside it,
  or where it ends.

Cuts are decided a few frames late (:attr:`CutDetector.latency_frames`): the adaptive window and
the occluder test look ahead. A new shot starts at the returned frame index.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from autofocuspull.core.registry import Registry
from autofocuspull.core.types import Frame, check_array


@dataclass(frozen=True)
class CutConfig:
    """Cut-detector settings: PySceneDetect's defaults for the adaptive detector, then our vetoes.

    ``analysis_width_px``: frames are compared at this width, as PySceneDetect's SceneManager does
    by default (it downscales to about 256 px wide): a cut changes the whole picture, so detail
    finer than 1/256 of the width adds noise (grain, compression), not evidence.
    ``adaptive_threshold``: a frame's change must be this many times the mean change of the
    ``window_frames`` frames on either side (camera moves and action change every frame, so they
    do not stand out). ``min_content_val``: and at least this mean HSV change (0-255), so a calm
    shot's small wobbles are not cuts. These three are the library's defaults.
    ``min_shot_s``: cuts at least this far apart. Half a second is below any shot a viewer can
    read or a focus puller act on (PySceneDetect's default is 15 frames, 0.5-0.6 s at 24-30 fps).

    ``grid_cells``, ``min_changed_fraction``, ``min_cell_change``: at a cut, 3/4 of the 16 cells
    of a 4 x 4 grid change by at least 8/255 in mean HSV. On the graded clips the weakest true cut
    changes 3/4 of its cells by 16 or more (two shots of one stage, one dark curtain), a slide
    change on a stage screen 0; half that weakest cut separates them with a factor of 2 either way.
    ``max_occluder_s``: how long a foreground occluder or a flash may hide the shot and still not
    make a cut: 0.2 s (5 frames at 25 fps) is what a car or a person crossing close to the lens
    takes (2-3 frames seen on real footage), far shorter than any real shot (``min_shot_s``).
    ``return_ratio``: the shot "comes back" when a frame's change from the frame before the
    candidate is less than half the candidate's own change: after a true cut every later frame
    differs from the old shot as much as the cut frame did (ratio near 1), after an occluder
    the old picture is back, moved at most by a few frames of motion (ratio well under 1/2).
    """

    analysis_width_px: int = 256
    adaptive_threshold: float = 3.0
    window_frames: int = 2
    min_content_val: float = 15.0
    min_shot_s: float = 0.5
    grid_cells: int = 4
    min_changed_fraction: float = 0.75
    min_cell_change: float = 8.0
    max_occluder_s: float = 0.2
    return_ratio: float = 0.5


def small_rgb(rgb: np.ndarray, width_px: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> RGB uint8 (h, width_px, 3), area-averaged (never upscaled)."""
    rgb = check_array("rgb", rgb, (None, None, 3))
    h, w = rgb.shape[:2]
    s = min(1.0, width_px / w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def cell_changes(a: np.ndarray, b: np.ndarray, cells: int) -> np.ndarray:
    """(cells * cells,) mean absolute HSV change of each grid cell between two (h, w, 3) images."""
    d = np.abs(a - b).mean(axis=-1)
    h, w = d.shape
    ys = np.linspace(0, h, cells + 1).round().astype(int)
    xs = np.linspace(0, w, cells + 1).round().astype(int)
    return np.array(
        [d[ys[i] : max(ys[i + 1], ys[i] + 1), xs[j] : max(xs[j + 1], xs[j] + 1)].mean()
         for i in range(cells) for j in range(cells)]
    )


class CutDetector:
    """Streaming cut detector: ``update(frame)`` returns the cuts decided by this frame (frame
    indices, each decided :attr:`latency_frames` after it); :meth:`finish` decides the rest and
    returns them all (also in :attr:`cuts`). The first frame is never a cut.

    Frames are :class:`Frame` objects or RGB uint8 arrays; indices may skip (frames analysed every
    k-th), in which case windows count analysed frames and times come from ``fps``.
    """

    def __init__(self, fps: float, config: CutConfig = CutConfig()) -> None:
        if not fps > 0:
            raise ValueError(f"CutDetector: expected fps > 0, got {fps}")
        self.config, self.fps = config, float(fps)
        self.occluder_frames = max(1, round(config.max_occluder_s * fps))
        self.latency_frames = max(config.window_frames, self.occluder_frames)
        self._min_shot = max(1, round(config.min_shot_s * fps))
        # min_scene_len=1: the shot-length rule is applied after our vetoes, so a vetoed candidate
        # cannot hide a real cut just after it
        self._library = LibraryCutDetector(fps, config, min_scene_len=1)
        self.cuts: list[int] = []
        self.candidates: list[int] = []  # what the library alone found
        self._frames: deque[tuple[int, np.ndarray]] = deque(
            maxlen=config.window_frames + 2 * self.occluder_frames + 4
        )
        self._pending: list[int] = []

    def update(self, frame: Frame | np.ndarray, index: int | None = None) -> list[int]:
        """Feed the next frame; returns the cut frame indices decided now (usually none)."""
        rgb = frame.rgb if isinstance(frame, Frame) else frame
        if isinstance(frame, Frame):
            idx = frame.index
        else:
            idx = index if index is not None else (0 if not self._frames else self._frames[-1][0] + 1)
        small = small_rgb(rgb, self.config.analysis_width_px)
        self._frames.append((int(idx), cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)))
        new = self._library.feed(small, int(idx))
        self.candidates.extend(new)
        self._pending.extend(new)
        return self._decide(final=False)

    def finish(self) -> list[int]:
        """End of the stream: decide pending candidates with the frames there are; all cuts."""
        self._decide(final=True)
        return list(self.cuts)

    def _decide(self, final: bool) -> list[int]:
        decided = []
        last = self._frames[-1][0] if self._frames else -1
        while self._pending:
            c = self._pending[0]
            pos = [i for i, (k, _) in enumerate(self._frames) if k == c]
            if not pos:  # fell out of the buffer (cannot happen with the sizes above)
                self._pending.pop(0)
                continue
            after = len(self._frames) - 1 - pos[0]
            if not final and after < self.occluder_frames:
                break
            self._pending.pop(0)
            if self._accept(pos[0], last):
                self.cuts.append(c)
                decided.append(c)
        return decided

    def _accept(self, pos: int, last_index: int) -> bool:
        cfg = self.config
        c, cur = self._frames[pos]
        if pos == 0 or (self.cuts and c - self.cuts[-1] < self._min_shot):
            return False
        prev = self._frames[pos - 1][1]
        cells = cell_changes(cur, prev, cfg.grid_cells)
        if np.quantile(cells, 1.0 - cfg.min_changed_fraction) < cfg.min_cell_change:
            return False  # only part of the picture changed
        change = float(np.abs(cur - prev).mean())
        frames = list(self._frames)
        j = self.occluder_frames
        before = [h for k, h in frames[:pos] if c - 1 - k <= j]
        after = [h for k, h in frames[pos:] if k - c <= j]
        limit = cfg.return_ratio * change
        # the shot is the same on both sides of a brief disruption (occluder, flash) around c
        return not any(float(np.abs(a - b).mean()) < limit for a in before for b in after)


class LibraryCutDetector:
    """PySceneDetect's ``AdaptiveDetector`` alone (its own shot-length rule, no vetoes), with the
    streaming interface of :class:`CutDetector`: the reference ours is benchmarked against
    (``eval/bench_cuts.py``), and a stage choice (``[stages] cuts = "pyscenedetect"``).
    :class:`CutDetector` takes its candidates from one (``min_scene_len=1``: it applies the
    shot-length rule itself, after its vetoes); by default the library's own rule, ``min_shot_s``.
    """

    def __init__(self, fps: float, config: CutConfig = CutConfig(), min_scene_len: int | None = None) -> None:
        try:
            from scenedetect import AdaptiveDetector
        except ImportError as e:  # a core dependency: only a broken install gets here
            raise ImportError("cut detection needs PySceneDetect: pip install scenedetect-headless") from e
        if not fps > 0:
            raise ValueError(f"LibraryCutDetector: expected fps > 0, got {fps}")
        self.config, self.fps = config, float(fps)
        self.latency_frames = config.window_frames  # the adaptive window looks this far ahead
        self._det = AdaptiveDetector(
            adaptive_threshold=config.adaptive_threshold,
            min_scene_len=max(1, round(config.min_shot_s * fps)) if min_scene_len is None else min_scene_len,
            window_width=config.window_frames,
            min_content_val=config.min_content_val,
        )
        self.cuts: list[int] = []
        self._first: int | None = None
        self._last = -1

    def update(self, frame: Frame | np.ndarray, index: int | None = None) -> list[int]:
        """Feed the next frame; returns the cut frame indices decided now."""
        rgb = frame.rgb if isinstance(frame, Frame) else frame
        idx = frame.index if isinstance(frame, Frame) else (self._last + 1 if index is None else index)
        new = self.feed(small_rgb(rgb, self.config.analysis_width_px), int(idx))
        self.cuts.extend(new)
        return new

    def feed(self, small: np.ndarray, index: int) -> list[int]:
        """Feed frame ``index`` already shrunk to ``analysis_width_px`` (RGB uint8); returns the
        shot starts the library reports now (never the first frame fed)."""
        from scenedetect import FrameTimecode

        self._first = index if self._first is None else self._first
        self._last = index
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # the library reads OpenCV's BGR order
        found = self._det.process_frame(FrameTimecode(index, self.fps), bgr)
        return [int(t.frame_num) for t in found if int(t.frame_num) != self._first]

    def finish(self) -> list[int]:
        """End of the stream: every cut (the library decides each as its window passes)."""
        return list(self.cuts)


class ShotCutDetector(Protocol):
    """A streaming cut detector: ``update(frame) -> cuts decided now``, ``finish() -> all cuts``,
    ``cuts`` (frame indices starting a shot, decided so far) and ``latency_frames`` (how many
    frames after a cut it is decided: the Perceiver holds frames back that long)."""

    cuts: list[int]
    latency_frames: int

    def update(self, frame: Frame) -> list[int]: ...

    def finish(self) -> list[int]: ...


class CutDetectorBuilder(Protocol):
    """``(fps, CutConfig) -> ShotCutDetector``."""

    def __call__(self, fps: float, config: CutConfig) -> ShotCutDetector: ...


# The only way a cut detector is found by name (``[stages] cuts``); plug-ins:
# ``autofocuspull.cut_detectors``.
CUT_DETECTORS: Registry[CutDetectorBuilder] = Registry("cut detector", "autofocuspull.cut_detectors")
CUT_DETECTORS.register("adaptive", CutDetector)
CUT_DETECTORS.register("pyscenedetect", LibraryCutDetector)


def detect_cuts(
    frames: Iterable[Frame], fps: float, config: CutConfig = CutConfig(), detector: str = "adaptive"
) -> list[int]:
    """Frame indices where a new shot starts (the first frame excluded), by the registered
    ``detector``."""
    det = CUT_DETECTORS.get(detector)(fps, config)
    for f in frames:
        det.update(f)
    return det.finish()


def detect_cuts_library(frames: Iterable[Frame], fps: float, config: CutConfig = CutConfig()) -> list[int]:
    """PySceneDetect's ``AdaptiveDetector`` alone: :func:`detect_cuts` with :class:`LibraryCutDetector`."""
    return detect_cuts(frames, fps, config, detector="pyscenedetect")
