"""Editor scripts that key a depth-map lens blur with the plan's focus track.

- ``ae``: an After Effects ExtendScript (``.jsx``, File > Scripts > Run Script File) that adds
  Camera Lens Blur to the selected layer (else the first one) and keys its *Blur Focal Distance*
  (0-255 in depth-map units) and *Blur Radius* (the aperture) with ``setValueAtTime``; when the
  comp holds a layer named ``<clip>_depth`` (the exported 16-bit depth pass) it becomes the blur map.
- ``resolve``: a DaVinci Resolve / Fusion ``.setting`` (paste or drag into the Fusion page) with a
  Depth Blur tool whose *Focal Point* and *Blur Size* are animated by Bezier splines; feed its
  depth input with the exported depth pass.

Both use the depth pass's normalised-dioptre map (:class:`~.common.ExportConfig`), so the map value
at the focused subject is exactly the keyed focal distance, and the blur grows like a thin lens's
away from it. The blur radius for the map's full range (dioptre difference ``1 / depth_near_m``)
is the thin-lens circle of confusion ``(f / N) * f * (1 / near)`` (the ``s / (s - f)`` factor, under
1.1 beyond ten focal lengths, is left out) in pixels of the clip's width; half of it is the radius.

Keys are thinned by Ramer-Douglas-Peucker to ``KEY_TOLERANCE`` of the map's range: below the
8-bit step of After Effects' focal distance, so the keyed curve is the plan's to within what the
effect can show.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from autofocuspull.core.types import FocusPlan
from autofocuspull.export.common import ExportConfig, atomic_write_text, depth_to_unit, plan_rate
from autofocuspull.export.timecode import frame_number

KEY_TOLERANCE = 0.25 / 255  # a quarter of After Effects' 8-bit focal-distance step


def thin_keys(t: np.ndarray, v: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the samples to key so that linear interpolation between them stays within ``tol``
    of ``v`` everywhere (Ramer-Douglas-Peucker in value, iterative); first and last always kept."""
    n = len(v)
    if n <= 2:
        return np.arange(n)
    keep = np.zeros(n, bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        x = t[a + 1 : b]
        line = v[a] + (v[b] - v[a]) * (x - t[a]) / max(t[b] - t[a], 1e-12)
        err = np.abs(v[a + 1 : b] - line)
        k = int(np.argmax(err))
        if err[k] > tol:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return np.flatnonzero(keep)


def blur_radius_px(f_number: np.ndarray, plan: FocusPlan, cfg: ExportConfig) -> np.ndarray:
    """Blur radius (px) at the map's full range for each f-number (see module docstring)."""
    lens = plan.meta.get("lens") or {}
    f_mm = float(lens.get("focal_length_mm", 50.0))
    sensor_mm = float(lens.get("sensor_width_mm", 36.0))
    width_px = float(plan.video.get("width", 1920))
    coc_mm = (f_mm / np.asarray(f_number, np.float64)) * (f_mm / 1000.0) / cfg.depth_near_m
    return 0.5 * coc_mm / sensor_mm * width_px


def focus_keys(
    plan: FocusPlan, cfg: ExportConfig
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """([(t_s, focal distance 0..255)], [(t_s, blur radius px)]) after thinning."""
    t = plan.times_s - plan.times_s[0]
    unit = depth_to_unit(plan.focus_m, cfg)
    k = thin_keys(t, unit, KEY_TOLERANCE)
    focal = [(round(float(t[i]), 6), round(float(unit[i]) * 255.0, 4)) for i in k]
    radius = blur_radius_px(plan.f_number, plan, cfg)
    kr = thin_keys(t, radius, 0.05)
    blur = [(round(float(t[i]), 6), round(float(radius[i]), 3)) for i in kr]
    return focal, blur


def _clip_stem(plan: FocusPlan) -> str:
    return Path(str(plan.video.get("path") or "clip")).stem


AE_TEMPLATE = r"""// After Effects: focus track from autofocuspull (%(source)s)
// Run with File > Scripts > Run Script File. Adds Camera Lens Blur to the selected layer (or the
// first layer) and keys Blur Focal Distance and Blur Radius. Import the depth pass
// (%(stem)s_depth PNG sequence) into the comp as a layer named "%(stem)s_depth" to use it as the blur map.
(function () {
    var FOCAL = %(focal)s;   // [seconds from the clip's first frame, focal distance 0..255]
    var RADIUS = %(radius)s; // [seconds, blur radius in pixels for the map's full range]
    var DEPTH_LAYER = %(depth_layer)s;

    function findProp(group, name) {
        for (var i = 1; i <= group.numProperties; i++) {
            var p = group.property(i);
            if (p.name === name || p.matchName === name) { return p; }
            if (p.numProperties) { var q = findProp(p, name); if (q) { return q; } }
        }
        return null;
    }
    function keyAll(prop, keys, t0) {
        for (var i = 0; i < keys.length; i++) { prop.setValueAtTime(t0 + keys[i][0], keys[i][1]); }
        for (var k = 1; k <= prop.numKeys; k++) {
            prop.setInterpolationTypeAtKey(k, KeyframeInterpolationType.LINEAR);
        }
    }

    var comp = app.project.activeItem;
    if (!(comp && comp instanceof CompItem)) { alert("autofocuspull: open a composition first"); return; }
    var layer = comp.selectedLayers.length ? comp.selectedLayers[0] : comp.layer(1);
    app.beginUndoGroup("autofocuspull focus track");
    try {
        var fx = layer.property("ADBE Effect Parade").addProperty("ADBE Camera Lens Blur");
        var focal = findProp(fx, "Blur Focal Distance");
        var radius = findProp(fx, "Blur Radius");
        if (!focal || !radius) {
            throw new Error("Camera Lens Blur has no Blur Focal Distance / Blur Radius");
        }
        keyAll(focal, FOCAL, layer.startTime);
        keyAll(radius, RADIUS, layer.startTime);
        for (var i = 1; i <= comp.numLayers; i++) {
            if (comp.layer(i).name === DEPTH_LAYER) {
                var mapLayer = findProp(fx, "Layer");
                if (mapLayer) { mapLayer.setValue(i); }
                comp.layer(i).enabled = false;
            }
        }
    } catch (e) {
        alert("autofocuspull: " + e.message);
    } finally {
        app.endUndoGroup();
    }
})();
"""


def plan_to_ae(plan: FocusPlan, cfg: ExportConfig | None = None) -> str:
    """The After Effects ExtendScript text (see module docstring)."""
    cfg = cfg or ExportConfig()
    focal, radius = focus_keys(plan, cfg)
    stem = _clip_stem(plan)
    return AE_TEMPLATE % {
        "source": str(plan.video.get("path", "")).replace("\n", " "),
        "stem": stem,
        "focal": json.dumps(focal, separators=(",", ":")),
        "radius": json.dumps(radius, separators=(",", ":")),
        "depth_layer": json.dumps(f"{stem}_depth"),
    }


def _spline(name: str, keys: list[tuple[int, float]], color: tuple[int, int, int]) -> str:
    body = "\n".join(f"\t\t\t\t[{f}] = {{ {v!r}, Flags = {{ Linear = true }} }}," for f, v in keys)
    r, g, b = color
    return (
        f"\t\t{name} = BezierSpline {{\n"
        f"\t\t\tSplineColor = {{ Red = {r}, Green = {g}, Blue = {b} }},\n"
        f"\t\t\tKeyFrames = {{\n{body}\n\t\t\t}}\n\t\t}},"
    )


def plan_to_fusion(plan: FocusPlan, cfg: ExportConfig | None = None) -> str:
    """A Fusion ``.setting`` (Lua table) with a Depth Blur keyed by the plan, at the clip's frames:
    ``FocalPoint`` in normalised dioptres (0..1, the depth pass's values), ``BlurSize`` in pixels."""
    cfg = cfg or ExportConfig()
    rate = plan_rate(plan)
    focal, radius = focus_keys(plan, cfg)
    fk = [(frame_number(t, rate), round(v / 255.0, 6)) for t, v in focal]
    rk = [(frame_number(t, rate), v) for t, v in radius]
    tool = "AutofocuspullDepthBlur"
    return (
        "{\n\tTools = ordered() {\n"
        f"\t\t{tool} = DepthBlur {{\n"
        "\t\t\tInputs = {\n"
        f'\t\t\t\tFocalPoint = Input {{ SourceOp = "{tool}FocalPoint", Source = "Value", }},\n'
        f'\t\t\t\tBlurSize = Input {{ SourceOp = "{tool}BlurSize", Source = "Value", }},\n'
        "\t\t\t},\n"
        "\t\t\tViewInfo = OperatorInfo { Pos = { 0, 0 } },\n"
        f"\t\t\tComments = {json.dumps('autofocuspull focus track of ' + str(plan.video.get('path', '')))},\n"
        "\t\t},\n"
        + _spline(f"{tool}FocalPoint", fk, (255, 200, 0))
        + "\n"
        + _spline(f"{tool}BlurSize", rk, (0, 200, 255))
        + "\n\t},\n}\n"
    )


def export_ae(plan: FocusPlan, out: str | os.PathLike[str], cfg: ExportConfig | None = None) -> Path:
    return atomic_write_text(out, plan_to_ae(plan, cfg))


def export_resolve(plan: FocusPlan, out: str | os.PathLike[str], cfg: ExportConfig | None = None) -> Path:
    return atomic_write_text(out, plan_to_fusion(plan, cfg))
