"""Exports read back with their own libraries, the importers, and the export -> import round trip."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from autofocuspull.core.types import CueSeries, Lens, PlanInputs, SubjectTracks, VideoInfo
from autofocuspull.export import (
    ExportConfig,
    export_ae,
    export_csv,
    export_otio,
    export_resolve,
    keyframes_from_csv,
    keyframes_from_otio,
    save_keyframes,
)
from autofocuspull.export.common import depth_to_unit
from autofocuspull.export.scripts import KEY_TOLERANCE, focus_keys, thin_keys
from autofocuspull.export.timecode import (
    frames_to_timecode,
    timecode,
    timecode_to_frames,
    timecode_to_seconds,
)
from autofocuspull.plan import PlannerConfig, load_keyframes, plan_focus

FPS = 25
T = 250
A, B = 1, 2
CFG = PlannerConfig(mode="dialogue", switch_cost=0.3, min_hold_s=1.0, backchannel_s=0.5, merge_gap_s=0.2,
                    lead_s=0.3, max_pull_speed_dioptre_per_s=1.0, min_pull_s=0.2,
                    idle_weight=0.0)  # fmt: skip


def inputs(cuts_s=(8.0,)) -> PlanInputs:
    tr = SubjectTracks.allocate([A, B], ["person", "person"], T)
    tr.xyxy[0], tr.focus_xy[0], tr.distance_m[0] = (10, 10, 90, 90), (0.25, 0.3), 2.0
    tr.xyxy[1], tr.focus_xy[1], tr.distance_m[1] = (110, 10, 190, 90), (0.75, 0.3), 4.0
    t = np.arange(T) / FPS
    sp = np.zeros((2, T), np.float32)
    sp[0, t < 3.0] = 1
    sp[1, (t >= 4.0) & (t < 7.5)] = 1
    sp[0, t >= 8.5] = 1
    info = VideoInfo(path="clip.mp4", width=200, height=100, coded_width=200, coded_height=100,
                     rotation_deg=0, frame_rate=Fraction(FPS), time_base=Fraction(1, FPS), pts_s=t,
                     duration_s=T / FPS, codec="h264", container="mp4")  # fmt: skip
    cues = CueSeries(t, tr.track_id, sp.max(axis=0), sp, np.zeros((2, T), np.float32))
    return PlanInputs(info, tr, cues, list(cuts_s), "test-depth", background_m=10.0, lens=Lens(f_number=2.0))


@pytest.fixture
def plan():
    p = plan_focus(inputs(), CFG)
    assert [q.to_id for q in p.pulls] == [B, A]  # a rack to B at its first word, a cut back to A
    return p


# --------------------------------------------------------------------------------------------
# Timecode
# --------------------------------------------------------------------------------------------


def test_drop_frame_timecode_hand_values():
    ntsc = Fraction(30000, 1001)
    # frames 0 and 1 of every minute but each tenth do not exist at 29.97
    assert frames_to_timecode(1799, ntsc) == "00:00:59;29"
    assert frames_to_timecode(1800, ntsc) == "00:01:00;02"
    assert frames_to_timecode(17982, ntsc) == "00:10:00;00"  # 10 min = 17982 frames
    assert frames_to_timecode(107892, ntsc) == "01:00:00;00"
    assert frames_to_timecode(100, Fraction(25)) == "00:00:04:00"
    assert frames_to_timecode(1800, Fraction(60000, 1001)) == "00:00:30;00"  # 59.94 drops 4
    for n in (0, 1799, 1800, 1801, 17981, 17982, 35999, 107891):
        assert timecode_to_frames(frames_to_timecode(n, ntsc), ntsc) == n
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frames("00:01:00;01", ntsc)
    assert timecode(1.0, ntsc) == "00:00:01;00"  # t = 1.0 s is frame 30 (29.97)
    assert timecode_to_seconds("00:00:01;00", ntsc) == pytest.approx(30 * 1001 / 30000)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_one_row_per_frame_with_timecode_focus_subject_and_f_number(plan, tmp_path):
    plan.video["frame_rate"] = "30000/1001"
    plan.times_s = np.arange(T) * 1001 / 30000
    out = export_csv(plan, tmp_path / "focus.csv")
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == T and list(rows[0]) == ["t_s", "timecode", "focus_m", "subject", "f_number"]
    assert rows[30]["timecode"] == "00:00:01;00" and rows[29]["timecode"] == "00:00:00;29"
    assert_allclose([float(r["focus_m"]) for r in rows], plan.focus_m, atol=1e-4)
    assert_array_equal([int(r["subject"]) for r in rows], plan.subject_id)
    assert {r["f_number"] for r in rows} == {"2.000"}


# --------------------------------------------------------------------------------------------
# OpenTimelineIO
# --------------------------------------------------------------------------------------------


def test_otio_reads_back_with_a_marker_per_pull_and_cut_named_with_the_reason(plan, tmp_path):
    otio = pytest.importorskip("opentimelineio")
    out = export_otio(plan, tmp_path / "plan.otio")
    tl = otio.adapters.read_from_file(str(out))
    (clip,) = list(tl.find_clips())
    assert clip.media_reference.target_url == (Path("clip.mp4").resolve()).as_uri()
    assert clip.source_range.duration.to_frames() == T
    names = [m.name for m in clip.markers]
    assert names == [p.reason for p in plan.pulls]
    rack, cut = clip.markers
    assert rack.metadata["autofocuspull"]["kind"] == "pull" and cut.metadata["autofocuspull"]["kind"] == "cut"
    k0 = int(np.searchsorted(plan.times_s, plan.pulls[0].start_s - 1e-9))  # first frame of the pull
    assert rack.marked_range.start_time.to_seconds() == pytest.approx(plan.times_s[k0])
    assert rack.marked_range.duration.to_seconds() == pytest.approx(
        plan.pulls[0].end_s - plan.pulls[0].start_s, abs=1 / FPS
    )
    assert cut.marked_range.start_time.to_seconds() == pytest.approx(8.0)


@pytest.mark.parametrize(("suffix", "adapter"), [(".edl", "cmx_3600"), (".xml", "fcp_xml")])
def test_otio_editor_adapters_carry_the_markers(plan, tmp_path, suffix, adapter):
    otio = pytest.importorskip("opentimelineio")
    if adapter not in [a.name for a in otio.plugins.ActiveManifest().adapters]:
        pytest.skip(f"OTIO adapter {adapter} not installed (pip install 'autofocuspull[export]')")
    out = export_otio(plan, tmp_path / f"plan{suffix}")
    tl = otio.adapters.read_from_file(str(out), adapter_name=adapter)
    (clip,) = list(tl.find_clips())
    got = [m.name for m in clip.markers]
    assert len(got) == len(plan.pulls)
    assert all(a.upper().startswith(b.upper()[:20]) or b.upper().startswith(a.upper()[:20])
               for a, b in zip(got, [p.reason for p in plan.pulls], strict=True))  # fmt: skip


# --------------------------------------------------------------------------------------------
# After Effects and Resolve
# --------------------------------------------------------------------------------------------


def test_thinned_keys_reproduce_the_curve_within_tolerance(rng):
    t = np.linspace(0, 10, 500)
    v = np.sin(t) * 0.3 + 0.5 + rng.normal(0, 1e-4, 500)
    k = thin_keys(t, v, 1e-3)
    assert k[0] == 0 and k[-1] == 499 and len(k) < 100
    assert np.abs(np.interp(t, t[k], v[k]) - v).max() <= 1e-3 + 1e-12


def test_ae_script_parses_and_keys_focus_and_aperture(plan, tmp_path):
    out = export_ae(plan, tmp_path / "focus.jsx")
    text = out.read_text()
    assert "setValueAtTime" in text and "ADBE Camera Lens Blur" in text
    if shutil.which("node"):
        js = tmp_path / "focus.js"
        js.write_text(text)
        subprocess.run(["node", "--check", str(js)], check=True, capture_output=True)
    esprima = pytest.importorskip("esprima")
    tree = esprima.parseScript(text)
    decls = {}
    for d in tree.body[0].expression.callee.body.body:
        if d.type == "VariableDeclaration":
            for v in d.declarations:
                if v.init is not None and v.init.type == "ArrayExpression":
                    decls[v.id.name] = [[e.value for e in pair.elements] for pair in v.init.elements]
    focal = np.array(decls["FOCAL"])
    t = plan.times_s - plan.times_s[0]
    want = depth_to_unit(plan.focus_m, ExportConfig()) * 255
    assert np.abs(np.interp(t, focal[:, 0], focal[:, 1]) - want).max() <= KEY_TOLERANCE * 255 + 1e-3
    assert focal[0, 1] == pytest.approx(255 * 0.25 / 2.0, abs=1e-3)  # subject A at 2 m
    radius = np.array(decls["RADIUS"])
    # thin lens: 0.5 * (50/2 mm) * 0.05 m * 4 dioptres / 36 mm * 200 px
    assert radius[0, 1] == pytest.approx(0.5 * 25 * 0.05 * 4 / 36 * 200, rel=1e-3)


def test_fusion_setting_is_a_lua_table_with_keyed_depth_blur(plan, tmp_path):
    lupa = pytest.importorskip("lupa")
    out = export_resolve(plan, tmp_path / "focus.setting")
    lua = lupa.LuaRuntime()
    lua.execute("function ordered() return function(t) return t end end\n"
                "for _, n in ipairs({'DepthBlur', 'Input', 'BezierSpline', 'OperatorInfo'}) do\n"
                "  _G[n] = function(t) t.__type = n; return t end end")  # fmt: skip
    setting = lua.eval(out.read_text())
    tools = setting["Tools"]
    blur = tools["AutofocuspullDepthBlur"]
    assert blur["__type"] == "DepthBlur"
    spline = tools[blur["Inputs"]["FocalPoint"]["SourceOp"]]
    assert spline["__type"] == "BezierSpline"
    keys = {int(f): float(v[1]) for f, v in spline["KeyFrames"].items()}
    frames = np.array(sorted(keys))
    got = np.interp(np.arange(T), frames, [keys[f] for f in frames])
    assert np.abs(got - depth_to_unit(plan.focus_m, ExportConfig())).max() <= KEY_TOLERANCE + 1e-5
    assert tools[blur["Inputs"]["BlurSize"]["SourceOp"]]["__type"] == "BezierSpline"


def test_focus_keys_follow_an_f_number_change(plan):
    plan.f_number[50:] = 4.0
    _, radius = focus_keys(plan, ExportConfig())
    r = dict(radius)
    assert r[0.0] == pytest.approx(2 * r[max(r)], rel=1e-3)  # f/2 -> f/4 halves the radius


# --------------------------------------------------------------------------------------------
# Depth passes and mattes
# --------------------------------------------------------------------------------------------


def test_depth_png_16bit_and_exr_metres_read_back(tmp_path):
    import cv2

    from autofocuspull.export.passes import read_exr, write_depth_pass

    depth = np.array([[0.5, 1.0], [2.0, 100.0]], np.float32)
    n = write_depth_pass(tmp_path / "png", "depth-png", lambda i: depth * (i + 1), 2, (4, 4), "clip")
    assert n == 2
    png = cv2.imread(str(tmp_path / "png" / "clip_depth_000000.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (4, 4)
    assert png[0, 0] == 32768 and png[-1, -1] == round(65535 * 0.25 / 100)  # 0.25 m / d, full = 65535
    if pytest.importorskip("OpenEXR"):
        write_depth_pass(tmp_path / "exr", "depth-exr", lambda i: np.full((2, 2), 3.5, np.float32), 1, (3, 2),
                         "clip")  # fmt: skip
        z = read_exr(tmp_path / "exr" / "clip_depth_000000.exr")
        assert z.dtype == np.float32 and z.shape == (2, 3) and np.all(z == 3.5)
    with pytest.raises(Exception, match="new or empty folder"):
        write_depth_pass(tmp_path / "png", "depth-png", lambda i: depth, 1, (4, 4), "clip")


def test_mattes_per_subject_from_masks_or_boxes(plan, tmp_path):
    import cv2

    from autofocuspull.export.passes import write_mattes

    tr = plan.subjects
    tr.xyxy[1, 5:] = np.nan  # B leaves at frame 5

    def masks_at(t):
        m = np.zeros((2, 100, 200), bool)
        m[0, 20:40, 20:40] = True  # a person mask for A, none for B: B's matte is its box
        return m

    write_mattes(tmp_path / "m", tr, masks_at, (200, 100), "clip")
    a = cv2.imread(str(tmp_path / "m" / "subject_1" / "clip_matte_1_000003.png"), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / "m" / "subject_2" / "clip_matte_2_000003.png"), cv2.IMREAD_UNCHANGED)
    gone = cv2.imread(str(tmp_path / "m" / "subject_2" / "clip_matte_2_000007.png"), cv2.IMREAD_UNCHANGED)
    assert a.sum() == 255 * 400 and b[10:90, 110:190].min() == 255 and b.sum() == 255 * 80 * 80
    assert gone.max() == 0
    assert len(list((tmp_path / "m" / "subject_1").iterdir())) == T


# --------------------------------------------------------------------------------------------
# Importers and the round trip
# --------------------------------------------------------------------------------------------


def test_csv_decisions_import_with_times_timecodes_points_and_strengths(tmp_path):
    f = tmp_path / "decisions.csv"
    f.write_text("timecode,subject,x,y,strength\n00:00:01:05,2,,,weak\n00:00:03:00,background,,,\n"
                 "00:00:04:00,,0.4,0.6,strong\n")  # fmt: skip
    ks = keyframes_from_csv(f, Fraction(10))
    assert [(k.t_s, k.subject, k.point, k.strength) for k in ks] == [
        (1.5, 2, None, "weak"), (3.0, None, None, "strong"), (4.0, None, (0.4, 0.6), "strong")]  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,subject\n1.0,alice\n")
    with pytest.raises(Exception, match=r"bad.csv: line 2.subject"):
        keyframes_from_csv(bad)
    with pytest.raises(Exception, match="frame rate"):
        keyframes_from_csv(f)


def _replan(keyframe_path: Path):
    return plan_focus(inputs(), CFG, load_keyframes(keyframe_path))


@pytest.mark.parametrize("fmt", ["csv", "otio"])
def test_export_import_round_trip_reproduces_the_plan(plan, tmp_path, fmt):
    if fmt == "otio":
        pytest.importorskip("opentimelineio")
        ks, skipped = keyframes_from_otio(export_otio(plan, tmp_path / "p.otio"))
        assert skipped == []
    else:
        ks = keyframes_from_csv(export_csv(plan, tmp_path / "p.csv"))
    save_keyframes(ks, tmp_path / "k.json")
    assert json.loads((tmp_path / "k.json").read_text())[0].keys() == {"t_s", "subject", "point", "strength"}
    again = _replan(tmp_path / "k.json")
    assert_array_equal(again.subject_id, plan.subject_id)
    assert [p.to_id for p in again.pulls] == [p.to_id for p in plan.pulls]
    for p, q in zip(again.pulls, plan.pulls, strict=True):  # a pull starting between frames: its next one
        assert abs(p.start_s - q.start_s) < 1 / FPS
        assert p.end_s - p.start_s == pytest.approx(q.end_s - q.start_s)
    outside = np.ones(T, bool)
    for q in plan.pulls:
        outside &= ~((plan.times_s >= q.start_s - 1 / FPS) & (plan.times_s < q.end_s + 1 / FPS))
    assert_allclose(again.focus_m[outside], plan.focus_m[outside], rtol=1e-6)


def test_editor_markers_by_name_become_decisions(tmp_path):
    otio = pytest.importorskip("opentimelineio")
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    clip = otio.schema.Clip(name="c", media_reference=otio.schema.ExternalReference(
        target_url="file:///c.mp4", available_range=tr(rt(100, 10), rt(100, 10))))  # fmt: skip
    for frame, name in [(120, "focus person 2"), (150, "Background"), (160, "weak: #1"), (170, "nice shot")]:
        clip.markers.append(otio.schema.Marker(name=name, marked_range=tr(rt(frame, 10), rt(1, 10))))
    tl = otio.schema.Timeline()
    tl.tracks.append(otio.schema.Track())
    tl.tracks[0].append(clip)
    otio.adapters.write_to_file(tl, str(tmp_path / "e.otio"))
    ks, skipped = keyframes_from_otio(tmp_path / "e.otio")
    assert [(k.t_s, k.subject, k.strength) for k in ks] == [(2.0, 2, "strong"), (5.0, None, "strong"),
                                                            (6.0, 1, "weak")]  # fmt: skip
    assert skipped == ["nice shot"]


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_export_and_import_commands(plan, tmp_path, capsys):
    from autofocuspull.cli import main
    from autofocuspull.plan import save_plan

    plan_path = save_plan(plan, tmp_path / "p.json")
    for fmt, name in [("csv", "f.csv"), ("otio", "t.otio"), ("ae", "f.jsx"), ("resolve", "f.setting")]:
        assert main(["export", str(plan_path), "--to", fmt, "-o", str(tmp_path / name), "-q"]) == 0
        assert (tmp_path / name).stat().st_size > 100
    capsys.readouterr()
    assert main(["export", str(plan_path), "--to", "ae", "-o", str(tmp_path / "f.txt"), "-q"]) == 2
    assert "expects a file ending in .jsx" in capsys.readouterr().err
    assert (
        main(["import", str(tmp_path / "t.otio"), "-o", str(tmp_path / "k.json"), "--plan", str(plan_path)])
        == 0
    )
    assert [k["subject"] for k in json.loads((tmp_path / "k.json").read_text())] == [B, A]
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,subject\n1.0,7\n")
    capsys.readouterr()
    assert main(["import", str(bad), "-o", str(tmp_path / "k2.json"), "--plan", str(plan_path), "-q"]) == 2
    assert "names subject 7" in capsys.readouterr().err and not (tmp_path / "k2.json").exists()
