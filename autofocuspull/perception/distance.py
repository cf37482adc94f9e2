"""Subject distances: the one place where a subject's depth is read from a map, and the temporal
filter that turns those readings into a focus distance a focus puller would follow.

:func:`sample_subject_depth` reads a subject's depth in its *core* (the inner part of its face box,
else the head and chest of a person, else the centre of an object; inside the person mask where
one is given), as a median, never a single pixel. Depth calibration
(:mod:`autofocuspull.perception.depth.calibrate`) and focus distances (:func:`assign_subject_distances`)
both call it, so the distance a clip is calibrated on is the distance focus is set to.

:func:`smooth_distance` works in dioptres (1/m), the unit in which defocus blur is linear
(blur diameter ~ f^2/N * |1/s - 1/z|), per run of frames between cuts:

1. outlier rejection (a Hampel filter): a reading further from the running median than a few
   median absolute deviations is dropped. A mask or detection that drops out for a moment makes
   the core read the background; that reading is an outlier and is dropped, not followed;
2. the dropped and missing frames are interpolated in dioptres from the good ones around them,
   held at the ends: never the background distance;
3. a zero-phase exponential smoother (no lag) with a time constant per kind of subject;
4. a deadband (backlash) of a fraction of a pixel of blur: focus does not move at all for changes
   smaller than that, and moves with the subject once it really moves. Box jitter stays inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import median_filter

from autofocuspull.core.types import Lens, SubjectTracks, check_array


@dataclass(frozen=True)
class DistanceConfig:
    """Where a subject's depth is read, and how its distance is filtered over time.

    Regions are fractions (x0, y0, x1, y1) of the box. ``face_core``: the middle of the face (eyes,
    nose, cheeks), the plane a focus puller sets; hair and the background beside the head are
    left out. ``person_core``: head and chest of a person box (a body box is mostly background at
    its sides and below the shoulders for a person turned sideways). ``object_core``: the central
    40 % of an object box (its edges are background for any object that is not a box).

    ``mask_threshold`` / ``mask_erode_px``: the person mask's core (probability above one half,
    eroded by 2 depth-map pixels so the edge, where depth is mixed with the background, is out).
    ``min_pixels``: fewer pixels than that make no reading (a median of 1-3 pixels is one pixel).

    ``outlier_window_s``: the Hampel window. A dropout shorter than half of it is rejected
    whatever its size; 1 s covers the dropouts of a detector (a few frames) and of a turning head
    (half a second), while a real move in depth within a second is followed (the running median of
    a steady approach is the approach itself). ``outlier_mad_k``: readings more than this many
    scaled MADs off are outliers (3 is the usual Hampel choice: 0.3 % false rejections of Gaussian
    noise). ``outlier_min_rel``: and more than this fraction of the distance (10 %): a track whose
    readings barely vary (MAD near 0) must not reject its own next small real step.

    ``smooth_tau_s``: the smoother's time constant for people. A focus puller follows an actor's
    walk but not their sway; 0.25 s is the reaction of a puller following by eye. ``object_smooth_tau_s``:
    for hand-held objects and animals, which are brought to the lens and taken away much faster
    than a person walks; 0.12 s keeps up with a product shown to camera. These are the per-subject
    smoothness knobs.

    ``deadband_blur_px``: half-width of the deadband, in pixels of blur of the clip's lens and
    width. A swing of the readings smaller than twice this moves focus not at all, and a larger one
    by its excess only. The price is focus error: the forward and backward plays average, so a
    steady move is followed exactly and the error is at most half the band, at the ends of moves.
    2 px of band therefore costs at most 1 px of blur, below what a viewer sees on a sharp face,
    while it absorbs the 2-4 px swings that head turns put into a face box's width (and so into a
    size-prior distance) on a talking head that does not move in depth at all.
    """

    face_core: tuple[float, float, float, float] = (0.25, 0.2, 0.75, 0.7)
    person_core: tuple[float, float, float, float] = (0.3, 0.08, 0.7, 0.45)
    object_core: tuple[float, float, float, float] = (0.3, 0.3, 0.7, 0.7)
    mask_threshold: float = 0.5
    mask_erode_px: int = 2
    min_pixels: int = 4
    outlier_window_s: float = 1.0
    outlier_mad_k: float = 3.0
    outlier_min_rel: float = 0.1
    smooth_tau_s: float = 0.25
    object_smooth_tau_s: float = 0.12
    deadband_blur_px: float = 2.0

    def tau_s(self, label: str) -> float:
        """Smoothing time constant of a subject with this label (people vs objects and animals)."""
        return self.smooth_tau_s if label == "person" else self.object_smooth_tau_s


# --------------------------------------------------------------------------------------------
# Reading a subject's depth (the one function)
# --------------------------------------------------------------------------------------------


def core_box(xyxy: np.ndarray, frac: Sequence[float]) -> np.ndarray:
    """(4,) the part ``frac`` (x0, y0, x1, y1 fractions) of box ``xyxy``, same units."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    w, h = x1 - x0, y1 - y0
    return np.array([x0 + frac[0] * w, y0 + frac[1] * h, x0 + frac[2] * w, y0 + frac[3] * h])


