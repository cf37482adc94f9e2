"""Import user focus decisions as keyframes (:mod:`autofocuspull.plan.keyframes`) from a CSV or from
the markers of an OpenTimelineIO file.

CSV: a header row, then one decision per row. Columns (any order, names case-insensitive):
``t_s`` (seconds) or ``timecode`` (needs the clip's rate: ``--plan``), ``subject`` (a track id;
empty, ``-1``, ``bg`` or ``background`` = the background), optional ``x`` and ``y`` (normalised point,
used when ``subject`` is empty), optional ``strength`` (``weak``/``strong``, default strong). A file
with a ``focus_m`` column is read as a per-frame track (our ``--to csv`` export or an editor's
edit of it): a decision is taken where the subject changes, plus the first frame.

OTIO: every marker of every clip. A marker written by ``--to otio`` keeps its facts in
``metadata["autofocuspull"]``: a pull becomes a decision for its target subject at the pull's
start, a cut a decision at the cut; a marker an editor added by hand is read from its name
("person 2", "subject 2", "#2", "id 2", "background"), strong unless the name says "weak"; its
time is taken relative to the start of the clip's media (its available range), where the plan's
first frame is.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from autofocuspull.core.errors import InputError, ValidationError
from autofocuspull.plan.keyframes import Keyframe, parse_keyframes

BACKGROUND_WORDS = {"", "-1", "bg", "background", "none"}
_SUBJECT_IN_NAME = re.compile(r"(?:subject|person|face|id|#)\s*(\d+)", re.IGNORECASE)


def keyframes_to_list(keyframes: list[Keyframe]) -> list[dict[str, Any]]:
    """Keyframes as the JSON list :func:`~autofocuspull.plan.keyframes.load_keyframes` reads."""
    return [
        {
            "t_s": round(k.t_s, 6),
            "subject": k.subject,
            "point": list(k.point) if k.point is not None else None,
            "strength": k.strength,
        }
        for k in keyframes
    ]


def save_keyframes(keyframes: list[Keyframe], out: str | os.PathLike[str]) -> Path:
    """Write keyframes as JSON atomically (one keyframe per line)."""
    from autofocuspull.export.common import atomic_write_text

    items = [json.dumps(d) for d in keyframes_to_list(keyframes)]
    text = "[\n" + ",\n".join("  " + s for s in items) + "\n]\n" if items else "[]\n"
    return atomic_write_text(out, text)


def _time_of(row: dict[str, str], path: Path, line: int, rate: Fraction | None) -> float:
    from autofocuspull.export.timecode import timecode_to_seconds

    if row.get("t_s", "").strip():
        try:
            t = float(row["t_s"])
        except ValueError:
            raise ValidationError(path, f"line {line}.t_s", f"expected seconds, got {row['t_s']!r}") from None
        if not math.isfinite(t) or t < 0:
            raise ValidationError(path, f"line {line}.t_s", f"expected a time >= 0, got {row['t_s']!r}")
        return t
    tc = row.get("timecode", "").strip()
    if not tc:
        raise ValidationError(path, f"line {line}", "expected a t_s or a timecode")
    if rate is None:
        raise ValidationError(path, f"line {line}.timecode", "timecodes need the clip's frame rate (--plan)")
    try:
        return timecode_to_seconds(tc, rate)
    except ValueError as e:
        raise ValidationError(path, f"line {line}.timecode", str(e)) from None


def _subject_of(value: str, path: Path, field: str) -> int | None:
    v = value.strip().lower()
    if v in BACKGROUND_WORDS:
        return None
    try:
        return int(v)
    except ValueError:
        raise ValidationError(path, field, f"expected a subject id or 'background', got {value!r}") from None


def keyframes_from_csv(path: str | os.PathLike[str], rate: Fraction | None = None) -> list[Keyframe]:
    """Decisions from a CSV (see module docstring), validated like a keyframes file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(p, f"cannot read ({e.strerror})") from e
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise ValidationError(p, "header", "expected a header row (t_s or timecode, subject, ...)")
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    cols = set(reader.fieldnames)
    if not cols & {"t_s", "timecode"} or "subject" not in cols:
        raise ValidationError(p, "header", f"expected columns t_s|timecode and subject, got {sorted(cols)}")
    per_frame = "focus_m" in cols
    items: list[dict[str, Any]] = []
    last: object = object()
    for line, row in enumerate(reader, start=2):
        row = {k: (v or "") for k, v in row.items() if k is not None}
        subject = _subject_of(row.get("subject", ""), p, f"line {line}.subject")
        if per_frame and subject == last:
            continue
        last = subject
        point = None
        if subject is None and row.get("x", "").strip() and row.get("y", "").strip():
            try:
                point = [float(row["x"]), float(row["y"])]
            except ValueError:
                raise ValidationError(p, f"line {line}.x", "expected numbers in x and y") from None
        strength = row.get("strength", "").strip().lower() or "strong"
        items.append(
            {"t_s": _time_of(row, p, line, rate), "subject": subject, "point": point, "strength": strength}
        )
    return parse_keyframes(items, p)


def _marker_decision(marker: Any, media_start_s: float) -> dict[str, Any] | None:
    facts = marker.metadata.get("autofocuspull") if hasattr(marker.metadata, "get") else None
    start_s = float(marker.marked_range.start_time.to_seconds()) - media_start_s
    if facts:
        if "to" not in facts:
            return None  # a bare cut marker decides nothing
        to = int(facts["to"])
        t = float(facts.get("start_s", start_s))
        return {"t_s": max(0.0, t), "subject": None if to < 0 else to, "point": None, "strength": "strong"}
    name = str(marker.name)
    strength = "weak" if re.search(r"\bweak\b", name, re.IGNORECASE) else "strong"
    m = _SUBJECT_IN_NAME.search(name)
    if m:
        subject: int | None = int(m.group(1))
    elif re.search(r"\bbackground\b|\bbg\b", name, re.IGNORECASE):
        subject = None
    else:
        return None
    return {"t_s": max(0.0, start_s), "subject": subject, "point": None, "strength": strength}


def keyframes_from_otio(path: str | os.PathLike[str]) -> tuple[list[Keyframe], list[str]]:
    """Decisions from the markers of an OTIO-readable file, and the names of markers skipped."""
    try:
        import opentimelineio as otio
    except ImportError:
        raise InputError(
            path, "reading OTIO needs OpenTimelineIO: pip install 'autofocuspull[export]'"
        ) from None
    p = Path(path)
    try:
        timeline = otio.adapters.read_from_file(str(p))
    except Exception as e:  # adapters raise their own types
        raise InputError(p, f"not a timeline OpenTimelineIO can read ({e.__class__.__name__}: {e})") from None
    items, skipped = [], []
    for clip in timeline.find_clips() if hasattr(timeline, "find_clips") else timeline.each_clip():
        ref_range = clip.media_reference.available_range if clip.media_reference else None
        media0 = ref_range.start_time.to_seconds() if ref_range is not None else 0.0
        for marker in clip.markers:
            d = _marker_decision(marker, media0)
            if d is None:
                skipped.append(str(marker.name))
            else:
                items.append(d)
    return parse_keyframes(items, p), skipped
