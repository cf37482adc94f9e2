"""Shared array helpers, checked against hand-worked values."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_array_equal

from autofocuspull.core.arrays import fill_nearest, nearest_index, runs, touches_edge

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
