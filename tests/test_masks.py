"""Person masks over a clip: small storage, nearest-frame lookup, per-subject shares."""

from __future__ import annotations

import numpy as np
import pytest

from autofocuspull.core.types import SubjectTracks
from autofocuspull.perception.masks import MAX_SIDE_PX, PersonMaskStore


def _person_prob(h: int = 360, w: int = 640) -> np.ndarray:
    p = np.zeros((h, w), np.float32)
    p[100:360, 60:220] = 1.0  # person A, left
    p[150:360, 420:560] = 0.9  # person B, right
    return p


def test_store_is_small_and_serves_the_nearest_frame() -> None:
    store = PersonMaskStore()
    store.add(0, _person_prob())
    store.add(3, np.zeros((360, 640), np.float32))
    assert max(store.prob_u8[0].shape) == MAX_SIDE_PX and store.prob_u8[0].dtype == np.uint8
    assert store.prob_at(1).max() == pytest.approx(1.0)  # nearest is frame 0
    assert store.prob_at(2).max() == 0.0  # nearest is frame 3
    with pytest.raises(ValueError, match="in order"):
        store.add(3, np.zeros((10, 10), np.float32))
    back = PersonMaskStore.from_npz_dict(store.to_npz_dict())
    np.testing.assert_array_equal(back.prob_at(0), store.prob_at(0))
    assert PersonMaskStore().prob_at(5) is None and PersonMaskStore.from_npz_dict({}).prob_at(0) is None


def test_each_person_gets_its_own_share_of_the_mask() -> None:
    tracks = SubjectTracks.allocate([1, 2, 3], ["person", "person", "cup"], 1)
    tracks.xyxy[0, 0] = tracks.face_xyxy[0, 0] = (110, 110, 170, 180)  # face-only person A
    tracks.xyxy[1, 0] = (420, 150, 560, 360)  # person B with a body box
    tracks.xyxy[2, 0] = (250, 250, 300, 300)  # an object: no mask share
    store = PersonMaskStore()
    store.add(0, _person_prob())
    m = store.subject_masks(0, tracks, (360, 640), (180, 320))
    assert m.shape == (3, 180, 320)
    assert m[0, 60:85, 62:80].all() and m[0, 110:170, 45:95].mean() > 0.95  # A's head and torso
    assert m[0, :, 160:].sum() == 0  # never B's
    assert m[1, 90:170, 220:270].mean() > 0.9 and m[1, :, :150].sum() == 0  # B only
    assert not m[2].any()
