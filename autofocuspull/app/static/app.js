// autofocuspull app: review the plan, click a subject, drag a pull, change the aperture.
"use strict";

const S = { state: null, plan: null, frame: 0, playing: null, events: [] };
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) { throw new Error(data.error || r.statusText); }
  return data;
}

function say(text) { $("status").textContent = text; }

async function load() {
  S.state = await api("/api/state");
  S.plan = await api("/api/plan");
  const ev = S.plan.pulls.map((p) => [p.start_s, p.reason]);
  for (const d of (S.plan.meta.decisions || [])) { ev.push([d.t_s, d.reason]); }
  S.events = ev.sort((a, b) => a[0] - b[0]);
  $("clip").textContent = S.state.clip;
  $("files").textContent = `plan: ${S.state.plan_file} · decisions: ${S.state.keyframes_file}`;
  $("scrub").max = S.state.n_frames - 1;
  $("overlay").setAttribute("viewBox", `0 0 ${S.state.width} ${S.state.height}`);
  if (!$("fnum").dataset.touched) { $("fnum").value = S.plan.frames[0].f_number; }
  buildTimeline();
  show(S.frame);
  document.body.dataset.version = S.state.version;
}

function t0() { return S.state.times_s[0]; }
function duration() {
  const t = S.state.times_s;
  return t[t.length - 1] - t[0] + 1 / S.state.frame_rate;
}
function xOf(t) { return ((t - t0()) / duration()) * $("lanes").clientWidth; }
function tOf(x) { return t0() + (x / $("lanes").clientWidth) * duration(); }
function frameAt(t) {
  const ts = S.state.times_s;
  let k = 0;
  while (k + 1 < ts.length && ts[k + 1] <= t + 1e-9) { k++; }
  return k;
}

function show(k) {
  S.frame = Math.max(0, Math.min(S.state.n_frames - 1, k));
  $("scrub").value = S.frame;
  $("source").src = `/api/frame/${S.frame}.jpg`;
  $("preview").src = `/api/preview/${S.frame}.jpg?v=${S.state.version}`;
  const fr = S.plan.frames[S.frame];
  $("time").textContent = `${fr.t_s.toFixed(2)} s · frame ${S.frame} · ${fr.focus_m.toFixed(2)} m · f/${fr.f_number}`;
  let reason = "";
  for (const [t, r] of S.events) { if (t <= fr.t_s + 1e-9) { reason = r; } }
  $("reason").textContent = reason;
  drawOverlay(fr);
  $("playhead").style.left = `${xOf(fr.t_s)}px`;
}

function drawOverlay(fr) {
  const svg = $("overlay");
  svg.replaceChildren();
  for (const s of S.plan.subjects) {
    const b = s.xyxy[S.frame];
    if (!b) { continue; }
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", b[0]); r.setAttribute("y", b[1]);
    r.setAttribute("width", b[2] - b[0]); r.setAttribute("height", b[3] - b[1]);
    r.setAttribute("class", "subject" + (s.id === fr.subject ? " focused" : ""));
    r.dataset.id = s.id;
    r.addEventListener("click", (e) => { e.stopPropagation(); decide(s.id, null); });
    svg.appendChild(r);
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", b[0] + 3); label.setAttribute("y", Math.max(14, b[1] - 4));
    label.setAttribute("font-size", 12 * S.state.width / Math.max(1, svg.clientWidth));  // 12 px on screen
    label.textContent = `${s.label} ${s.id}`;
    svg.appendChild(label);
  }
  if (fr.x !== null && fr.y !== null) {
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("cx", fr.x * S.state.width); c.setAttribute("cy", fr.y * S.state.height);
    c.setAttribute("r", Math.max(6, S.state.width / 80)); c.setAttribute("class", "focus");
    svg.appendChild(c);
  }
}

function strength() { return document.querySelector("input[name=strength]:checked").value; }

async function decide(subject, point) {
  const t = S.plan.frames[S.frame].t_s;
  await edit("/api/decision", { t_s: t, subject: subject, point: point, strength: strength() });
}

async function edit(path, body) {
  say("re-planning…");
  try {
    const r = await api(path, body);
    await load();
    await waitRendered(r.span);
  } catch (e) {
    say(`error: ${e.message}`);
  }
}

