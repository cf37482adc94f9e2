"""Renderer tests: optics, colour, exactness at focus, disc blur off focus, occlusion and bokeh."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from autofocuspull.core.types import Frame
from autofocuspull.render import (
    LayeredBokehRenderer,
    Lens,
    RenderConfig,
    coc_px,
    layer_radii_px,
    layered,
    render_frame,
    render_frame_torch,
    render_naive_torch,
    render_video,
    upsample_depth,
)
from autofocuspull.render.color import _encode_lut, decode_uint8, encode_uint8, linear_to_srgb, srgb_to_linear
from autofocuspull.render.kernels import aperture_kernel_np
from autofocuspull.render.layered import (
    _filter2d_direct,
    _layer_alpha,
    _occupied_layers,
    _signed_radius_fast,
    signed_coc_radius_px,
)
from autofocuspull.render.reference import ScenePlane, centre_view, render_reference
from autofocuspull.render.video import luma_u8

DEVICES = [
    pytest.param(("cpu", torch.float32), id="cpu-fp32"),
    # The reduced-precision paths run on the CPU too, so CI (no GPU) covers them.
    pytest.param(("cpu", torch.float16), id="cpu-fp16"),
    pytest.param(("cpu", torch.bfloat16), id="cpu-bf16"),
    pytest.param(("cuda", torch.float16), id="cuda-fp16"),
    pytest.param(("cuda", torch.bfloat16), id="cuda-bf16"),
]
BIG = RenderConfig(max_coc_frac=0.2)


@pytest.fixture(params=DEVICES)
def device_dtype(request) -> tuple[str, torch.dtype]:
    device, dtype = request.param
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return device, dtype


def _tol(dtype: torch.dtype) -> int:
    """Allowed uint8 difference for 'exact' results (reduced-precision dtypes round differently)."""
    return 0 if dtype == torch.float32 else 2


def _smooth_texture(h: int, w: int, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), sigma)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return (20 + 200 * tex).astype(np.uint8)


def _depth_for_radius(radius_px: float, focus_m: float, lens: Lens, width_px: int) -> float:
    """Depth behind focus whose CoC radius is ``radius_px`` (inverse of the thin-lens formula)."""
    f = lens.focal_length_mm / 1000
    k = (f / lens.f_number) * f / (focus_m - f) * 1000 * width_px / lens.sensor_width_mm / 2
    return focus_m / (1 - radius_px / k)


# ------------------------------------------------------------------------------------------------
# Optics and colour
# ------------------------------------------------------------------------------------------------


def test_coc_px_matches_hand_computation() -> None:
    lens = Lens(focal_length_mm=50.0, f_number=2.0, sensor_width_mm=36.0)
    # A = 25 mm; c = 25 * (4 - 2) / 4 * 50 / 1950 mm = 0.320513 mm; x 1800 / 36 px/mm = 16.0256 px
    got = coc_px(np.array([4.0, 1.0, 2.0], np.float32), 2.0, lens, 1800)
    near = 25 * 1.0 / 1.0 * 50 / 1950 * 50  # z = 1: |1 - 2| / 1
    np.testing.assert_allclose(got, [16.025641, near, 0.0], rtol=1e-5)
    signed = coc_px(np.array([4.0, 1.0], np.float32), 2.0, lens, 1800, signed=True)
    np.testing.assert_allclose(signed, [16.025641, -near], rtol=1e-5)
    t = coc_px(torch.tensor([4.0]), 2.0, lens, 1800, f_number=4.0)
    torch.testing.assert_close(t, torch.tensor([16.025641 / 2]))


def test_fast_radius_equals_reference_formula() -> None:
    lens = Lens(85.0, 1.8)
    depth = torch.linspace(0.3, 50.0, 1000).reshape(1, 1, 10, 100).repeat(2, 1, 1, 1)
    focus, fnum = torch.tensor([1.5, 4.0]), torch.tensor([1.8, 2.8])
    cfg = RenderConfig()
    ref = signed_coc_radius_px(depth, focus, fnum, lens, cfg)
    fast = _signed_radius_fast(depth, focus, fnum, lens, cfg, torch.float32)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-4)


def test_srgb_roundtrip_is_identity_and_matches_standard() -> None:
    codes = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16, 1).expand(1, 16, 16, 3).contiguous()
    lin = decode_uint8(codes)
    assert torch.equal(encode_uint8(lin), codes)
    # sRGB 128 -> ((128/255 + 0.055) / 1.055) ** 2.4 = 0.2158605
    assert abs(float(lin[0, 0, 8, 0]) - 0.2158605) < 1e-6
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x)


def test_aperture_kernels_have_the_right_support() -> None:
    disc = aperture_kernel_np(5.0)
    assert disc.shape == (11, 11) and abs(disc.sum() - 1) < 1e-12
    assert disc[5, 0] > 0 and disc[0, 0] == 0  # touches the axis ends, not the corners
    hexa = aperture_kernel_np(10.0, blades=6)
    # Vertices on the x axis (radius 10), flat sides on the y axis (apothem 8.66).
    assert hexa[10, 0] > 0 and hexa[10, 20] > 0
    assert hexa[0, 10] == 0 and hexa[1, 10] > 0
    assert aperture_kernel_np(0.0).shape == (1, 1)


def test_layer_alphas_composite_back_to_one() -> None:
    s = [-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0]
    c = torch.linspace(-8, 8, 997)
    out = torch.zeros_like(c)
    for j in range(len(s) - 1, -1, -1):  # far to near, 'over'
        a = _layer_alpha(c, s, j)
        out = a + (1 - a) * out
    torch.testing.assert_close(out, torch.ones_like(c))


def test_layer_radii_are_geometric_and_end_at_max() -> None:
    radii = layer_radii_px(48.0, RenderConfig())
    np.testing.assert_allclose(radii[:4], [1.5, 3.0, 4.5, 6.75])
    assert radii[-1] == 48.0 and np.all(np.diff(radii) > 0)


# ------------------------------------------------------------------------------------------------
# Numerics of the renderer
# ------------------------------------------------------------------------------------------------


def test_plane_at_focus_comes_back_unchanged(device_dtype) -> None:
    device, dtype = device_dtype
    img = _smooth_texture(90, 160, sigma=0.5)
    img[10:20, 10:20] = 255  # highlights must not change when in focus
    out = render_frame(img, np.full((90, 160), 2.5, np.float32), 2.5, Lens(), device=device, dtype=dtype)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).max() <= _tol(dtype)


@pytest.mark.parametrize("radius_px", [3.0, 6.75, 8.0, 14.0])
def test_plane_off_focus_equals_disc_convolution(radius_px: float) -> None:
    """Layer radii are 1.5, 3, 4.5, 6.75, 10.1, 15.2: 8 and 14 fall between two layers."""
    h, w = 120, 200
    lens = Lens(85.0, 1.4)
    img = _smooth_texture(h, w, seed=1, sigma=2.0)
    depth_m = _depth_for_radius(radius_px, 1.0, lens, w)
    lin = decode_uint8(torch.from_numpy(img)[None])
    depth = torch.full((1, 1, h, w), depth_m)
    cfg = RenderConfig(highlight_peak=1.0, max_coc_frac=0.2)
    out = render_frame_torch(lin, depth, torch.tensor([1.0]), torch.tensor([1.4]), lens, cfg)
    out = out[0].permute(1, 2, 0).numpy()
    lin_np = lin[0].permute(1, 2, 0).numpy()

    def disc_blur(r: float) -> np.ndarray:
        k = aperture_kernel_np(r).astype(np.float32)
        return cv2.filter2D(lin_np, -1, k, borderType=cv2.BORDER_REPLICATE)

    err = np.abs(out - disc_blur(radius_px)).mean()
    err_small = np.abs(out - disc_blur(radius_px * 0.8)).mean()
    err_big = np.abs(out - disc_blur(radius_px * 1.25)).mean()
    assert err < 0.006, err  # mean |error| in linear light (texture spans 0.01 .. 0.75)
    assert err < 0.75 * min(err_small, err_big), (err, err_small, err_big)


def test_batch_with_per_frame_focus_equals_single_renders() -> None:
    h, w = 64, 96
    lens = Lens(50.0, 1.4)
    img = torch.cat([decode_uint8(torch.from_numpy(_smooth_texture(h, w, seed=i))[None]) for i in range(2)])
    xx = torch.linspace(0.5, 6.0, w).reshape(1, 1, 1, w).expand(2, 1, h, w).contiguous()
    focus, fnum = torch.tensor([1.0, 3.0]), torch.tensor([1.4, 2.8])
    both = render_frame_torch(img, xx, focus, fnum, lens)
    for i in range(2):
        one = render_frame_torch(img[i : i + 1], xx[i : i + 1], focus[i : i + 1], fnum[i : i + 1], lens)
        torch.testing.assert_close(both[i : i + 1], one, atol=1e-5, rtol=1e-5)
    module = LayeredBokehRenderer(lens)
    torch.testing.assert_close(module(img, xx, focus, fnum), both)


def test_stopping_down_reduces_blur() -> None:
    h, w = 80, 120
    img = _smooth_texture(h, w, seed=3, sigma=1.0)
    depth = np.full((h, w), 8.0, np.float32)
    wide = render_frame(img, depth, 1.0, Lens(50.0, 1.4)).astype(float)
    stopped = render_frame(img, depth, 1.0, Lens(50.0, 1.4), f_number=11.0).astype(float)
    grad = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert grad(wide) < grad(stopped) < grad(img.astype(float))


# ------------------------------------------------------------------------------------------------
# Edges: halo, foreground spill, hair
# ------------------------------------------------------------------------------------------------


def _subject_scene(h: int = 120, w: int = 200) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    img = np.zeros((h, w, 3), np.uint8)
    depth = np.full((h, w), 20.0, np.float32)  # black background far away
    box = (slice(30, 90), slice(70, 130))
    img[box] = 255
    depth[box] = 2.0  # white subject in focus
    return img, depth, box


def test_background_never_bleeds_over_in_focus_subject_and_no_halo(device_dtype) -> None:
    device, dtype = device_dtype
    img, depth, box = _subject_scene()
    lens = Lens(85.0, 1.4)
    out = render_frame(img, depth, 2.0, lens, device=device, dtype=dtype).astype(int)
    assert np.abs(out[box] - 255).max() <= _tol(dtype), "in-focus subject changed"
    ring = out[30:90, 131:140]  # background just outside the subject's right edge
    assert ring.max() <= 2, f"subject colour haloed into the background: {ring.max()}"
    # The naive per-pixel blur does bleed (what this renderer fixes).
    lin = decode_uint8(torch.from_numpy(img)[None])
    naive = render_naive_torch(lin, torch.from_numpy(depth)[None, None], torch.tensor([2.0]),
                               torch.tensor([1.4]), lens)  # fmt: skip
    naive_u8 = encode_uint8(naive)[0].numpy().astype(int)
    assert naive_u8[30:90, 131:140].max() > 60


def test_blurred_foreground_spreads_over_in_focus_subject(device_dtype) -> None:
    device, dtype = device_dtype
    h, w = 120, 200
    img = np.full((h, w, 3), 255, np.uint8)
    depth = np.full((h, w), 2.0, np.float32)  # white subject plane in focus
    img[:, :60] = 0
    depth[:, :60] = 0.5  # black foreground object on the left, far in front
    lens = Lens(85.0, 1.4)
    r = abs(float(coc_px(np.float32(0.5), 2.0, lens, w))) / 2
    r = min(r, RenderConfig().max_coc_frac * w / 2)
    out = render_frame(img, depth, 2.0, lens, device=device, dtype=dtype).astype(int)
    just_inside = out[40:80, 60 : 60 + int(r * 0.5)]
    assert just_inside.mean() < 230, "foreground did not spread over the subject"
    far = out[40:80, 60 + int(r) + 3 :]
    assert np.abs(far - 255).max() <= _tol(dtype)
    # The foreground itself is seen semi-transparently at its edge, not as a hard cut.
    assert 10 < out[60, 57].mean() < 245


def test_thin_hair_against_blurred_background_stays_clean() -> None:
    h, w = 100, 160
    rng = np.random.default_rng(5)
    img = (rng.random((h, w, 3)) * 120).astype(np.uint8)  # busy far background
    depth = np.full((h, w), 30.0, np.float32)
    for x in range(20, 140, 7):  # one-pixel strands in focus
        img[10:90, x] = [240, 200, 150]
        depth[10:90, x] = 1.5
    out = render_frame(img, depth, 1.5, Lens(85.0, 1.4))
    strands = np.s_[10:90, 20:140:7]
    assert np.abs(out[strands].astype(int) - img[strands]).max() == 0
    between = np.s_[20:80, 23:137:7]  # pixels between strands: blurred background, no strand smear
    assert out[between].astype(int)[..., 2].mean() < 100


# ------------------------------------------------------------------------------------------------
# Bokeh
# ------------------------------------------------------------------------------------------------


def _highlight_render(config: RenderConfig) -> np.ndarray:
    """A 7x7 clipped highlight far behind focus, blurred to a radius of 0.2 * 201 / 2 = 20 px."""
    h, w = 121, 201
    img = np.full((h, w, 3), 10, np.uint8)
    img[57:64, 97:104] = 255  # a small clipped highlight (7x7)
    depth = np.full((h, w), 50.0, np.float32)
    # 7 px is 3.5 % of this tiny frame's width: count blobs up to 8 px as point lights.
    config = dataclasses.replace(config, highlight_max_diameter_min_px=8.0)
    return render_frame(img, depth, 1.0, Lens(85.0, 1.4), config=config).astype(float)


def test_highlights_bloom_into_flat_discs_not_gaussian_smudges() -> None:
    out = _highlight_render(BIG)
    row = out[60, :, 0]
    r = BIG.max_coc_frac * 201 / 2  # the background blur is clamped at the maximum
    centre = row[100]
    assert centre > 100, "highlight did not bloom"
    # Flat top: at half the radius the disc keeps 90 % of its centre value (a Gaussian of the same
    # second moment, sigma = r / 2, keeps exp(-1/2) = 61 %), and it ends at the radius.
    assert row[100 + int(0.5 * r)] > 0.9 * centre and row[100 - int(0.5 * r)] > 0.9 * centre
    assert row[100 + int(r) + 6] < 20
    dim = _highlight_render(RenderConfig(highlight_peak=1.0, max_coc_frac=0.2))
    assert dim[60, 100, 0] < 0.6 * centre, "highlight boost had no effect"


def test_polygon_aperture_gives_polygonal_bokeh() -> None:
    hexa = _highlight_render(RenderConfig(blades=6, max_coc_frac=0.2))
    # Vertices on the x axis: the bloom reaches further horizontally than vertically.
    half = 0.5 * hexa[60, 100, 0]
    horiz = (hexa[60, :, 0] > half).sum()
    vert = (hexa[:, 100, 0] > half).sum()
    assert horiz > vert + 1, (horiz, vert)
    disc = _highlight_render(BIG)
    half = 0.5 * disc[60, 100, 0]
    assert abs(int((disc[60, :, 0] > half).sum()) - int((disc[:, 100, 0] > half).sum())) <= 1


# ------------------------------------------------------------------------------------------------
# Video path and depth upsampling
# ------------------------------------------------------------------------------------------------


def test_render_video_streams_in_order_with_per_frame_focus() -> None:
    h, w = 48, 80
    frames = [Frame(i, i / 25, _smooth_texture(h, w, seed=i)) for i in range(5)]
    depth_full = np.tile(np.linspace(0.8, 8.0, w, dtype=np.float32), (h, 1))
    focus = np.array([1.0, 1.5, 2.0, 3.0, 6.0], np.float32)
    fnum = np.array([1.4, 1.4, 2.0, 2.8, 1.4], np.float32)
    lens = Lens(50.0, 1.4)
    out = list(
        render_video(
            iter(frames), lambda fr: depth_full, focus, fnum, lens, batch_size=2, depth_upsample="bilinear"
        )
    )
    assert len(out) == 5
    for fr, got in zip(frames, out, strict=True):
        want = render_frame(fr.rgb, depth_full, float(focus[fr.index]), lens, f_number=float(fnum[fr.index]))
        np.testing.assert_array_equal(got, want)


def test_render_video_in_parallel_batches_gives_the_serial_output_in_order() -> None:
    h, w = 40, 64
    frames = [Frame(i, i / 25, _smooth_texture(h, w, seed=i)) for i in range(11)]
    depth_lo = np.tile(np.linspace(0.8, 8.0, w // 2, dtype=np.float32), (h // 2, 1))
    focus = np.linspace(1.0, 6.0, 11).astype(np.float32)
    fnum = np.full(11, 1.4, np.float32)
    reads: list[int] = []

    def depth_at(fr: Frame) -> np.ndarray:
        reads.append(fr.index)
        return depth_lo + 0.1 * fr.index

    def run(workers: int) -> list[np.ndarray]:
        return list(
            render_video(iter(frames), depth_at, focus, fnum, Lens(50.0, 1.4), batch_size=2, workers=workers)
        )

    serial = run(1)
    reads.clear()
    for workers in (2, 3):
        got = run(workers)
        assert len(got) == 11
        for a, b in zip(serial, got, strict=True):
            np.testing.assert_array_equal(a, b)
        assert reads == list(range(11))  # depth read once per frame, in order, on the caller's thread
        reads.clear()
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run(0)


def test_render_video_in_parallel_raises_a_batch_error_and_stops_early() -> None:
    frames = [Frame(i, i / 25, np.full((8, 8, 3), 100, np.uint8)) for i in range(8)]
    ok = np.ones(8, np.float32)
    calls: list[int] = []

    def bad_renderer(lin, depth, focus, fnum, lens, config):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("kernel failed")
        return lin

    with pytest.raises(RuntimeError, match="kernel failed"):
        list(render_video(iter(frames), lambda f: np.ones((8, 8), np.float32), ok, ok, Lens(),
                          batch_size=1, workers=2, renderer=bad_renderer))  # fmt: skip
    stream = render_video(iter(frames), lambda f: np.ones((8, 8), np.float32), ok, ok, Lens(), batch_size=1,
                          workers=2, renderer=lambda lin, *a: lin)  # fmt: skip
    first = next(stream)
    stream.close()  # the consumer stops: the pool shuts down, nothing is left running
    assert first.shape == (8, 8, 3)


def test_render_video_rejects_bad_inputs() -> None:
    fr = Frame(0, 0.0, np.zeros((8, 8, 3), np.uint8))
    ok = np.ones(1, np.float32)
    with pytest.raises(ValueError, match="expected finite positive metres"):
        list(render_video([fr], lambda f: np.zeros((8, 8), np.float32), ok, ok, Lens()))
    with pytest.raises(ValueError, match="out of range"):
        list(render_video([Frame(3, 0.0, fr.rgb)], lambda f: np.ones((8, 8), np.float32), ok, ok, Lens()))
    with pytest.raises(ValueError, match=r"expected shape \(8, 8\)"):
        render_frame(fr.rgb, np.ones((4, 8), np.float32), 1.0, Lens())


def test_guided_depth_upsampling_snaps_edges_to_the_image() -> None:
    h, w, s = 64, 64, 8
    img = np.zeros((h, w, 3), np.float32)
    img[:, 27:] = 1.0  # image edge at x = 27 (not on the low-res grid)
    depth_full = np.where(np.arange(w) >= 27, 1.0, 5.0).astype(np.float32)[None].repeat(h, 0)
    depth_lo = cv2.resize(depth_full, (w // s, h // s), interpolation=cv2.INTER_AREA)
    lo = torch.from_numpy(depth_lo)[None, None]
    guide = luma_u8(torch.from_numpy((img * 255).astype(np.uint8))[None])
    assert guide.shape == (1, 1, h, w) and float(guide.max()) == pytest.approx(1.0)
    guided = upsample_depth(lo, (h, w), guide, method="guided", eps=1e-4)[0, 0].numpy()
    bilinear = upsample_depth(lo, (h, w), method="bilinear")[0, 0].numpy()
    err_g = np.abs(1 / guided - 1 / depth_full).mean()
    err_b = np.abs(1 / bilinear - 1 / depth_full).mean()
    assert err_g < 0.5 * err_b, (err_g, err_b)
    assert guided.shape == (h, w) and np.all(np.isfinite(guided))


# ------------------------------------------------------------------------------------------------
# Layer bookkeeping and the physical reference
# ------------------------------------------------------------------------------------------------


def test_occupied_layers_cover_every_layer_with_alpha() -> None:
    radii = layer_radii_px(20.0, RenderConfig())
    s = [-r for r in reversed(radii)] + [0.0] + radii
    rng = np.random.default_rng(0)
    for values in (rng.uniform(-20, 20, 50), np.array([0.0, 3.0, -20.0]), np.array([s[3] + 1e-4])):
        c = torch.tensor(values, dtype=torch.float32)
        occupied = _occupied_layers(c, s)
        needed = {j for j in range(len(s)) if bool((_layer_alpha(c, s, j) > 0).any())}
        assert needed <= occupied, (needed - occupied, values)
    assert _occupied_layers(torch.zeros(10), s) <= {len(radii) - 1, len(radii), len(radii) + 1}


def _reference_planes(h: int, w: int, margin: int) -> list[ScenePlane]:
    rng = np.random.default_rng(7)
    hh, ww = h + 2 * margin, w + 2 * margin
    tex = lambda: cv2.GaussianBlur(rng.random((hh, ww, 3)).astype(np.float32), (0, 0), 1.0)  # noqa: E731
    bg = ScenePlane(np.dstack([tex() * 0.8, np.ones((hh, ww), np.float32)]), 10.0)
    a = np.zeros((hh, ww), np.float32)
    a[margin + 20 : margin + 70, margin + 40 : margin + 90] = 1.0
    a[margin + 5 : margin + 20, margin + 50 : margin + 80 : 6] = 1.0  # hair
    subject = ScenePlane(np.dstack([0.2 + tex() * 0.6, a]), 1.0)
    f = np.zeros((hh, ww), np.float32)
    f[:, : margin + 45] = 1.0
    fg = ScenePlane(np.dstack([tex() * 0.3, f]), 0.45)
    return [bg, subject, fg]


def test_reference_of_one_off_focus_plane_is_a_disc_blur() -> None:
    h, w, margin = 60, 100, 16
    lens = Lens(85.0, 1.4)
    plane = _reference_planes(h, w, margin)[0]
    ref = render_reference([plane], 1.0, lens, margin)
    r = float(coc_px(np.float32(10.0), 1.0, lens, w)) / 2
    disc = cv2.filter2D(plane.rgba[..., :3], -1, aperture_kernel_np(r).astype(np.float32))
    np.testing.assert_allclose(ref, disc[margin:-margin, margin:-margin], atol=0.02)


def test_layered_beats_naive_against_the_physical_reference() -> None:
    h, w, margin = 90, 140, 16
    lens, cfg = Lens(85.0, 1.4), RenderConfig(max_coc_frac=0.2)
    planes = _reference_planes(h, w, margin)
    lin, depth = centre_view(planes, margin)
    lin_t = torch.from_numpy(np.ascontiguousarray(lin)).permute(2, 0, 1)[None]
    img = encode_uint8(lin_t)[0].numpy()
    ref = encode_uint8(torch.from_numpy(render_reference(planes, 1.0, lens, margin)).permute(2, 0, 1)[None])
    ref = ref[0].numpy().astype(float)
    ours = render_frame(img, depth, 1.0, lens, config=cfg).astype(float)
    naive_lin = render_naive_torch(
        decode_uint8(torch.from_numpy(img)[None]), torch.from_numpy(depth)[None, None],
        torch.tensor([1.0]), torch.tensor([1.4]), lens, cfg,
    )  # fmt: skip
    naive = encode_uint8(naive_lin)[0].numpy().astype(float)
    rmse = lambda x: float(np.sqrt(np.mean((x - ref) ** 2)))  # noqa: E731
    assert rmse(ours) < 0.8 * rmse(naive), (rmse(ours), rmse(naive))


@pytest.mark.parametrize("fg_depth_m", [0.45, 0.5, 0.6])
def test_blurred_foreground_silhouette_is_not_fattened(fg_depth_m: float) -> None:
    """A black foreground over an in-focus white plane: in linear light the blurred edge passes
    50 % exactly at the silhouette (x = 99.5), whatever its radius falls between two layers."""
    h, w = 40, 200
    img = np.full((h, w, 3), 255, np.uint8)
    img[:, :100] = 0
    depth = np.full((h, w), 1.0, np.float32)
    depth[:, :100] = fg_depth_m
    lin = decode_uint8(torch.from_numpy(img)[None])
    cfg = RenderConfig(max_coc_frac=0.2, highlight_peak=1.0)
    out = render_frame_torch(lin, torch.from_numpy(depth)[None, None], torch.tensor([1.0]),
                             torch.tensor([1.4]), Lens(85.0, 1.4), cfg)  # fmt: skip
    row = out[0, 0, 20].numpy()
    x50 = np.interp(0.5, row[60:140], np.arange(60, 140))
    assert abs(x50 - 99.5) < 0.3, x50


def test_slanted_foreground_surface_has_no_seams() -> None:
    """A uniform surface whose depth ramps through many foreground layers covers everything
    (hat-weighted layers composited with "over" alone leave seams of ~10 codes here)."""
    h, w = 40, 200
    img = np.full((h, w, 3), 60, np.uint8)
    depth = np.tile(np.linspace(0.35, 0.95, w, dtype=np.float32), (h, 1))
    img[:, :, 0] = 200  # reddish surface; the in-focus plane behind it never shows
    out = render_frame(img, depth, 1.0, Lens(85.0, 1.4), config=RenderConfig(max_coc_frac=0.2))
    np.testing.assert_allclose(out.astype(int), img.astype(int), atol=3)


# ------------------------------------------------------------------------------------------------
# CPU fast path (OpenCV) against the torch path and hand-computed references
# ------------------------------------------------------------------------------------------------


def _correlate_zero_padded(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same' correlation by its definition: sum of shifted copies of the zero-padded input."""
    kh, kw = k.shape
    h, w = a.shape
    p = np.zeros((h + kh - 1, w + kw - 1))
    p[kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w] = a
    return sum(k[i, j] * p[i : i + h, j : j + w] for i in range(kh) for j in range(kw))