def region_median(depth: np.ndarray, box_px: np.ndarray, mask: np.ndarray | None, min_pixels: int) -> float:
    """Median of finite positive ``depth`` (h, w) inside ``box_px`` (xyxy in map pixels).

    With ``mask`` (h, w bool) only masked pixels count. NaN when fewer than ``min_pixels`` remain.
    """
    h, w = depth.shape
    x0, y0 = int(np.clip(np.floor(box_px[0]), 0, w)), int(np.clip(np.floor(box_px[1]), 0, h))
    x1, y1 = int(np.clip(np.ceil(box_px[2]), 0, w)), int(np.clip(np.ceil(box_px[3]), 0, h))
    vals = depth[y0:y1, x0:x1]
    ok = np.isfinite(vals) & (vals > 0)
    if mask is not None:
        ok &= mask[y0:y1, x0:x1]
    vals = vals[ok]
    return float(np.median(vals)) if vals.size >= min_pixels else float("nan")


def mask_core(prob: np.ndarray, shape_hw: tuple[int, int], config: DistanceConfig) -> np.ndarray:
    """Person probability (h', w') -> bool (h, w) core: resized, thresholded, eroded."""
    p = check_array("person_mask", prob, (None, None), np.float32)
    if p.shape != tuple(shape_hw):
        p = cv2.resize(p, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_LINEAR)
    m = (p > config.mask_threshold).astype(np.uint8)
    if config.mask_erode_px > 0:
        k = 2 * config.mask_erode_px + 1
        m = cv2.erode(m, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return m.astype(bool)


def sample_subject_depth(
    values_hw: np.ndarray,
    tracks: SubjectTracks,
    s: int,
    t: int,
    frame_size_hw: tuple[int, int],
    *,
    mask: np.ndarray | None = None,
    config: DistanceConfig = DistanceConfig(),
) -> float:
    """Depth of subject ``s`` in frame ``t`` read from a map (metres, or relative depth: any map).

    ``values_hw`` (h, w) at any resolution; boxes are in frame pixels ``frame_size_hw`` (H, W).
    The face core where the subject has a face box this frame; else the person core (inside
    ``mask``, the (h, w) bool person-mask core, when it leaves enough pixels) or the object core.
    Pixels that are not finite and positive are ignored. NaN when the region has too few pixels.
    """
    vals = check_array("values_hw", values_hw, (None, None))
    h, w = vals.shape
    scale = np.array([w / frame_size_hw[1], h / frame_size_hw[0]] * 2)
    if tracks.has_face[s, t]:
        return region_median(vals, core_box(tracks.face_xyxy[s, t], config.face_core) * scale, None,
                             config.min_pixels)
    is_person = tracks.label[s] == "person"
    core = core_box(tracks.xyxy[s, t], config.person_core if is_person else config.object_core) * scale
    if is_person and mask is not None:
        v = region_median(vals, core, mask, config.min_pixels)
        if np.isfinite(v):
            return v
    return region_median(vals, core, None, config.min_pixels)


# --------------------------------------------------------------------------------------------
# Temporal filter, in dioptres
# --------------------------------------------------------------------------------------------


def blur_px_per_dioptre(lens: Lens, image_width_px: int) -> float:
    """Blur-circle diameter (px) per dioptre of focus error: (f^2 / N) in sensor mm, to pixels.

    The thin-lens circle of confusion c = f^2/N * |1/s - 1/z| * s/(s - f) for s >> f; the slope
    used for deadbands and breathing counts (50 mm f/1.4 on full frame, 1920 px: 95 px per dioptre).
    """
    f_mm = lens.focal_length_mm
    return float(f_mm * f_mm / lens.f_number / 1000.0 * image_width_px / lens.sensor_width_mm)


def hampel_keep(x: np.ndarray, window: int, k: float, min_rel: float) -> np.ndarray:
    """(N,) bool: which finite samples of ``x`` (N,) are not outliers of their running median."""
    x = check_array("x", x, (None,), np.float64)
    keep = np.isfinite(x)
    idx = np.flatnonzero(keep)
    if len(idx) < 3:
        return keep
    v = x[idx]
    size = max(3, min(window, len(v)) | 1)
    med = median_filter(v, size=size, mode="nearest")
    mad = 1.4826 * median_filter(np.abs(v - med), size=size, mode="nearest")
    bad = np.abs(v - med) > np.maximum(k * mad, min_rel * np.abs(med))
    keep[idx[bad]] = False
    return keep


def zero_phase_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Forward then backward exponential smoothing of a finite 1-D series (no lag)."""
    y = np.asarray(x, np.float64).copy()
    for i in range(1, len(y)):
        y[i] = alpha * y[i] + (1 - alpha) * y[i - 1]
    for i in range(len(y) - 2, -1, -1):
        y[i] = alpha * y[i] + (1 - alpha) * y[i + 1]
    return y


def backlash(x: np.ndarray, half_width: float) -> np.ndarray:
    """Deadband without lag: the mean of a forward and a backward backlash (play) operator.

    A backlash output stays put while the input moves within ``half_width`` of it and is dragged
    along once the input leaves that band: jitter smaller than the band never moves it. Run
    forwards it lags a steady move by ``half_width``, backwards it leads by as much; their mean
    follows the move exactly and still ignores the jitter.
    """
    x = check_array("x", x, (None,), np.float64)
    if half_width <= 0 or len(x) < 2:
        return x.copy()

    def run(v: np.ndarray) -> np.ndarray:
        y = np.empty_like(v)
        y[0] = v[0]
        for i in range(1, len(v)):
            y[i] = min(max(y[i - 1], v[i] - half_width), v[i] + half_width)
        return y

    fwd = run(x)
    bwd = run(x[::-1])[::-1]
    return 0.5 * (fwd + bwd)


def smooth_distance(
    d: np.ndarray,
    fps: float,
    config: DistanceConfig = DistanceConfig(),
    cuts: Sequence[int] = (),
    *,
    present: np.ndarray | None = None,
    label: str = "person",
    px_per_dioptre: float | None = None,
) -> np.ndarray:
    """Filter one subject's (T,) distance readings (m, NaN = no reading) into a focus distance.

    ``present`` (T,) bool: the frames the subject is in (default: the frames with a reading).
    Per stretch of present frames between ``cuts`` (nothing crosses a cut or a gap where the
    subject is absent): outliers rejected in dioptres, missing readings interpolated from the
    good ones (held at the ends), smoothed with ``config.tau_s(label)``, and, with
    ``px_per_dioptre`` (:func:`blur_px_per_dioptre`), a deadband of ``config.deadband_blur_px``.
    Returns (T,) float32 metres, NaN where the subject is absent or a stretch has no reading.
    """
    d = check_array("d", d, (None,), np.float64)
    n = len(d)
    ok = np.isfinite(d) & (d > 0)
    present = ok if present is None else check_array("present", present, (n,), bool) | ok
    diop = np.where(ok, 1.0 / np.where(ok, d, 1.0), np.nan)
    breaks = np.zeros(n, bool)
    breaks[[c for c in cuts if 0 <= c < n]] = True
    run_id = np.cumsum(breaks | ~present)
    out = np.full(n, np.nan)
    window = max(3, round(config.outlier_window_s * fps))
    alpha = 1.0 - np.exp(-1.0 / max(config.tau_s(label) * fps, 1e-6))
    half = config.deadband_blur_px / px_per_dioptre if px_per_dioptre else 0.0
    for r in np.unique(run_id[present]):
        idx = np.flatnonzero((run_id == r) & present)
        seg = diop[idx]
        good = hampel_keep(seg, window, config.outlier_mad_k, config.outlier_min_rel)
        if not good.any():
            continue
        pos = np.arange(len(idx))
        filled = np.interp(pos, pos[good], seg[good])
        out[idx] = backlash(zero_phase_ema(filled, alpha), half)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(out) & (out > 0), 1.0 / out, np.nan).astype(np.float32)


# --------------------------------------------------------------------------------------------
# All subjects of a clip
# --------------------------------------------------------------------------------------------


def raw_subject_distances(
    tracks: SubjectTracks,
    depth_m_at: Callable[[int], np.ndarray],
    frame_size_hw: tuple[int, int],
    *,
    person_mask_at: Callable[[int], np.ndarray | None] | None = None,
    config: DistanceConfig = DistanceConfig(),
) -> np.ndarray:
    """(S, T) float64 readings (m) of every present subject with :func:`sample_subject_depth`."""
    raw = np.full((len(tracks), tracks.n_frames), np.nan)
    present = tracks.present | tracks.has_face
    for t in np.flatnonzero(present.any(axis=0)):
        depth = check_array("depth_m_at(t)", depth_m_at(int(t)), (None, None), np.float32)
        prob = person_mask_at(int(t)) if person_mask_at is not None else None
        mask = None if prob is None else mask_core(prob, depth.shape, config)
        for s in np.flatnonzero(present[:, t]):
            raw[s, t] = sample_subject_depth(depth, tracks, int(s), int(t), frame_size_hw, mask=mask,
                                             config=config)
    return raw


def assign_subject_distances(
    tracks: SubjectTracks,
    depth_m_at: Callable[[int], np.ndarray],
    image_size: tuple[int, int],
    *,
    fps: float,
    cuts: Sequence[int] = (),
    person_mask_at: Callable[[int], np.ndarray | None] | None = None,
    config: DistanceConfig = DistanceConfig(),
    lens: Lens | None = None,
) -> SubjectTracks:
    """Fill ``distance_m`` (S, T) from metric depth, in place, and return ``tracks``.

    ``depth_m_at(t)`` gives frame t's depth (h, w) float metres at any resolution; ``image_size``
    (width, height) is the pixel frame of the boxes; ``person_mask_at(t)`` (h, w) person
    probability (optional). Readings by :func:`sample_subject_depth`, filtered by
    :func:`smooth_distance` per subject, not across ``cuts``; ``lens`` (default: the default
    :class:`Lens`) sets the deadband's size in dioptres.
    """
    frame_hw = (image_size[1], image_size[0])
    raw = raw_subject_distances(tracks, depth_m_at, frame_hw, person_mask_at=person_mask_at, config=config)
    k = blur_px_per_dioptre(lens or Lens(), image_size[0])
    present = tracks.present | tracks.has_face
    for s in range(len(tracks)):
        tracks.distance_m[s] = smooth_distance(
            raw[s], fps, config, cuts, present=present[s], label=tracks.label[s], px_per_dioptre=k
        )
    return tracks


def count_reversals(x: np.ndarray, min_swing: float) -> int:
    """Direction changes of (T,) ``x`` (NaN frames skipped) with a swing of at least ``min_swing``.

    A zigzag count: a reversal is counted when ``x`` moves back from its last extreme by
    ``min_swing`` or more, so wiggles smaller than that never count. With ``x`` in dioptres and
    ``min_swing`` = 2 px / :func:`blur_px_per_dioptre`, it counts the visible in-and-out
    breathing of focus.
    """
    v = check_array("x", x, (None,), np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return 0
    n, direction, lo, hi, ext = 0, 0, v[0], v[0], v[0]
    for val in v[1:]:
        if direction == 0:  # no swing yet: wait for the first move of min_swing either way
            lo, hi = min(lo, val), max(hi, val)
            if val - lo >= min_swing or hi - val >= min_swing:
                direction, ext = (1 if val - lo >= min_swing else -1), val
        elif direction * (val - ext) > 0:  # still going the same way: a new extreme
            ext = val
        elif direction * (ext - val) >= min_swing:  # came back far enough: a reversal
            n, direction, ext = n + 1, -direction, val
    return n