async function waitRendered(span) {
  const n = span[1] - span[0];
  if (n <= 0) { say("no frame changed"); return; }
  for (;;) {
    const st = await api("/api/status");
    say(`re-rendering frames ${span[0]}–${span[1] - 1}: ${st.span_rendered}/${n}`);
    if (st.version !== S.state.version || st.span_rendered >= n) { break; }
    await new Promise((res) => setTimeout(res, 250));
  }
  say(`re-rendered frames ${span[0]}–${span[1] - 1} (preview size)`);
  document.body.dataset.rendered = S.state.version;
  show(S.frame);
}

function div(cls, parent) {
  const d = document.createElement("div");
  d.className = cls;
  parent.appendChild(d);
  return d;
}

function runs(pred) {
  const out = [];
  let a = null;
  const n = S.plan.frames.length;
  for (let k = 0; k <= n; k++) {
    const on = k < n && pred(k);
    if (on && a === null) { a = k; }
    if (!on && a !== null) { out.push([a, k]); a = null; }
  }
  return out;
}

function place(el, a, b) {
  const ts = S.state.times_s;
  const ta = ts[a], tb = b < ts.length ? ts[b] : ts[ts.length - 1] + 1 / S.state.frame_rate;
  el.style.left = `${xOf(ta)}px`;
  el.style.width = `${Math.max(1, xOf(tb) - xOf(ta))}px`;
}

function buildTimeline() {
  const lanes = $("lanes");
  lanes.replaceChildren();
  const rows = [{ id: -1, name: "background" }].concat(
    S.plan.subjects.map((s) => ({ id: s.id, name: `${s.label} ${s.id}`, s: s })));
  const laneOf = {};
  for (const row of rows) {
    const lane = div("lane", lanes);
    lane.dataset.id = row.id;
    laneOf[row.id] = lane;
    div("name", lane).textContent = row.name;
    if (row.s) {
      for (const [a, b] of runs((k) => row.s.xyxy[k] !== null)) { place(div("present", lane), a, b); }
    }
    for (const [a, b] of runs((k) => S.plan.frames[k].subject === row.id)) {
      const h = div("hold", lane);
      place(h, a, b);
      h.title = `${row.name} in focus`;
    }
  }
  S.plan.pulls.forEach((p, i) => {
    const lane = laneOf[p.to] || laneOf[-1];
    const el = div(p.end_s > p.start_s ? "pull" : "pull cutpull", lane);
    el.dataset.index = i;
    el.title = p.reason;
    el.style.left = `${xOf(p.start_s)}px`;
    if (p.end_s > p.start_s) {
      el.style.width = `${Math.max(6, xOf(p.end_s) - xOf(p.start_s))}px`;
      div("handle", el);
      el.addEventListener("pointerdown", (e) => dragPull(e, el, i, p));
    }
  });
  S.state.keyframes.forEach((kf, i) => {
    const lane = laneOf[kf.subject === null ? -1 : kf.subject] || laneOf[-1];
    const el = div(`kf ${kf.strength}`, lane);
    el.style.left = `${xOf(kf.t_s)}px`;
    el.title = `your decision at ${kf.t_s.toFixed(2)} s (${kf.strength}); double-click to remove`;
    el.dataset.index = i;
    el.addEventListener("dblclick", (e) => { e.stopPropagation(); edit("/api/decision/remove", { index: i }); });
  });
  for (const d of (S.plan.meta.decisions || [])) {  // holds and pre-focus: why focus did not move
    if (d.kind !== "hold" && d.kind !== "prefocus") { continue; }
    const el = div(`note ${d.kind}`, laneOf[d.subject] || laneOf[-1]);
    el.style.left = `${xOf(d.t_s)}px`;
    el.title = d.reason;
  }
  for (const c of S.plan.cuts_s) { div("cut", lanes).style.left = `${xOf(c)}px`; }
  const sp = div("lane speech", lanes);
  div("name", sp).textContent = "speech";
  const cv = document.createElement("canvas");
  cv.className = "speech";
  sp.appendChild(cv);
  cv.width = lanes.clientWidth; cv.height = 26;
  const g = cv.getContext("2d");
  g.fillStyle = "#c55";
  S.state.speech.forEach((p, k) => {
    const x = xOf(S.state.times_s[k]);
    g.fillRect(x, 26 * (1 - p), Math.max(1, xOf(S.state.times_s[k] + 1 / S.state.frame_rate) - x), 26 * p);
  });
}

