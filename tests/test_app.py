"""The web app: its API (edits, saved files, re-rendered spans, refusals) on a generated clip with a
hand-made analysis, and a real headless Chromium clicking a subject and dragging a pull."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from autofocuspull.app import AppServer, AppSession, default_paths
from autofocuspull.app.session import AppConfig
from autofocuspull.core.types import CueSeries, Lens, SubjectTracks
from autofocuspull.io import probe
from autofocuspull.io.synth import write_clip
from autofocuspull.pipeline import Analysis, RackConfig
from autofocuspull.plan import PlannerConfig

FPS, T, W, H = 25, 100, 160, 90
A, B = 1, 2  # A at 2 m on the left speaks first, B at 4 m on the right answers at 2.0 s


class _Depth:
    """Left half 2 m, right half 4 m (metres per pixel, at a quarter of the frame's size)."""

    def depth_m_at(self, k: int) -> np.ndarray:
        d = np.full((H // 2, W // 2), 4.0, np.float32)
        d[:, : W // 4] = 2.0
        return d


def _analysis(clip: Path) -> Analysis:
    info = probe(clip)
    tr = SubjectTracks.allocate([A, B], ["person", "person"], T)
    tr.xyxy[0], tr.focus_xy[0], tr.distance_m[0] = (10, 20, 60, 80), (35 / W, 40 / H), 2.0
    tr.xyxy[1], tr.focus_xy[1], tr.distance_m[1] = (100, 20, 150, 80), (125 / W, 40 / H), 4.0
    tr.confidence[:] = 1.0
    t = info.pts_s
    sp = np.zeros((2, T), np.float32)
    sp[0, t < 1.8] = 1
    sp[1, t >= 2.0] = 1
    cues = CueSeries(t, tr.track_id, sp.max(axis=0), sp, np.zeros((2, T), np.float32))
    return Analysis(info, tr, [], cues, _Depth(), "test-depth")


def _clip(folder: Path) -> Path:
    yy, xx = np.mgrid[0:H, 0:W]
    frames = []
    for k in range(T):
        f = np.zeros((H, W, 3), np.uint8)
        f[..., 0] = (xx * 255 // W).astype(np.uint8)
        f[..., 1] = ((xx + yy + k) % 16 * 16).astype(np.uint8)  # texture that blur visibly changes
        frames.append(f)
    p = folder / "talk.mp4"
    write_clip(p, frames, rate=Fraction(FPS))
    return p


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    clip = _clip(folder)
    plan_path, kf_path = default_paths(clip, None)
    # the spans below are hand-computed for this synthetic dialogue with a 0.5 switch cost (pinned:
    # the shipped default is the graded set's fit and may move)
    cfg = RackConfig(planner=PlannerConfig(mode="dialogue", switch_cost=0.5), lens=Lens(f_number=2.0))
    session = AppSession(
        clip, _analysis(clip), cfg, plan_path, kf_path, app_config=AppConfig(preview_max_side_px=W)
    )
    server = AppServer(session, "127.0.0.1", 0)
    server.serve_in_thread()
    yield server
    server.shutdown()
    server.server_close()
    session.stop()


def call(server, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    h = {"Host": f"127.0.0.1:{server.port}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    c.close()
    ctype = r.getheader("Content-Type", "")
    return r.status, (json.loads(raw) if ctype.startswith("application/json") else raw)


def wait_rendered(server, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, st = call(server, "GET", "/api/status")
        if st["span_rendered"] >= st["span"][1] - st["span"][0]:
            return st
        time.sleep(0.1)
    raise AssertionError(f"span not re-rendered in {timeout_s} s: {st}")


def saved(server):
    return json.loads(server.session.plan_path.read_text())


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def test_plan_is_served_and_saved_beside_the_clip(app):
    code, plan = call(app, "GET", "/api/plan")
    assert code == 200 and plan["format"] == "autofocuspull.plan/1" and len(plan["frames"]) == T
    assert app.session.plan_path == app.session.folder / "talk.plan.json"
    assert saved(app)["frames"] == plan["frames"]
    assert [p["to"] for p in plan["pulls"]] == [B]  # the rack to B when B answers
    code, page = call(app, "GET", "/")
    assert code == 200 and b"/static/app.js" in page
    code, img = call(app, "GET", "/api/preview/3.jpg")
    assert code == 200 and img[:2] == b"\xff\xd8"


def test_a_click_adds_a_decision_saves_it_and_rerenders_only_the_changed_span(app):
    s = app.session
    before = {k: call(app, "GET", f"/api/preview/{k}.jpg")[1] for k in (0, 5, 30)}
    code, r = call(app, "POST", "/api/decision", {"t_s": 0.4, "subject": B, "strength": "strong"})
    assert code == 200
    a, b = r["span"]
    assert a == 10 and b <= T  # from the decision on; nothing before it changed
    plan = saved(app)
    assert [f["subject"] for f in plan["frames"][10:]] == [B] * (T - 10)
    assert json.loads(s.keyframes_path.read_text()) == [
        {"t_s": 0.4, "subject": B, "point": None, "strength": "strong"}]  # fmt: skip
    st = wait_rendered(app)
    assert st["span"] == [a, b] and st["span_rendered"] == b - a
    assert s.preview[0][0] == 0 and s.preview[5][0] == 0  # untouched frames were not re-rendered
    assert all(s.preview[k][0] == r["version"] for k in range(a, b))
    assert call(app, "GET", "/api/preview/5.jpg")[1] == before[5]
    assert plan["frames"][30]["focus_m"] == pytest.approx(4.0)  # was A at 2 m
    assert call(app, "GET", "/api/preview/30.jpg")[1] != before[30]


def test_dragging_a_pull_moves_it_and_survives_a_later_decision(app):
    s = app.session
    p0 = saved(app)["pulls"][0]
    code, r = call(app, "POST", "/api/pull", {"index": 0, "start_s": p0["start_s"] - 0.4,
                                              "end_s": p0["end_s"] + 0.2})  # fmt: skip
    assert code == 200
    p1 = saved(app)["pulls"][0]
    assert p1["start_s"] == pytest.approx(p0["start_s"] - 0.4) and p1["end_s"] == pytest.approx(
        p0["end_s"] + 0.2
    )
    a, b = r["span"]
    first = lambda t_s: int(np.ceil(t_s * FPS - 1e-6))  # noqa: E731 (first frame at or after t_s)
    assert a == first(p0["start_s"] - 0.4) and b == first(p0["end_s"] + 0.2)
    f = saved(app)["frames"]
    assert f[a - 1]["focus_m"] == pytest.approx(2.0) and f[b]["focus_m"] == pytest.approx(4.0)
    focus = [fr["focus_m"] for fr in f[a:b]]
    assert all(2.0 <= x <= 4.0 for x in focus) and focus == sorted(focus)  # one monotonic rack
    wait_rendered(app)
    # a decision elsewhere re-plans; the drag is re-applied
    call(app, "POST", "/api/decision", {"t_s": 3.6, "subject": A, "strength": "strong"})
    assert saved(app)["pulls"][0]["start_s"] == pytest.approx(p0["start_s"] - 0.4)
    assert saved(app)["meta"]["edits"]["pulls"][0]["start_s"] == pytest.approx(p0["start_s"] - 0.4)
    # reopening the plan file keeps the edits and the decisions
    small = AppConfig(preview_max_side_px=W)
    again = AppSession(s.clip, s.analysis, s.cfg, s.plan_path, s.keyframes_path, _load(s.plan_path),
                       s.keyframes, app_config=small)  # fmt: skip
    again.stop()
    assert len(again.retimes) == 1 and again.plan.pulls[0].start_s == pytest.approx(p0["start_s"] - 0.4)


def _load(path):
    from autofocuspull.plan import load_plan

    return load_plan(path)


def test_removing_a_decision_restores_the_automatic_plan(app):
    auto = saved(app)["frames"]
    _, r = call(app, "POST", "/api/decision", {"t_s": 0.4, "subject": B, "strength": "weak"})
    assert r["span"][0] == 10 and saved(app)["frames"] != auto
    code, r2 = call(app, "POST", "/api/decision/remove", {"index": 0})
    assert code == 200 and r2["span"] == r["span"] and saved(app)["frames"] == auto
    assert json.loads(app.session.keyframes_path.read_text()) == []


def test_aperture_change_keys_the_f_number_and_rerenders_that_range(app):
    code, r = call(app, "POST", "/api/aperture", {"f_number": 5.6, "start_s": 2.0, "end_s": 3.0})
    assert code == 200 and r["span"] == [50, 75]
    fn = [f["f_number"] for f in saved(app)["frames"]]
    assert fn[49] == 2.0 and fn[50:75] == [5.6] * 25 and fn[75] == 2.0
    assert wait_rendered(app)["span_rendered"] == 25


def test_bad_edits_get_a_reason(app):
    code, r = call(app, "POST", "/api/decision", {"t_s": 1.0, "subject": 99})
    assert code == 400 and "subject 99" in r["error"]
    code, r = call(app, "POST", "/api/pull", {"index": 5, "start_s": 1, "end_s": 2})
    assert code == 400 and "pull 5" in r["error"]
    code, r = call(app, "POST", "/api/aperture", {"f_number": -1})
    assert code == 400 and "f_number" in r["error"]
    code, r = call(app, "POST", "/api/decision", {"t_s": 99.0, "subject": A})
    assert code == 400 and "outside the clip" in r["error"]


def test_exports_from_the_app_land_in_the_clips_folder(app):
    code, r = call(app, "POST", "/api/export", {"to": "csv", "name": "talk.csv"})
    assert code == 200 and (app.session.folder / "talk.csv").is_file()
    code, body = call(app, "GET", f"/{r['url'].lstrip('/')}")
    assert code == 200 and body.startswith(b"t_s,timecode,focus_m,subject,f_number")


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example:80"}, 403),  # DNS rebinding: a foreign name resolving to 127.0.0.1
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "http://localhost:1"}, 403),  # another port is another origin
    ],
)
def test_requests_from_other_origins_are_refused(app, headers, status):
    for method, path, body in [
        ("GET", "/api/plan", None),
        ("POST", "/api/decision", {"t_s": 1, "subject": 2}),
    ]:
        code, r = call(app, method, path, body, headers)
        assert code == status and "refused" in r["error"]
    assert json.loads(app.session.keyframes_path.read_text()) == []  # nothing was changed


def test_same_origin_and_plain_posts(app):
    code, _ = call(app, "GET", "/api/plan", headers={"Origin": f"http://127.0.0.1:{app.port}"})
    assert code == 200
    c = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    form = {"Host": f"127.0.0.1:{app.port}", "Content-Type": "application/x-www-form-urlencoded"}
    c.request("POST", "/api/decision", body="t_s=1&subject=2", headers=form)
    r = c.getresponse()
    assert r.status == 415  # a cross-site <form> could send this without a preflight
    c.close()
    code, _ = call(app, "OPTIONS", "/api/decision")
    assert code == 403


def test_paths_outside_the_clips_folder_are_refused(app, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (app.session.folder / "link.txt").symlink_to(secret)
    for path in ["/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media//etc/passwd",
                 "/media/link.txt", "/media/sub/../../secret.txt"]:  # fmt: skip
        code, r = call(app, "GET", path)
        assert code == 403, path
    code, _ = call(app, "GET", "/media/talk.mp4")
    assert code == 200
    code, r = call(app, "POST", "/api/export", {"to": "csv", "name": "../x.csv"})
    assert code == 403 and "outside" in r["error"] and not (tmp_path / "x.csv").exists()
    code, _ = call(app, "GET", "/static/../session.py")
    assert code == 404


# --------------------------------------------------------------------------------------------
# A real browser
# --------------------------------------------------------------------------------------------

CHROMIUM = (
    os.environ.get("AUTOFOCUSPULL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)


@pytest.mark.slow
def test_browser_clicks_a_subject_and_drags_a_pull(app):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it when it can)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install playwright)"
    )
    s = app.session
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(app.url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator(".lane").count() == 4  # background, two subjects, speech
        assert page.locator(".pull").count() == 1
        # drag the pull 60 px to the left
        p0 = saved(app)["pulls"][0]
        box = page.locator(".pull").bounding_box()
        lanes = page.locator("#lanes").bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] - 28, box["y"] + box["height"] / 2, steps=5)
        page.mouse.move(box["x"] - 58, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_selector("body[data-rendered='1']", timeout=60000)
        moved = 60 / lanes["width"] * (T / FPS)
        p1 = saved(app)["pulls"][0]
        assert p1["start_s"] == pytest.approx(p0["start_s"] - moved, abs=0.02)
        assert p1["end_s"] - p1["start_s"] == pytest.approx(p0["end_s"] - p0["start_s"], abs=1e-6)
        st = call(app, "GET", "/api/status")[1]
        assert st["span_rendered"] == st["span"][1] - st["span"][0] > 0
        # at 0.4 s (frame 10, A in focus) click B's box: a strong decision for B
        page.locator("#scrub").fill("10")
        page.locator("#overlay rect[data-id='2']").click()
        page.wait_for_selector("body[data-rendered='2']", timeout=60000)
        plan = saved(app)
        assert plan["frames"][10]["subject"] == B and plan["frames"][9]["subject"] == A
        assert json.loads(s.keyframes_path.read_text())[0] == {"t_s": 0.4, "subject": B, "point": None,
                                                               "strength": "strong"}  # fmt: skip
        st = call(app, "GET", "/api/status")[1]
        assert st["span"][0] == 10 and st["span_rendered"] == st["span"][1] - 10
        assert page.locator("#overlay rect.focused").get_attribute("data-id") == "2"
        assert "user keyframe" in page.locator("#reason").inner_text()
        assert page.locator(".kf").count() == 1
        # the full-size render, twice: the second reuses every piece (nothing was edited between)
        lines = ("1 of 1 pieces re-rendered, 0 reused", "0 of 1 pieces re-rendered, 1 reused")
        for n, line in enumerate(lines, 1):
            page.locator("#render").click()
            page.wait_for_selector(f"body[data-full-rendered='{n}']", timeout=60000)
            assert page.locator("#status").inner_text().startswith(f"full render done: {line}")
        assert (s.folder / "talk.racked.mp4").is_file()
        browser.close()
    assert errors == []


def test_a_drag_never_crosses_a_cut_or_the_neighbouring_pulls():
    from autofocuspull.app.edits import retime_bounds, retime_pull
    from autofocuspull.core.types import FocusPlan, Pull

    t = np.arange(T) / FPS
    tr = SubjectTracks.allocate([A, B], ["person", "person"], T)
    tr.xyxy[:] = (0, 0, 10, 10)
    tr.distance_m[0], tr.distance_m[1] = 2.0, 4.0
    pulls = [Pull(1.0, 1.4, A, B, "one", 2.0, 4.0), Pull(2.5, 2.8, B, A, "two", 4.0, 2.0),
             Pull(3.2, 3.2, A, B, "cut", 2.0, 4.0)]  # fmt: skip
    plan = FocusPlan(t, np.full(T, A), np.full((T, 2), 0.5, np.float32), np.full(T, 2.0, np.float32),
                     np.full(T, 2.0, np.float32), pulls, tr, [3.2], "test")  # fmt: skip
    assert retime_bounds(plan, 0) == (0.0, 2.5) and retime_bounds(plan, 1) == (1.4, 3.2)
    retime_pull(plan, 1, 2.0, 9.0)
    assert (plan.pulls[1].start_s, plan.pulls[1].end_s) == (2.0, 3.2)  # stopped by the cut
    with pytest.raises(ValueError, match="is a cut"):
        retime_pull(plan, 2, 3.0, 3.5)
