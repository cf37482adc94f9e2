"""Subject distances: one reading function, and a focus distance that does not breathe."""

from __future__ import annotations

import numpy as np
import pytest

from autofocuspull.core.types import Lens, SubjectTracks
from autofocuspull.perception.distance import (
    DistanceConfig,
    assign_subject_distances,
    backlash,
    blur_px_per_dioptre,
    count_reversals,
    hampel_keep,
    sample_subject_depth,
    smooth_distance,
)

FPS = 25.0
K = blur_px_per_dioptre(Lens(), 1280)  # px of blur per dioptre: 50 mm f/1.4 full frame, 1280 px


def test_blur_per_dioptre_hand_value():
    # f^2/N = 0.05^2 / 1.4 m per dioptre = 1.786 mm on the sensor; x 1280 px / 36 mm = 63.49 px
    assert blur_px_per_dioptre(Lens(), 1280) == pytest.approx(63.49, rel=1e-3)


def test_count_reversals_hand_values():
    assert count_reversals(np.array([0, 1, 0, 1, 0, 1.0]), 0.5) == 4
    assert count_reversals(np.array([0, 0.3, 0, 0.3, np.nan, 0]), 0.5) == 0
    assert count_reversals(np.linspace(0, 5, 20), 0.5) == 0


def test_backlash_ignores_jitter_and_follows_moves_without_lag():
    jitter = 1.0 + 0.01 * np.array([1, -1] * 20, float)
    assert np.ptp(backlash(jitter, 0.02)) == 0.0
    ramp = np.linspace(0.0, 1.0, 50)
    np.testing.assert_allclose(backlash(ramp, 0.05)[5:-5], ramp[5:-5], atol=1e-9)


def test_hampel_rejects_short_dropout_keeps_steady_approach():
    x = np.full(60, 0.25)
    x[20:30] = 0.05  # ten frames at the background
    keep = hampel_keep(x, 25, 3.0, 0.1)
    assert not keep[20:30].any() and keep[:20].all() and keep[30:].all()
    approach = np.linspace(0.2, 0.5, 75)  # 5 m -> 2 m in 3 s
    assert hampel_keep(approach, 25, 3.0, 0.1).all()


def test_dropouts_to_the_background_are_not_followed():
    rng = np.random.default_rng(1)
    d = np.full(250, 4.0) + 0.02 * rng.standard_normal(250)
    for start in (20, 60, 100, 150, 200):  # mask/detection dropouts of 1 to 12 frames
        d[start : start + 1 + start % 12] = 20.0
    d[120:123] = np.nan  # and frames with no reading at all
    out = smooth_distance(d, FPS, present=np.ones(250, bool), px_per_dioptre=K)
    assert np.isfinite(out).all()
    assert np.abs(out - 4.0).max() < 0.1  # never towards 20 m
    # (a 5-frame median + 0.2 s EMA, the filter before: up to 13.5 m and 7 reversals of 2 px)
    assert count_reversals(1.0 / out, 2.0 / K) == 0


def face_box_jitter(n: int, seed: int = 0) -> np.ndarray:
    """Readings (m) of a face at 2 m whose box flips between two fits every 0.4-1.2 s (as a
    detector does when a head turns a little), +-1.4 px of blur apart, plus frame-to-frame noise."""
    rng = np.random.default_rng(seed)
    state, out, left = 1.0, [], 0
    for _ in range(n):
        if left == 0:
            state, left = -state, int(rng.integers(10, 31))
        left -= 1
        out.append(1 / 2.0 + (1.4 * state + rng.uniform(-0.3, 0.3)) / K)
    return 1.0 / np.asarray(out)


def test_face_jitter_does_not_pulse_and_a_walk_is_followed():
    jitter_d = face_box_jitter(1500)  # one minute
    assert count_reversals(1.0 / jitter_d, 2.0 / K) > 30  # the readings alone would breathe
    out = smooth_distance(jitter_d, FPS, px_per_dioptre=K)
    assert count_reversals(1.0 / out, 2.0 / K) <= 2  # (a 5-frame median + 0.2 s EMA: 41 a minute)
    walk = np.linspace(5.0, 2.0, 75)  # 3 m in 3 s towards the lens
    got = smooth_distance(walk, FPS, px_per_dioptre=K)
    err_px = np.abs(1 / got[10:-10] - 1 / walk[10:-10]) * K
    assert err_px.max() < 1.0


def test_stretches_do_not_cross_cuts_or_absences():
    d = np.r_[np.full(10, 2.0), np.full(10, 6.0)]
    out = smooth_distance(d, FPS, cuts=[10])
    np.testing.assert_allclose(out[:10], 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[10:], 6.0, rtol=1e-6)
    present = np.r_[np.ones(10, bool), np.zeros(5, bool), np.ones(5, bool)]
    out = smooth_distance(np.r_[np.full(10, 2.0), np.full(10, np.nan)], FPS, present=present)
    assert np.isnan(out[10:]).all() and np.isfinite(out[:10]).all()


def test_objects_are_smoothed_less_than_people():
    cfg = DistanceConfig()
    assert cfg.tau_s("cup") < cfg.tau_s("person")
    step = np.r_[np.full(25, 1.0), np.full(25, 0.5)]  # a product brought to the lens
    obj = smooth_distance(step, FPS, cfg, label="cup")
    per = smooth_distance(step, FPS, cfg, label="person")
    assert abs(obj[27] - 0.5) < abs(per[27] - 0.5)


def _one_subject(box, face=None, label="person", n=3):
    tr = SubjectTracks.allocate([1], [label], n)
    tr.xyxy[0] = np.asarray(box, np.float32)
    if face is not None:
        tr.face_xyxy[0] = np.asarray(face, np.float32)
    tr.confidence[0] = 0.9
    return tr


def test_one_reading_function_for_calibration_and_focus():
    from autofocuspull.perception.depth.calibrate import metric_samples, subject_distances_m

    frame_hw = (200, 200)
    depth = np.full((100, 100), 9.0, np.float32)  # half resolution
    depth[30:45, 40:60] = 2.0  # the face core: x 80..120, y 60..90 in frame pixels
    tr = _one_subject([40, 40, 160, 200], face=[70, 40, 130, 110])
    got = sample_subject_depth(depth, tr, 0, 0, frame_hw)
    assert got == 2.0

    class Src:
        source, n_frames, note = "x", 3, ""

        def depth_m_at(self, i):
            return depth

    np.testing.assert_allclose(subject_distances_m(Src(), tr, frame_hw), 2.0)
    rel, _ = metric_samples(lambda i: depth, tr, frame_hw, focal_px=300.0)
    np.testing.assert_allclose(rel, 2.0)
    assign_subject_distances(tr, lambda i: depth, (200, 200), fps=FPS)
    np.testing.assert_allclose(tr.distance_m, 2.0, rtol=1e-5)
