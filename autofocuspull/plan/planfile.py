"""The plan file: a versioned JSON a user can read and edit by hand; ``render`` reads it.

Schema ``"format": "autofocuspull.plan/1"``::

    {
      "format": "autofocuspull.plan/1",
      "video": {"path": ..., "width": 1920, "height": 1080, "frame_rate": "25/1", ...},
      "depth_source": "depth-anything-v2-small",
      "cuts_s": [12.48],                       # shot changes: a new shot starts at each time
      "frames": [                              # one object per frame, one per line
        {"t_s": 0.0, "subject": 2, "x": 0.41, "y": 0.33, "focus_m": 1.52, "f_number": 1.4},
        ...
      ],
      "subjects": [
        {"id": 2, "label": "person",
         "xyxy": [[x1, y1, x2, y2] | null, ...],   # box per frame, pixels, null when absent
         "distance_m": [1.52 | null, ...],        # subject distance per frame
         "focus_xy": [[x, y] | null, ...],        # normalised point to focus on per frame
         "confidence": [0.9, ...]}
      ],
      "pulls": [{"start_s": 3.12, "end_s": 3.70, "from": 1, "to": 2,
                 "from_m": 3.0, "to_m": 1.52, "reason": "person 2 starts speaking at 3.42 s"}],
      "meta": {"planner": "default", "config": {...}, "decisions": [...]}
    }

Frame fields: ``subject`` is a subject id or ``-1`` (background); ``x``, ``y`` the normalised
focus point (null = none); ``focus_m`` the focus distance in metres; ``f_number`` the aperture.

Editing by hand: change ``subject`` for a range of frames and set their ``focus_m`` (and ``x``,
``y``) to ``null``: loading fills them from that subject's ``distance_m`` / ``focus_xy`` at the
same frame (``meta.background_m``, default 10 m, for ``-1``); or write ``focus_m`` directly.
``pulls`` and ``meta`` are informational: ``render`` follows the per-frame values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.atomic import atomic_write_text
from autofocuspull.core.errors import InputError, ValidationError
from autofocuspull.core.types import PLAN_FORMAT, FocusPlan, Pull, SubjectTracks

DEFAULT_BACKGROUND_M = 10.0


def _num(x: float, nd: int) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), nd)


def _row(arr: np.ndarray, nd: int) -> list | None:
    return None if not np.isfinite(arr).all() else [round(float(v), nd) for v in arr]


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return obj


def plan_to_dict(plan: FocusPlan) -> dict[str, Any]:
    """The plan as a JSON-ready dict (schema in the module docstring)."""
    tracks = plan.subjects
    frames = [
        {
            "t_s": round(float(plan.times_s[k]), 6),
            "subject": int(plan.subject_id[k]),
            "x": _num(plan.focus_xy[k, 0], 4),
            "y": _num(plan.focus_xy[k, 1], 4),
            "focus_m": round(float(plan.focus_m[k]), 4),
            "f_number": round(float(plan.f_number[k]), 3),
        }
        for k in range(plan.n_frames)
    ]
    subjects = [
        {
            "id": int(tracks.track_id[s]),
            "label": tracks.label[s],
            "xyxy": [_row(b, 1) for b in tracks.xyxy[s]],
            "distance_m": [_num(d, 4) for d in tracks.distance_m[s]],
            "focus_xy": [_row(p, 4) for p in tracks.focus_xy[s]],
            "confidence": [round(float(c), 3) for c in tracks.confidence[s]],
        }
        for s in range(len(tracks))
    ]
    pulls = [
        {
            "start_s": round(p.start_s, 4),
            "end_s": round(p.end_s, 4),
            "from": p.from_id,
            "to": p.to_id,
            "from_m": _num(p.from_m, 4),
            "to_m": _num(p.to_m, 4),
            "reason": p.reason,
        }
        for p in plan.pulls
    ]
    return {
        "format": PLAN_FORMAT,
        "video": _json_safe(plan.video),
        "depth_source": plan.depth_source,
        "cuts_s": [float(c) for c in plan.cuts_s],
        "frames": frames,
        "subjects": subjects,
        "pulls": pulls,
        "meta": _json_safe(plan.meta),
    }


def dumps_plan(plan: FocusPlan) -> str:
    """JSON text of a plan: frames, boxes and pulls one per line so that diffs and edits stay local."""
    d = plan_to_dict(plan)

    def compact(v: Any) -> str:
        return json.dumps(v, separators=(", ", ": "))

    def listing(items: list, indent: str) -> str:
        if not items:
            return "[]"
        return "[\n" + ",\n".join(indent + compact(x) for x in items) + "\n" + indent[:-2] + "]"

    subjects = []
    for s in d["subjects"]:
        fields = [f'      "id": {s["id"]}', f'      "label": {json.dumps(s["label"])}']
        fields += [f'      "{k}": {listing(s[k], " " * 8)}' for k in ("xyxy", "distance_m", "focus_xy")]
        fields.append(f'      "confidence": {compact(s["confidence"])}')
        subjects.append("    {\n" + ",\n".join(fields) + "\n    }")
    parts = [
        f'  "format": {json.dumps(d["format"])}',
        f'  "video": {compact(d["video"])}',
        f'  "depth_source": {json.dumps(d["depth_source"])}',
        f'  "cuts_s": {compact(d["cuts_s"])}',
        f'  "frames": {listing(d["frames"], " " * 4)}',
        '  "subjects": ' + ("[\n" + ",\n".join(subjects) + "\n  ]" if subjects else "[]"),
        f'  "pulls": {listing(d["pulls"], " " * 4)}',
        f'  "meta": {json.dumps(d["meta"], indent=2).replace(chr(10), chr(10) + "  ")}',
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def save_plan(plan: FocusPlan, path: str | Path) -> Path:
    """Write the plan as JSON atomically (temporary file in the same folder, then rename)."""
    return atomic_write_text(path, dumps_plan(plan))


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class _Reader:
    """Typed field access that raises ValidationError naming the file and the field path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> ValidationError:
        return ValidationError(self.path, field, problem)

    def get(self, d: Any, key: str, where: str, kind: type | tuple, *, nullable: bool = False) -> Any:
        field = f"{where}.{key}" if where else key
        if not isinstance(d, dict) or key not in d:
            raise self.fail(field, "missing")
        v = d[key]
        if v is None and nullable:
            return None
        if (isinstance(v, bool) and kind is not bool) or not isinstance(v, kind):
            raise self.fail(field, f"expected {getattr(kind, '__name__', kind)}, got {type(v).__name__}")
        return v

    def number(self, d: Any, key: str, where: str, *, nullable: bool = False, positive: bool = False):
        v = self.get(d, key, where, (int, float), nullable=nullable)
        if v is not None and not math.isfinite(v):  # JSON NaN / Infinity: never a valid time or distance
            raise self.fail(f"{where}.{key}", f"expected a finite number, got {v}")
        if v is not None and positive and not v > 0:
            raise self.fail(f"{where}.{key}", f"expected a positive number, got {v}")
        return None if v is None else float(v)

    def array(self, v: Any, field: str, n: int, width: int | None) -> np.ndarray:
        """List of n numbers/null (width None) or n [width numbers]/null -> float32 with NaN."""
        if not isinstance(v, list) or len(v) != n:
            got = len(v) if isinstance(v, list) else type(v).__name__
            raise self.fail(field, f"expected a list of {n} entries (one per frame), got {got}")
        shape = (n,) if width is None else (n, width)
        out = np.full(shape, np.nan, np.float32)
        for k, item in enumerate(v):
            if item is None:
                continue
            ok = (
                isinstance(item, (int, float)) and not isinstance(item, bool)
                if width is None
                else isinstance(item, list)
                and len(item) == width
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item)
            )
            if not ok:
                what = "a number or null" if width is None else f"[{width} numbers] or null"
                raise self.fail(f"{field}[{k}]", f"expected {what}, got {item!r}")
            out[k] = item
        return out


