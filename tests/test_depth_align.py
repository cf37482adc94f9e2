"""Temporal alignment, metric calibration and the heuristic fallback, on synthetic data."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from autofocuspull.core.types import SubjectTracks
from autofocuspull.perception.depth import (
    HEURISTIC_NOTE,
    DepthAligner,
    HeuristicDepth,
    HeuristicDepthSource,
    MetricFit,
    align_depth_sequence,
    calibrate_from_tracks,
    fit_metric_scale,
    flicker_figure,
    focal_length_px,
    heuristic_depth_map,
    minmax_normalise,
    prior_distance_m,
    robust_affine_fit,
    static_mask,
    subject_distances_m,
)


def test_robust_affine_fit_ignores_outliers():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 2000)
    y = 2.0 * x + 0.5 + rng.normal(0, 0.01, x.size)
    bad = rng.random(x.size) < 0.2
    y[bad] += rng.uniform(5, 50, bad.sum())
    s, b = robust_affine_fit(x, y)
    assert s == pytest.approx(2.0, abs=5e-3) and b == pytest.approx(0.5, abs=2e-2)
    with pytest.raises(ValueError, match="distinct"):
        robust_affine_fit(np.ones(5), np.ones(5))


def _drifting_sequence(t: int = 24, seed: int = 0):
    """Static scene + a near blob moving closer; each frame's relative depth has its own scale/shift."""
    rng = np.random.default_rng(seed)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.2 + 0.8 * yy / h + 0.1 * np.sin(xx / 5.0)  # inverse depth: ground nearer at the bottom
    scales = 1.0 + 0.3 * np.sin(np.arange(t) / 3.0)
    shifts = 0.2 * np.cos(np.arange(t) / 4.0)
    rel, static = [], []
    for k in range(t):
        inv = base.copy()
        blob = (xx - 10 - 2 * k) ** 2 + (yy - 24) ** 2 < 64
        inv[blob] = 2.0 + 0.1 * k  # approaching: the frame's max changes, min-max normalising pulses
        rel.append((inv - shifts[k]) / scales[k] + rng.normal(0, 0.002, inv.shape))
        static.append(~((xx - 10 - 2 * k) ** 2 + (yy - 24) ** 2 < 144))
    return np.array(rel, np.float32), np.array(static), scales, shifts


def test_alignment_recovers_known_drift_and_cuts_flicker():
    rel, static, scales, shifts = _drifting_sequence()
    aligned, s, b = align_depth_sequence(rel, static)
    # Frame 0 is the reference: s_t = scales_t / scales_0, b_t = (shifts_t - shifts_0) / scales_0.
    np.testing.assert_allclose(s, scales / scales[0], rtol=1e-2)
    np.testing.assert_allclose(b, (shifts - shifts[0]) / scales[0], atol=1e-2)
    f_raw = flicker_figure(list(rel), list(static))
    f_minmax = flicker_figure([minmax_normalise(r) for r in rel], list(static))
    f_aligned = flicker_figure(list(aligned), list(static))
    assert f_aligned < 0.1 * f_raw and f_aligned < 0.25 * f_minmax
    # At the noise floor: median |N(0, 0.002 * sqrt 2)| = 0.0019 over a 10-90 % range of about 0.64 / scale.
    assert f_aligned < 0.006


def test_alignment_without_static_mask_is_robust_to_the_moving_blob():
    rel, _, scales, _ = _drifting_sequence()
    _, s, _ = align_depth_sequence(rel)
    np.testing.assert_allclose(s, scales / scales[0], rtol=3e-2)


def test_reset_starts_a_new_reference_at_a_cut():
    rel, static, _, _ = _drifting_sequence(t=8)
    _, s, b = align_depth_sequence(rel, static, reset_at=[5])
    assert (s[5], b[5]) == (1.0, 0.0)


def test_aligner_state_round_trip():
    rel, static, _, _ = _drifting_sequence(t=6)
    a = DepthAligner()
    for k in range(3):
        a.update(rel[k], static[k])
    b = DepthAligner()
    b.load_state(a.state())
    assert a.update(rel[3], static[3]) == b.update(rel[3], static[3])


