"""Shared array helpers, checked against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from autofocuspull.core.arrays import (
    DEFAULT_FRAME_INTERVAL_S,
    cut_frame_mask,
    cut_times_s,
    fill_nearest,
    first_index_at,
    frame_interval_s,
    nearest_index,
    runs,
    shot_index,
    shot_start_frame,
    touches_edge,
)

NAN = np.nan


def test_runs_of_a_mask() -> None:
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert runs(np.zeros(3, bool)) == [] and runs(np.ones(2, bool)) == [(0, 2)]


def test_nearest_index_prefers_the_earlier_on_a_tie() -> None:
    t = np.array([0.0, 1.0, 3.0])
    assert_array_equal(nearest_index(t, np.array([-1.0, 0.4, 0.5, 2.0, 2.1, 9.0])), [0, 0, 0, 1, 2, 2])
    assert_array_equal(nearest_index(np.array([5.0]), np.array([0.0, 7.0])), [0, 0])


def test_fill_nearest_everywhere_or_only_where_asked() -> None:
    x = np.array([NAN, 1.0, NAN, NAN, 4.0, NAN])
    assert_array_equal(fill_nearest(x), [1, 1, 1, 4, 4, 4])  # frame 2 is nearer 1, frame 3 nearer 4
    assert_array_equal(fill_nearest(np.array([2.0, NAN, 6.0])), [2, 2, 6])  # a tie takes the earlier
    where = np.array([0, 0, 1, 0, 0, 0], bool)
    assert_array_equal(fill_nearest(x, where), [NAN, 1, 1, NAN, 4, NAN])
    assert np.isnan(fill_nearest(np.full(3, NAN))).all()
    assert np.isnan(x[0])  # the input is not modified


def test_touches_edge_with_a_margin_per_axis() -> None:
    size = (100, 50)
    assert not touches_edge(np.array([10, 10, 90, 40]), size, (5, 5))
    assert touches_edge(np.array([4, 10, 90, 40]), size, (5, 5))
    assert touches_edge(np.array([10, 10, 90, 46]), size, (5, 5))
    assert not touches_edge(np.array([10, 10, 90, 46]), size, (5, 3))
    many = np.array([[[10, 10, 90, 40], [4, 10, 90, 40]], [[np.nan] * 4, [10, 10, 90, 46]]])
    assert_array_equal(touches_edge(many, size, (5, 5)), [[False, True], [False, True]])


# --- time-to-index and shots: the one definition every stage uses ---------------------------------


def test_first_index_at_hand_computed():
    t = np.array([0.0, 0.04, 0.08, 0.12])
    assert first_index_at(t, 0.0) == 0
    assert first_index_at(t, 0.05) == 2  # between frames: the later one shows it first
    assert first_index_at(t, 0.08 - 1e-7) == 2  # a hair early is that frame
    assert first_index_at(t, 0.08 - 1e-3) == 2
    assert first_index_at(t, 0.04 + 1e-7) == 1  # a hair late is still that frame
    assert first_index_at(t, -1.0) == 0
    assert first_index_at(t, 0.2) == 4  # after the last frame: T


def test_cut_mask_shot_index_and_starts_agree():
    t = np.arange(10) * 0.1  # 0.0 .. 0.9
    cuts = [0.3 + 1e-9, 0.65, 0.0, 5.0]  # a cut at the first frame or past the end is no cut
    mask = cut_frame_mask(t, cuts)
    assert np.flatnonzero(mask).tolist() == [3, 7]
    shots = shot_index(t, [0.3 + 1e-9, 0.65])
    assert shots.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert [shot_start_frame(mask, f) for f in (0, 2, 3, 6, 7, 9)] == [0, 0, 3, 3, 7, 7]
    assert cut_times_s(t, [0, 3, 7, 10]) == [pytest.approx(0.3), pytest.approx(0.7)]


def test_frame_interval_is_the_median_spacing():
    assert frame_interval_s(np.array([0.0, 0.04, 0.08, 0.2, 0.24])) == pytest.approx(0.04)
    assert frame_interval_s(np.array([1.0])) == DEFAULT_FRAME_INTERVAL_S


def test_label_groups():
    from autofocuspull.core.labels import COCO_NAMES, PERSON_LABELS, PRODUCT_LABELS, SALIENT_OBJECTS

    assert set(SALIENT_OBJECTS) >= PRODUCT_LABELS  # every product a demo shows is tracked
    assert set(SALIENT_OBJECTS) <= set(COCO_NAMES)
    assert "person" in PERSON_LABELS and "person" not in SALIENT_OBJECTS