@pytest.mark.parametrize(
    ("radius_px", "blades"), [(1.2, 0), (5.6, 0), (8.5, 0), (8.5, 3), (6.3, 6), (13.0, 0)]
)
def test_banded_filter_equals_direct_correlation(radius_px: float, blades: int) -> None:
    # 13x13 to 19x19 kernels go through row bands (a triangle has empty rows); others straight.
    k = aperture_kernel_np(radius_px, blades, 10.0).astype(np.float32)
    a = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    out = np.full_like(a, np.nan)
    _filter2d_direct(a, k, out)
    np.testing.assert_allclose(out, _correlate_zero_padded(a, k), rtol=0, atol=2e-6)


def test_cpu_encode_equals_the_table_definition() -> None:
    x = torch.from_numpy(np.random.default_rng(1).uniform(-0.1, 1.1, (2, 3, 17, 29)).astype(np.float32))
    idx = (x.permute(0, 2, 3, 1).clamp(0.0, 1.0) * 65535 + 0.5).long()  # the CUDA path's formula
    expected = torch.take(_encode_lut(torch.device("cpu")), idx)
    assert torch.equal(encode_uint8(x), expected)
    assert torch.equal(encode_uint8(x.contiguous(memory_format=torch.channels_last)), expected)


@pytest.mark.parametrize(("h", "w"), [(120, 240), (121, 241)])
def test_opencv_cpu_path_matches_torch_path(monkeypatch, h: int, w: int) -> None:
    """OpenCV pooling, resizing, padding and filtering (CPU float32) give the torch ops' image.

    Background ramp through every layer, an in-focus subject, a near foreground bar; radii up to
    30 px so the coarsest levels and the banded large kernels run; odd sizes pool via torch."""
    img = _smooth_texture(h, w, seed=3, sigma=1.0)
    depth = np.tile(np.geomspace(0.4, 30.0, w, dtype=np.float32), (h, 1))
    depth[h // 4 :, w // 3 : w // 2] = 2.0
    depth[:, w // 10 : w // 6] = 0.6
    args = (
        decode_uint8(torch.from_numpy(img)[None]), torch.from_numpy(depth)[None, None],
        torch.tensor([2.0]), torch.tensor([1.4]), Lens(50.0, 1.4),
    )  # fmt: skip
    for cfg in (RenderConfig(max_coc_frac=0.25), RenderConfig(max_coc_frac=0.25, blades=6)):
        fast = render_frame_torch(*args, cfg)
        with monkeypatch.context() as m:
            m.setattr(layered, "USE_OPENCV_ON_CPU", False)
            slow = render_frame_torch(*args, cfg)
        assert float((fast - args[0]).abs().max()) > 0.1  # the scene is really blurred
        torch.testing.assert_close(fast, slow, rtol=0, atol=1e-4)


def test_guided_depth_upsampling_opencv_path_matches_torch_path(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    depth = torch.from_numpy(rng.uniform(0.5, 20.0, (2, 1, 23, 37)).astype(np.float32))
    rgb = torch.from_numpy(rng.integers(0, 256, (2, 93, 150, 3), dtype=np.uint8))
    fast = upsample_depth(depth, (93, 150), luma_u8(rgb), radius_px=3)
    monkeypatch.setattr(layered, "USE_OPENCV_ON_CPU", False)
    slow = upsample_depth(depth, (93, 150), luma_u8(rgb), radius_px=3)
    assert float((fast.amax() - fast.amin()) / fast.amin()) > 1.0  # depth really varies
    torch.testing.assert_close(fast, slow, rtol=1e-3, atol=0)  # guided filter: var = E[I²] − E[I]²


@pytest.mark.parametrize(("h", "w", "factor"), [(6, 10, 2), (7, 9, 2), (8, 12, 4), (9, 13, 4)])
def test_opencv_pooling_averages_what_each_window_covers(h: int, w: int, factor: int) -> None:
    x = torch.from_numpy(np.random.default_rng(5).random((2, 3, h, w)).astype(np.float32))
    hh, ww = -(-h // factor), -(-w // factor)
    expected = torch.zeros(2, 3, hh, ww)
    for i in range(hh):  # mean over the window's pixels inside the image (partial at the ends)
        for j in range(ww):
            window = x[..., i * factor : (i + 1) * factor, j * factor : (j + 1) * factor]
            expected[..., i, j] = window.mean((-2, -1))
    torch.testing.assert_close(layered._pool(x, factor), expected, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Highlights: only clipped light blooms
# ------------------------------------------------------------------------------------------------


DEFAULT_RENDER = RenderConfig()


def _gain(img_u8: np.ndarray, config: RenderConfig = DEFAULT_RENDER) -> np.ndarray:
    lin = decode_uint8(torch.from_numpy(img_u8)[None])
    g = layered.clipped_light_gain(lin, config)
    return np.ones(img_u8.shape[:2]) if g is None else g[0, 0].numpy()


def test_small_clipped_lights_are_boosted_and_dim_ones_are_not() -> None:
    img = np.full((120, 200, 3), 20, np.uint8)
    img[30:33, 40:43] = 255  # clipped 3 px light
    img[60, 100] = (255, 255, 250)  # one clipped pixel, slightly off-white after the codec
    img[90:93, 150:153] = 200  # a bright but unclipped light: its radiance is known
    g = _gain(img)
    assert g[31, 41] == pytest.approx(DEFAULT_RENDER.highlight_peak, rel=1e-3)
    assert g[60, 100] > 0.8 * DEFAULT_RENDER.highlight_peak
    assert g[91, 151] == 1.0 and g[5, 5] == 1.0


def test_large_saturated_surfaces_never_glow() -> None:
    rng = np.random.default_rng(0)
    img = np.full((120, 200, 3), 30, np.uint8)
    img[20:100, 20:90] = (255, 8, 5)  # a saturated red body panel, clipped in red
    img[:, 110:] = rng.integers(235, 256, (120, 90, 3))  # a bright white wall clipping in patches
    g = _gain(img)
    assert g.max() == 1.0, np.argwhere(g > 1.0)[:5]


def test_a_light_against_a_bright_wall_is_not_taken_for_clipped_light() -> None:
    img = np.full((120, 200, 3), 215, np.uint8)
    img[60:62, 100:102] = 255
    assert _gain(img).max() == 1.0


def test_clipped_surface_blurs_without_spreading_light() -> None:
    """A large clipped surface behind focus keeps its brightness when blurred: the blurred
    frame's mean equals the input's (light is only redistributed), unlike a boost."""
    img = np.full((120, 200, 3), 40, np.uint8)
    img[30:90, 50:150] = 255
    depth = np.full((120, 200), 50.0, np.float32)
    out = render_frame(img, depth, 1.0, Lens(85.0, 1.4), config=BIG)
    lin_in = decode_uint8(torch.from_numpy(img)[None]).mean().item()
    lin_out = decode_uint8(torch.from_numpy(out)[None]).mean().item()
    assert lin_out == pytest.approx(lin_in, rel=0.02)


def _light_at(y: int, x: int, config: RenderConfig) -> np.ndarray:
    h, w = 241, 321
    img = np.full((h, w, 3), 10, np.uint8)
    img[y - 1 : y + 2, x - 1 : x + 2] = 255
    depth = np.full((h, w), 50.0, np.float32)
    cfg = dataclasses.replace(config, highlight_max_diameter_min_px=4.0)
    return render_frame(img, depth, 1.0, Lens(85.0, 1.4), config=cfg).astype(float)[..., 0]


def _extent(profile: np.ndarray) -> int:
    return int((profile > 0.5 * profile.max()).sum())


def test_cat_eye_cuts_bokeh_radially_toward_the_corners_only() -> None:
    cfg = RenderConfig(max_coc_frac=0.12, cat_eye=0.8)
    centre = _light_at(120, 160, cfg)
    assert abs(_extent(centre[120, :]) - _extent(centre[:, 160])) <= 1  # round at the centre
    edge = _light_at(120, 290, cfg)  # near the right edge: radial = horizontal
    radial, tangential = _extent(edge[120, 230:]), _extent(edge[60:180, 290])
    assert radial < 0.92 * tangential, (radial, tangential)
    mid = _light_at(120, 225, cfg)  # nearer the centre: cut less
    assert radial < _extent(mid[120, 165:285]) <= _extent(mid[60:180, 225]) + 1
    plain = _light_at(120, 290, RenderConfig(max_coc_frac=0.12))
    assert abs(_extent(plain[120, 230:]) - _extent(plain[60:180, 290])) <= 2  # frame edge: 2 px
    assert np.array_equal(_light_at(120, 160, RenderConfig(max_coc_frac=0.12, cat_eye=0.0)),
                          _light_at(120, 160, RenderConfig(max_coc_frac=0.12)))  # fmt: skip


@pytest.mark.parametrize("transfer", ["pq", "hlg", "srgb"])
def test_deep_codes_blur_in_the_linear_light_of_their_transfer(transfer: str) -> None:
    """A flat field of two alternating stripes far out of focus blurs to the mean of their LINEAR
    light (what a lens does), not the mean of their code values; codes stay 16-bit."""
    from autofocuspull.render.api import render_batch_u8
    from autofocuspull.render.color import from_linear, to_linear

    h, w = 64, 128
    codes = np.zeros((h, w, 3), np.uint16)
    codes[:, ::2] = 50000  # 1-px stripes: the blur sees their average
    codes[:, 1::2] = 10000
    depth = torch.full((1, 1, h, w), 50.0)
    out = render_batch_u8(
        [codes], depth, np.array([1.0], np.float32), np.array([1.4], np.float32), Lens(85.0, 1.4),
        RenderConfig(max_coc_frac=0.2), torch.device("cpu"), torch.float32, transfer=transfer,
    )[0]  # fmt: skip
    assert out.dtype == np.uint16
    lin = to_linear(torch.tensor([50000 / 65535, 10000 / 65535], dtype=torch.float64), transfer)
    expected = float(from_linear(lin.mean(), transfer)) * 65535
    got = float(out[h // 2, w // 4 : 3 * w // 4, 1].mean())
    assert got == pytest.approx(expected, rel=0.01), (got, expected, 30000)