function dragPull(e, el, index, p) {
  e.preventDefault();
  e.stopPropagation();
  const resize = e.target.classList.contains("handle");
  const x0 = e.clientX, left0 = el.offsetLeft, width0 = el.offsetWidth;
  el.setPointerCapture(e.pointerId);
  const move = (ev) => {
    const dx = ev.clientX - x0;
    if (resize) { el.style.width = `${Math.max(4, width0 + dx)}px`; } else { el.style.left = `${left0 + dx}px`; }
  };
  const up = (ev) => {
    el.removeEventListener("pointermove", move);
    el.removeEventListener("pointerup", up);
    const dt = tOf(ev.clientX - x0) - t0();
    if (Math.abs(ev.clientX - x0) < 2) { return; }
    const start = resize ? p.start_s : p.start_s + dt;
    const end = resize ? p.end_s + dt : p.end_s + dt;
    edit("/api/pull", { index: index, start_s: start, end_s: end });
  };
  el.addEventListener("pointermove", move);
  el.addEventListener("pointerup", up);
}

function shotRange(t) {
  let a = t0(), b = null;
  for (const c of S.plan.cuts_s) { if (c <= t) { a = c; } else if (b === null) { b = c; } }
  return [a, b];
}

function wire() {
  $("scrub").addEventListener("input", () => show(parseInt($("scrub").value, 10)));
  $("overlay").addEventListener("click", (e) => {
    const box = $("overlay").getBoundingClientRect();
    decide(null, [(e.clientX - box.left) / box.width, (e.clientY - box.top) / box.height]);
  });
  $("lanes").addEventListener("click", (e) => {
    if (e.target.closest(".pull") || e.target.closest(".kf")) { return; }
    const box = $("lanes").getBoundingClientRect();
    show(frameAt(tOf(e.clientX - box.left)));
  });
  $("fnum").addEventListener("input", () => { $("fnum").dataset.touched = "1"; });
  $("fapply").addEventListener("click", () => {
    const t = S.plan.frames[S.frame].t_s;
    const scope = $("fscope").value;
    const [a, b] = scope === "all" ? [0, null] : scope === "after" ? [t, null] : shotRange(t);
    edit("/api/aperture", { f_number: parseFloat($("fnum").value), start_s: a, end_s: b });
  });
  $("play").addEventListener("click", () => {
    if (S.playing) { clearInterval(S.playing); S.playing = null; $("play").textContent = "play"; return; }
    $("play").textContent = "pause";
    S.playing = setInterval(() => show((S.frame + 1) % S.state.n_frames), 1000 / S.state.frame_rate);
  });
  $("render").addEventListener("click", async () => {
    let r;
    try { r = await api("/api/render", {}); } catch (e) { say(`error: ${e.message}`); return; }
    say("full-size render running…");
    for (;;) {
      const fr = (await api("/api/status")).full_render;
      if (fr.state !== "running") {
        say(`full render ${fr.state}: ${pieces(fr)}${fr.error ? " " + fr.error : ""}`);
        if (fr.state === "done") { link(r.url, r.path); }
        S.fullRenders = (S.fullRenders || 0) + 1;
        document.body.dataset.fullRendered = S.fullRenders;
        break;
      }
      say(`full-size render running: ${pieces(fr)}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  });
  for (const b of document.querySelectorAll("button[data-export]")) {
    b.addEventListener("click", async () => {
      const stem = S.state.clip.replace(/\.[^.]+$/, "");
      try {
        const r = await api("/api/export", { to: b.dataset.export, name: stem + b.dataset.ext });
        link(r.url, r.path);
      } catch (e) { say(`error: ${e.message}`); }
    });
  }
  window.addEventListener("resize", () => { buildTimeline(); show(S.frame); });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") { return; }
    if (e.key === "ArrowRight") { show(S.frame + 1); }
    if (e.key === "ArrowLeft") { show(S.frame - 1); }
  });
}

function pieces(fr) {
  if (fr.pieces === undefined) { return ""; }
  const secs = fr.seconds !== undefined ? ` in ${fr.seconds.toFixed(1)} s` : "";
  const note = fr.note ? ` (${fr.note})` : "";
  return `${fr.rendered} of ${fr.pieces} pieces re-rendered, ${fr.reused} reused${secs}${note}`;
}

function link(url, name) {
  const a = document.createElement("a");
  a.href = url; a.textContent = name; a.target = "_blank";
  $("outputs").appendChild(a);
  $("outputs").appendChild(document.createTextNode(" "));
}

window.addEventListener("DOMContentLoaded", () => {
  wire();
  load().then(() => { document.body.dataset.ready = "1"; say("ready"); }, (e) => say(`error: ${e.message}`));
});