def _load_subjects(r: _Reader, items: Any, n: int) -> SubjectTracks:
    if not isinstance(items, list):
        raise r.fail("subjects", "expected a list")
    ids, labels, xyxy, dist, fxy, conf = [], [], [], [], [], []
    for i, s in enumerate(items):
        w = f"subjects[{i}]"
        ids.append(r.get(s, "id", w, int))
        labels.append(r.get(s, "label", w, str))
        xyxy.append(r.array(r.get(s, "xyxy", w, list), f"{w}.xyxy", n, 4))
        dist.append(r.array(r.get(s, "distance_m", w, list), f"{w}.distance_m", n, None))
        fxy.append(r.array(r.get(s, "focus_xy", w, list), f"{w}.focus_xy", n, 2))
        c = s.get("confidence")
        conf.append(
            np.isfinite(xyxy[-1]).all(-1).astype(np.float32)
            if c is None
            else r.array(c, f"{w}.confidence", n, None)
        )
    if len(set(ids)) != len(ids):
        raise r.fail("subjects", f"ids must be unique, got {ids}")
    tracks = SubjectTracks.allocate(ids, labels, n)
    if ids:
        tracks.xyxy[:] = np.stack(xyxy)
        tracks.distance_m[:] = np.stack(dist)
        tracks.focus_xy[:] = np.stack(fxy)
        tracks.confidence[:] = np.nan_to_num(np.stack(conf))
    return tracks


