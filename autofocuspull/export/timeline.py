"""OpenTimelineIO: a timeline holding the clip, with one marker per pull and per cut.

Each marker is named with the planner's reason ("person 2 starts speaking at 3.42 s"), spans the
pull (a cut's marker is one frame long), and carries the machine-readable facts under
``metadata["autofocuspull"]`` (kind, from / to subject ids and distances, start / end seconds), so
an editor sees why focus moves and :mod:`.importers` can read the decisions back. The timeline is
written with any OTIO adapter chosen by the file's extension (``.otio`` is OTIO's own JSON;
``.edl`` CMX 3600 and ``.xml`` FCP 7 XML where the adapter plugins are installed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import FocusPlan
from autofocuspull.export.common import atomic_write, plan_rate, source_range
from autofocuspull.export.timecode import first_frame_at_or_after, frame_number

META_KEY = "autofocuspull"
PULL_COLOR = "YELLOW"
CUT_COLOR = "RED"


def _otio() -> Any:
    try:
        import opentimelineio
    except ImportError:
        raise UsageError(
            "--to otio needs OpenTimelineIO: pip install 'autofocuspull[export]' (or opentimelineio)"
        ) from None
    return opentimelineio


def _media_url(path: str | None) -> str:
    if not path:
        return ""
    return Path(os.path.abspath(path)).as_uri()


def plan_to_timeline(plan: FocusPlan, name: str | None = None) -> Any:
    """An ``otio.schema.Timeline`` with one video track holding the clip and the plan's markers."""
    otio = _otio()
    rate = float(plan_rate(plan))
    fr = plan_rate(plan)
    src, offset_s = source_range(plan)
    first = frame_number(float(plan.times_s[0]) + offset_s, fr)
    last = frame_number(float(plan.times_s[-1]) + offset_s, fr)
    rt = otio.opentime.RationalTime
    clip_range = otio.opentime.TimeRange(rt(first, rate), rt(last - first + 1, rate))
    ref = otio.schema.ExternalReference(target_url=_media_url(src), available_range=clip_range)
    title = name or (Path(src).stem if src else "autofocuspull")
    clip = otio.schema.Clip(name=title, media_reference=ref, source_range=clip_range)
    clip.metadata[META_KEY] = {"depth_source": plan.depth_source, "offset_s": offset_s}

    def marker(start_s: float, end_s: float, label: str, color: str, facts: dict) -> Any:
        a = first_frame_at_or_after(start_s + offset_s, fr)
        b = max(first_frame_at_or_after(end_s + offset_s, fr), a + 1)
        m = otio.schema.Marker(
            name=label, marked_range=otio.opentime.TimeRange(rt(a, rate), rt(b - a, rate)), color=color
        )
        m.metadata[META_KEY] = facts
        return m

    cuts = {round(c, 6) for c in plan.cuts_s}
    for p in plan.pulls:
        kind = "cut" if round(p.start_s, 6) in cuts and p.end_s == p.start_s else "pull"
        facts = {
            "kind": kind,
            "from": p.from_id,
            "to": p.to_id,
            "from_m": p.from_m if p.from_m == p.from_m else None,
            "to_m": p.to_m if p.to_m == p.to_m else None,
            "start_s": p.start_s,
            "end_s": p.end_s,
        }
        clip.markers.append(
            marker(p.start_s, p.end_s, p.reason, CUT_COLOR if kind == "cut" else PULL_COLOR, facts)
        )
    covered = {round(p.start_s, 6) for p in plan.pulls if p.end_s == p.start_s}
    for c in plan.cuts_s:
        if round(c, 6) not in covered:  # a cut with no focus change still gets its marker
            clip.markers.append(marker(c, c, f"cut at {c:.2f} s", CUT_COLOR, {"kind": "cut", "start_s": c}))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(clip)
    timeline = otio.schema.Timeline(name=title)
    timeline.tracks.append(track)
    timeline.global_start_time = rt(0, rate)
    return timeline


def export_otio(plan: FocusPlan, out: str | os.PathLike[str], adapter: str | None = None) -> Path:
    """Write the plan's timeline; the adapter is chosen by ``out``'s extension unless named."""
    otio = _otio()
    timeline = plan_to_timeline(plan)

    def write(tmp: Path) -> None:
        name = adapter or otio.adapters.from_filepath(str(out)).name
        text = otio.adapters.write_to_string(timeline, adapter_name=name)
        tmp.write_text(text, encoding="utf-8")

    try:
        return atomic_write(out, write)
    except otio.exceptions.NoKnownAdapterForExtensionError:
        raise UsageError(f"{out}: no OpenTimelineIO adapter for {Path(out).suffix!r} (use .otio)") from None
