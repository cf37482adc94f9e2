"""Fidelity of the depth-of-field renderer against the physical reference on layered 2.5D scenes.

Each scene is a stack of textured fronto-parallel planes at known depths (background with HDR
highlights, an optional mid plane, a subject with one-pixel hair strands, an optional foreground
occluder). The reference accumulates pinhole views over the aperture
(:func:`autofocuspull.render.reference.render_reference`); the renderers only see the all-in-focus
centre view (uint8 sRGB, highlights clipped) and its depth map, as they would on real footage.

Compared: ``layered`` (this project's renderer) and ``naive`` (per-pixel Gaussian blur by CoC, no
occlusion handling). Metrics on uint8 sRGB: PSNR (dB), SSIM, and RMSE (8-bit codes) in a ±8 px band
around depth edges, where halos and lost edges live.

    python eval/bench_render_fidelity.py [--width 480] [--save-dir out/]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from autofocuspull.core.types import Lens
from autofocuspull.render import RenderConfig, render_frame, render_naive_torch
from autofocuspull.render.color import decode_uint8, encode_uint8
from autofocuspull.render.reference import ScenePlane, centre_view, render_reference

LENS = Lens(focal_length_mm=85.0, f_number=2.0)
CONFIG = RenderConfig(max_coc_frac=0.1)
EDGE_BAND_PX = 8


# ------------------------------------------------------------------------------------------------
# Scenes
# ------------------------------------------------------------------------------------------------


def _texture(h: int, w: int, rng: np.random.Generator, tint: tuple[float, float, float]) -> np.ndarray:
    """(h, w, 3) float32 linear texture: smooth colour field plus fine detail, in [0.02, 0.8]."""
    coarse = cv2.resize(rng.random((h // 16 + 2, w // 16 + 2, 3)).astype(np.float32), (w, h))
    fine = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.8)[..., None]
    tex = 0.55 * coarse + 0.45 * fine
    return np.clip(0.02 + 0.78 * tex * np.asarray(tint, np.float32), 0.0, 1.0)


def _plane(rgb: np.ndarray, alpha: np.ndarray, depth_m: float) -> ScenePlane:
    return ScenePlane(np.dstack([rgb, alpha]).astype(np.float32), depth_m)


def _subject_alpha(h: int, w: int, cx: int, with_hair: bool) -> np.ndarray:
    a = np.zeros((h, w), np.float32)
    head_r = h // 8
    cy = int(h * 0.42)
    cv2.ellipse(a, (cx, cy), (head_r, int(head_r * 1.25)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.rectangle(a, (cx - int(head_r * 1.8), cy + head_r), (cx + int(head_r * 1.8), h), 1.0, -1)
    if with_hair:
        for k in range(-6, 7):  # one-pixel strands fanning out of the head
            ang = np.pi / 2 + k * 0.12
            x0, y0 = cx + head_r * 0.7 * np.cos(ang), cy - head_r * 1.1 * np.sin(ang)
            x1, y1 = cx + head_r * 1.9 * np.cos(ang), cy - head_r * 2.1 * np.sin(ang)
            cv2.line(a, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, 1, cv2.LINE_8)
    return a


def build_scene(name: str, w: int, h: int, margin: int, seed: int) -> tuple[list[ScenePlane], float]:
    """Planes (canvas (h + 2·margin, w + 2·margin)) and the focus distance of scene ``name``."""
    rng = np.random.default_rng(seed)
    hh, ww = h + 2 * margin, w + 2 * margin
    bg = _texture(hh, ww, rng, (0.6, 0.8, 1.0))
    for _ in range(25):  # HDR highlights, clipped in the input image
        y, x = rng.integers(0, hh - 3), rng.integers(0, ww - 3)
        bg[y : y + 3, x : x + 3] = 4.0
    planes = [_plane(bg, np.ones((hh, ww), np.float32), 8.0)]
    cx = margin + w // 2
    subject = _plane(_texture(hh, ww, rng, (1.0, 0.75, 0.6)), _subject_alpha(hh, ww, cx, True), 1.5)
    planes.append(subject)
    if name in ("layers", "foreground"):
        fg_a = np.zeros((hh, ww), np.float32)
        cv2.ellipse(fg_a, (margin + w // 5, margin + int(h * 0.7)), (w // 7, h // 2), 10, 0, 360, 1.0, -1)
        planes.append(_plane(_texture(hh, ww, rng, (0.5, 1.0, 0.5)), fg_a, 0.7))
    if name == "layers":
        mid_a = np.zeros((hh, ww), np.float32)
        cv2.rectangle(mid_a, (margin + int(w * 0.7), margin + h // 6), (ww, margin + int(h * 0.8)), 1.0, -1)
        planes.append(_plane(_texture(hh, ww, rng, (1.0, 1.0, 0.5)), mid_a, 3.0))
    focus_m = 8.0 if name == "rack" else 1.5  # rack: focus on the background, subject blurred in front
    return planes, focus_m


SCENES = ("portrait", "foreground", "layers", "rack")


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 images (dB, peak 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB images (Gaussian window sigma 1.5, per channel, averaged)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def edge_band(depth_m: np.ndarray, band_px: int = EDGE_BAND_PX) -> np.ndarray:
    """(H, W) bool: pixels within ``band_px`` of a depth discontinuity."""
    k3 = np.ones((3, 3), np.uint8)
    edges = (cv2.dilate(depth_m, k3) - cv2.erode(depth_m, k3)) > 1e-3
    k = np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8)
    return cv2.dilate(edges.astype(np.uint8), k) > 0


def band_rmse(a: np.ndarray, b: np.ndarray, band: np.ndarray) -> float:
    """RMSE (8-bit codes) of two uint8 images inside ``band``."""
    d = a.astype(np.float64)[band] - b.astype(np.float64)[band]
    return float(np.sqrt(np.mean(d**2)))


# ------------------------------------------------------------------------------------------------
# Renderers under test
# ------------------------------------------------------------------------------------------------


def _naive(img: np.ndarray, depth: np.ndarray, focus_m: float) -> np.ndarray:
    lin = decode_uint8(torch.from_numpy(img)[None])
    d = torch.from_numpy(depth)[None, None]
    out = render_naive_torch(lin, d, torch.tensor([focus_m]), torch.tensor([LENS.f_number]), LENS, CONFIG)
    return encode_uint8(out)[0].numpy()


def _layered(img: np.ndarray, depth: np.ndarray, focus_m: float) -> np.ndarray:
    return render_frame(img, depth, focus_m, LENS, config=CONFIG)


RENDERERS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "naive": _naive,
    "layered": _layered,
}


def run(width: int, height: int, save_dir: Path | None, seed: int = 0) -> list[dict]:
    margin = int(CONFIG.max_coc_frac * width / 2) + 8
    rows = []
    for i, name in enumerate(SCENES):
        planes, focus_m = build_scene(name, width, height, margin, seed + i)
        lin, depth = centre_view(planes, margin)
        img = encode_uint8(torch.from_numpy(np.ascontiguousarray(lin)).permute(2, 0, 1)[None])[0].numpy()
        t0 = time.perf_counter()
        ref_lin = render_reference(planes, focus_m, LENS, margin)
        ref = encode_uint8(torch.from_numpy(ref_lin).permute(2, 0, 1)[None])[0].numpy()
        t_ref = time.perf_counter() - t0
        band = edge_band(depth)
        outs = {"input": img, "reference": ref}
        for rname, fn in RENDERERS.items():
            out = fn(img, depth, focus_m)
            outs[rname] = out
            rows.append(
                {
                    "scene": name,
                    "renderer": rname,
                    "psnr_db": psnr_db(out, ref),
                    "ssim": ssim(out, ref),
                    "edge_rmse": band_rmse(out, ref, band),
                    "reference_s": t_ref,
                }
            )
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            strip = np.concatenate([outs[k] for k in ("input", "reference", "layered", "naive")], axis=1)
            cv2.imwrite(str(save_dir / f"{name}.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        "| scene | renderer | PSNR dB | SSIM | edge-band RMSE |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        figs = f"{r['psnr_db']:.2f} | {r['ssim']:.4f} | {r['edge_rmse']:.2f}"
        lines.append(f"| {r['scene']} | {r['renderer']} | {figs} |")
    for rname in RENDERERS:
        sel = [r for r in rows if r["renderer"] == rname]
        lines.append(
            f"| **mean** | {rname} | {np.mean([r['psnr_db'] for r in sel]):.2f} | "
            f"{np.mean([r['ssim'] for r in sel]):.4f} | {np.mean([r['edge_rmse'] for r in sel]):.2f} |"
        )
    return "\n".join(lines)


def beats_baseline(rows: list[dict]) -> bool:
    """True when the layered renderer beats the naive one on every scene and every figure."""
    by = {(r["scene"], r["renderer"]): r for r in rows}
    scenes = {r["scene"] for r in rows}
    return all(
        by[(s, "layered")]["psnr_db"] > by[(s, "naive")]["psnr_db"]
        and by[(s, "layered")]["ssim"] > by[(s, "naive")]["ssim"]
        and by[(s, "layered")]["edge_rmse"] < by[(s, "naive")]["edge_rmse"]
        for s in scenes
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=320)
    ap.add_argument("--save-dir", type=Path, default=None, help="write input|reference|layered|naive PNGs")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    args = ap.parse_args()
    rows = run(args.width, args.height, args.save_dir)
    print(format_table(rows))
    ok = beats_baseline(rows)
    print(f"layered beats naive on every scene and figure: {ok}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