def _load_frames(r: _Reader, items: Any, tracks: SubjectTracks, background_m: float):
    if not isinstance(items, list) or not items:
        raise r.fail("frames", "expected a non-empty list of frames")
    n = len(items)
    times = np.empty(n)
    sid = np.empty(n, np.int64)
    fxy = np.full((n, 2), np.nan, np.float32)
    fm = np.empty(n, np.float32)
    fn = np.empty(n, np.float32)
    ids = tracks.track_id.tolist()
    for k, fr in enumerate(items):
        w = f"frames[{k}]"
        times[k] = r.number(fr, "t_s", w)
        sid[k] = r.get(fr, "subject", w, int)
        if sid[k] != -1 and sid[k] not in ids:
            raise r.fail(f"{w}.subject", f"no subject with id {sid[k]} (ids: {ids}, -1 = background)")
        row = ids.index(int(sid[k])) if sid[k] != -1 else None
        x, y = r.number(fr, "x", w, nullable=True), r.number(fr, "y", w, nullable=True)
        if x is not None and y is not None:
            fxy[k] = (x, y)
        elif row is not None:
            fxy[k] = tracks.focus_xy[row, k]
        m = r.number(fr, "focus_m", w, nullable=True, positive=True)
        if m is None:
            m = float(tracks.distance_m[row, k]) if row is not None else background_m
            if not math.isfinite(m):
                raise r.fail(f"{w}.focus_m", f"null but subject {sid[k]} has no distance_m at this frame")
        fm[k] = m
        fn[k] = r.number(fr, "f_number", w, positive=True)
    if np.any(np.diff(times) <= 0):
        raise r.fail("frames", "t_s must increase strictly from frame to frame")
    return times, sid, fxy, fm, fn


def _load_pulls(r: _Reader, items: Any) -> list[Pull]:
    if not isinstance(items, list):
        raise r.fail("pulls", "expected a list")
    pulls = []
    for i, p in enumerate(items):
        w = f"pulls[{i}]"
        start, end = r.number(p, "start_s", w), r.number(p, "end_s", w)
        if end < start:
            raise r.fail(f"{w}.end_s", f"must be >= start_s ({start})")
        from_m = r.number(p, "from_m", w, nullable=True) if "from_m" in p else None
        to_m = r.number(p, "to_m", w, nullable=True) if "to_m" in p else None
        pulls.append(
            Pull(
                start,
                end,
                r.get(p, "from", w, int),
                r.get(p, "to", w, int),
                r.get(p, "reason", w, str),
                float("nan") if from_m is None else from_m,
                float("nan") if to_m is None else to_m,
            )
        )
    return pulls


def plan_from_dict(d: Any, path: str | Path = "<plan>") -> FocusPlan:
    """Validate a decoded plan JSON and build the :class:`FocusPlan` (null focus filled in)."""
    r = _Reader(Path(path))
    fmt = r.get(d, "format", "", str)
    if fmt != PLAN_FORMAT:
        raise r.fail("format", f"expected {PLAN_FORMAT!r}, got {fmt!r}")
    frames = r.get(d, "frames", "", list)
    meta = d.get("meta") or {}
    if not isinstance(meta, dict):
        raise r.fail("meta", "expected an object")
    bg = meta.get("background_m", DEFAULT_BACKGROUND_M)
    tracks = _load_subjects(r, r.get(d, "subjects", "", list), len(frames))
    times, sid, fxy, fm, fn = _load_frames(r, frames, tracks, float(bg))
    cuts = r.get(d, "cuts_s", "", list)
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cuts):
        raise r.fail("cuts_s", "expected a list of times in seconds")
    video = d.get("video") or {}
    return FocusPlan(
        times_s=times,
        subject_id=sid,
        focus_xy=fxy,
        focus_m=fm,
        f_number=fn,
        pulls=_load_pulls(r, d.get("pulls", [])),
        subjects=tracks,
        cuts_s=[float(c) for c in cuts],
        depth_source=r.get(d, "depth_source", "", str),
        video=video if isinstance(video, dict) else {},
        meta=meta,
    )


def load_plan(path: str | Path) -> FocusPlan:
    """Read and validate a plan file; errors name the file and the field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(p, f"cannot read plan ({e.strerror})") from e
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(p, "json", f"not valid JSON ({e.msg}, line {e.lineno})") from e
    return plan_from_dict(d, p)
