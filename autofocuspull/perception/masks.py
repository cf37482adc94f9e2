"""Person masks over a clip: a segmenter's person probability kept small for some frames.

The segmenter (DeepLabv3, :func:`~autofocuspull.perception.detect.build_person_segmenter`) runs
in the perception pass on every few frames; each map is stored at most :data:`MAX_SIDE_PX` on its
longer side as uint8, so a minute of footage costs a few megabytes. Any frame is served by the
nearest stored one. Masks sharpen subject distances (the median over the person-mask core) and the
heuristic depth (a subject covers its person mask instead of an ellipse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from autofocuspull.core.types import SubjectTracks, check_array
from autofocuspull.perception.depth.heuristic import head_and_shoulders

MAX_SIDE_PX = 128


def _small(prob: np.ndarray, max_side_px: int) -> np.ndarray:
    h, w = prob.shape
    s = min(1.0, max_side_px / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(prob.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)


@dataclass
class PersonMaskStore:
    """Person probability of some frames: ``index`` (K,) frame indices, ``prob_u8`` (K, h, w)."""

    index: list[int] = field(default_factory=list)
    prob_u8: list[np.ndarray] = field(default_factory=list)
    threshold: float = 0.5

    def add(self, frame_index: int, prob: np.ndarray) -> None:
        """Store frame ``frame_index``'s person probability (H, W) float in [0, 1] (any size)."""
        check_array("person probability", prob, (None, None))
        if self.index and frame_index <= self.index[-1]:
            raise ValueError(f"PersonMaskStore.add: frames must come in order, got {frame_index}")
        self.index.append(int(frame_index))
        self.prob_u8.append(_small(prob, MAX_SIDE_PX))

    def __len__(self) -> int:
        return len(self.index)

    def prob_at(self, frame_index: int) -> np.ndarray | None:
        """(h, w) float32 person probability of the stored frame nearest ``frame_index`` (None if empty)."""
        if not self.index:
            return None
        keys = np.asarray(self.index)
        k = int(np.argmin(np.abs(keys - frame_index)))
        return self.prob_u8[k].astype(np.float32) / 255.0

    def subject_masks(
        self,
        frame_index: int,
        tracks: SubjectTracks,
        frame_size_hw: tuple[int, int],
        shape_hw: tuple[int, int],
    ) -> np.ndarray | None:
        """(S, h, w) bool at ``shape_hw``: each visible person's share of the person mask.

        A person subject takes the mask inside its box grown by 10 % (a face-only subject: inside
        its head-and-shoulders silhouette grown the same way); other subjects get an empty mask
        (the heuristic then falls back to their box). None when no mask is stored.
        """
        prob = self.prob_at(frame_index)
        if prob is None:
            return None
        h, w = shape_hw
        person = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR) > self.threshold
        sy, sx = h / frame_size_hw[0], w / frame_size_hw[1]
        out = np.zeros((len(tracks), h, w), bool)
        for s in np.flatnonzero(tracks.present[:, frame_index]):
            if tracks.label[s] != "person":
                continue
            out[s] = person & _region(tracks, int(s), frame_index, (sx, sy), shape_hw)
        return out

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        shape = self.prob_u8[0].shape if self.prob_u8 else (0, 0)
        probs = np.stack(self.prob_u8) if self.prob_u8 else np.zeros((0, *shape), np.uint8)
        return {"mask_index": np.asarray(self.index, np.int64), "mask_prob_u8": probs}

    @classmethod
    def from_npz_dict(cls, d: dict[str, np.ndarray]) -> PersonMaskStore:
        if "mask_index" not in d:
            return cls()
        return cls([int(i) for i in d["mask_index"]], list(np.asarray(d["mask_prob_u8"])))


def _region(
    tracks: SubjectTracks, s: int, t: int, scale_xy: tuple[float, float], shape_hw: tuple[int, int]
) -> np.ndarray:
    sx, sy = scale_xy
    box = tracks.xyxy[s, t].astype(np.float64) * np.array([sx, sy, sx, sy])
    face = tracks.face_xyxy[s, t].astype(np.float64) * np.array([sx, sy, sx, sy])
    if np.isfinite(face).all() and np.allclose(box, face, atol=0.5):
        region = head_and_shoulders(shape_hw, face)
        k = max(3, 2 * round(0.1 * (face[2] - face[0])) + 1)
        return cv2.dilate(region.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, y0 = max(0, int(box[0] - 0.1 * bw)), max(0, int(box[1] - 0.1 * bh))
    x1, y1 = (
        min(shape_hw[1], int(np.ceil(box[2] + 0.1 * bw))),
        min(shape_hw[0], int(np.ceil(box[3] + 0.1 * bh))),
    )
    region = np.zeros(shape_hw, bool)
    region[y0:y1, x0:x1] = True
    return region