def test_static_mask_marks_changed_pixels():
    a = np.zeros((32, 32), np.uint8)
    b = a.copy()
    b[10:20, 10:20] = 200
    m = static_mask(a, b, threshold=3.0)
    assert not m[15, 15] and m[0, 0] and m[31, 31]


def test_flicker_figure_hand_value():
    prev = np.tile(np.arange(11, dtype=np.float64), (2, 1))  # p10..p90 range = 8
    cur = prev + 0.4
    assert flicker_figure([prev, cur], [np.ones_like(prev, bool)] * 2) == pytest.approx(0.05)


def test_focal_length_and_priors_hand_values():
    assert focal_length_px(640, 90.0) == pytest.approx(320.0)
    assert focal_length_px(640) == pytest.approx(320.0 / math.tan(math.radians(30.0)))
    assert prior_distance_m(np.array([0, 0, 100, 120]), "face", 500.0) == pytest.approx(0.8)
    assert prior_distance_m(np.array([10, 20, 110, 360]), "person", 500.0, 480) == pytest.approx(2.5)
    assert math.isnan(prior_distance_m(np.array([10, 0, 110, 340]), "person", 500.0, 480))  # cut at top
    assert math.isnan(prior_distance_m(np.array([10, 20, 210, 300]), "person", 500.0))  # not upright
    with pytest.raises(ValueError, match="kind"):
        prior_distance_m(np.array([0, 0, 1, 1]), "car", 500.0)


def test_fit_metric_scale_with_outliers():
    rng = np.random.default_rng(1)
    rel = rng.uniform(0.2, 3.0, 300)
    dist = 1.0 / (0.5 * rel + 0.1)
    bad = rng.random(rel.size) < 0.2
    dist[bad] *= rng.uniform(2.0, 4.0, bad.sum())
    a, b = fit_metric_scale(rel, dist)
    assert a == pytest.approx(0.5, rel=0.02) and b == pytest.approx(0.1, abs=0.01)


def test_fit_metric_scale_single_distance_falls_back_to_pure_scale():
    a, b = fit_metric_scale(np.array([2.0, 2.02, 1.98, np.nan]), np.array([1.5, 1.5, 1.5, 1.0]))
    assert b == 0.0 and a == pytest.approx(1.0 / (1.5 * 2.0), rel=1e-6)
    with pytest.raises(ValueError, match="usable"):
        fit_metric_scale(np.array([-1.0]), np.array([2.0]))


def test_metric_fit_depth_clips_and_handles_far():
    fit = MetricFit(0.5, 0.1, "t")
    np.testing.assert_allclose(
        fit.depth_m(np.array([1.0, 0.0, -1.0, 1e6])), [1 / 0.6, 10.0, 500.0, 0.05], rtol=1e-6
    )


def _one_face_tracks(t: int, face_xyxy) -> SubjectTracks:
    tr = SubjectTracks.allocate([7], ["person"], t)
    tr.face_xyxy[0, :] = face_xyxy
    tr.xyxy[0, :] = face_xyxy
    return tr


def test_calibration_from_a_face_prior_puts_the_face_at_its_prior_distance():
    frame_hw = (240, 320)
    f_px = 300.0
    face = np.array([100, 60, 160, 130], np.float32)  # 60 px wide -> 300 * 0.16 / 60 = 0.8 m
    rel_map = np.full((60, 80), 0.5, np.float32)
    rel_map[15:33, 25:40] = 2.0  # the face region on the quarter-size map
    tracks = _one_face_tracks(4, face)
    fit = calibrate_from_tracks(lambda i: rel_map, 4, tracks, frame_hw, focal_px=f_px)
    assert fit.b == 0.0 and "subject size priors" in fit.how and fit.n_samples == 4
    assert fit.depth_m(np.array([2.0]))[0] == pytest.approx(0.8, rel=1e-5)
    assert fit.depth_m(np.array([0.5]))[0] == pytest.approx(3.2, rel=1e-5)

    class Src:
        source, n_frames = "x", 4

        def depth_m_at(self, i):
            return fit.depth_m(rel_map)

    d = subject_distances_m(Src(), tracks, frame_hw)
    np.testing.assert_allclose(d, np.full((1, 4), 0.8), rtol=1e-5)


def test_calibration_without_subjects_uses_user_or_default_distance():
    rel_map = np.full((10, 10), 0.25, np.float32)
    fit = calibrate_from_tracks(lambda i: rel_map, 3, None, (10, 10), user_distance_m=5.0)
    assert fit.depth_m(np.array([0.25]))[0] == pytest.approx(5.0)
    fit = calibrate_from_tracks(lambda i: rel_map, 3, SubjectTracks.empty(3), (10, 10))
    assert fit.depth_m(np.array([0.25]))[0] == pytest.approx(3.0) and "default scene scale" in fit.how


def test_heuristic_depth_map_paints_near_over_far_with_ellipses_and_masks():
    boxes = np.array([[10, 10, 50, 50], [30, 10, 70, 50]], np.float64)
    d = heuristic_depth_map((60, 80), boxes, np.array([2.0, 5.0]), background_m=20.0)
    assert d.dtype == np.float32 and d.shape == (60, 80)
    assert d[30, 20] == 2.0 and d[30, 60] == 5.0 and d[30, 40] == 2.0  # overlap: the nearer wins
    assert d[11, 11] == 20.0 and d[5, 5] == 20.0  # box corner is outside the ellipse
    masks = np.zeros((2, 60, 80), bool)
    masks[0, 0:5, 0:5] = True
    d = heuristic_depth_map((60, 80), boxes, np.array([2.0, np.nan]), masks)
    assert d[2, 2] == 2.0 and d[30, 20] == 20.0 and d[30, 60] == 20.0


def test_heuristic_depth_warns_once(caplog):
    h = HeuristicDepth(reason="no model here")
    img = np.zeros((40, 60, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        out = h.predict(
            [img, img], [np.array([[0, 0, 20, 40]]), np.zeros((0, 4))], [np.array([1.5]), np.zeros(0)]
        )
        h.predict([img])
    assert out.shape == (2, 40, 60) and out[0, 20, 10] == 1.5 and np.all(out[1] == 20.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warnings) == 1 and "HEURISTIC" in warnings[0].message and "no model here" in warnings[0].message
    )
    assert h.kind == "metric_m" and HEURISTIC_NOTE in h.note


def test_heuristic_source_uses_face_prior_and_scales_boxes():
    frame_hw = (240, 320)
    face = np.array([100, 60, 160, 140], np.float32)
    tracks = _one_face_tracks(2, face)
    src = HeuristicDepthSource(tracks, frame_hw, (120, 160), focal_px=300.0)
    d = src.depth_m_at(1)
    assert d.shape == (120, 160)
    assert d[50, 65] == pytest.approx(0.8) and d[5, 5] == 20.0
    tracks.distance_m[0, 1] = 3.0  # a given distance wins over the prior
    src = HeuristicDepthSource(tracks, frame_hw, (120, 160), focal_px=300.0)
    assert src.depth_m_at(1)[50, 65] == pytest.approx(3.0)


def test_a_face_leaving_the_frame_keeps_its_last_reliable_prior() -> None:
    from autofocuspull.core.types import SubjectTracks
    from autofocuspull.perception.depth.calibrate import prior_distances_from_tracks

    tr = SubjectTracks.allocate([1], ["person"], 6)
    for t, x0 in enumerate([100, 80, 40, 0, -20, 0]):  # walks out at the left edge from frame 3
        tr.xyxy[0, t] = tr.face_xyxy[0, t] = (max(x0, 0), 50, x0 + 40, 100)
    tr.xyxy[0, 5] = tr.face_xyxy[0, 5] = np.nan  # gone
    prior = prior_distances_from_tracks(tr, (200, 320), focal_px=250.0)
    np.testing.assert_allclose(prior[0, :3], 250.0 * 0.16 / 40)  # a 40 px wide face: 1.0 m
    np.testing.assert_allclose(prior[0, 3:5], 1.0)  # cut by the edge: the nearest reliable prior
    assert np.isnan(prior[0, 5])
