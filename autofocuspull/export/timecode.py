"""SMPTE timecode from a clip's frame rate, drop-frame for the NTSC rates (29.97, 59.94).

The frame number of a time is ``round(t_s * rate)`` with the exact rational rate (never a rounded
fps); the timecode counts frames at the nominal integer rate (30 for 30000/1001), dropping frame
numbers 0 and 1 (0-3 at 59.94) at the start of every minute except each tenth, as SMPTE 12M does.
"""

from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def parse_rate(rate: str | Fraction | float | int) -> Fraction:
    """A frame rate as a Fraction from "30000/1001", 25, 29.97 (common decimals snap to /1001)."""
    if isinstance(rate, Fraction):
        return rate
    if isinstance(rate, str) and "/" in rate:
        num, den = rate.split("/", 1)
        return Fraction(int(num), int(den))
    f = Fraction(float(rate)).limit_denominator(1001)
    if f <= 0:
        raise ValueError(f"frame rate: expected a positive number, got {rate!r}")
    return f


def is_drop_frame(rate: Fraction) -> bool:
    """True for the NTSC rates (N*1000/1001 with N a multiple of 30): drop-frame timecode."""
    return rate.denominator == 1001 and rate.numerator % 30000 == 0


def nominal_fps(rate: Fraction) -> int:
    """The integer frame count per timecode second (30 for 29.97, 24 for 23.976, 25 for 25)."""
    return max(1, round(float(rate)))


def frame_number(t_s: float, rate: Fraction) -> int:
    """Frame count at ``rate`` of time ``t_s`` (nearest frame)."""
    return round(Fraction(t_s).limit_denominator(10**9) * rate)


def first_frame_at_or_after(t_s: float, rate: Fraction) -> int:
    """Frame count of the first frame shown at or after ``t_s`` (a pull that starts between two
    frames first shows on the later one, as the planner's focus curve does)."""
    x = Fraction(t_s).limit_denominator(10**9) * rate
    return int(-((-x + Fraction(1, 10**6)) // 1))


def _drop_count(rate: Fraction) -> int:
    return 2 * (nominal_fps(rate) // 30)


def frames_to_timecode(frames: int, rate: Fraction) -> str:
    """``HH:MM:SS:FF`` (``HH:MM:SS;FF`` drop-frame) of a frame count at ``rate``."""
    if frames < 0:
        raise ValueError(f"timecode: expected a frame count >= 0, got {frames}")
    fps = nominal_fps(rate)
    sep = ":"
    if is_drop_frame(rate):
        sep = ";"
        drop = _drop_count(rate)
        per_min = fps * 60 - drop
        per_10min = fps * 600 - 9 * drop
        tens, rem = divmod(frames, per_10min)
        frames += 9 * drop * tens + (drop * ((rem - drop) // per_min) if rem > drop else 0)
    ff = frames % fps
    ss = frames // fps % 60
    mm = frames // (fps * 60) % 60
    hh = frames // (fps * 3600) % 24
    return f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def timecode_to_frames(tc: str, rate: Fraction) -> int:
    """Frame count of a timecode (``;`` or ``:`` before the frames; drop-frame follows the rate)."""
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"timecode: expected HH:MM:SS:FF, got {tc!r}")
    hh, mm, ss, _, ff = (int(g) if g.isdigit() else g for g in m.groups())
    fps = nominal_fps(rate)
    if ff >= fps or mm >= 60 or ss >= 60:
        raise ValueError(f"timecode: {tc!r} is out of range at {fps} frames per second")
    total = (hh * 3600 + mm * 60 + ss) * fps + ff
    if is_drop_frame(rate):
        drop = _drop_count(rate)
        minutes = hh * 60 + mm
        if ss == 0 and ff < drop and mm % 10:
            raise ValueError(f"timecode: {tc!r} does not exist in drop-frame timecode")
        total -= drop * (minutes - minutes // 10)
    return total


def timecode(t_s: float, rate: Fraction) -> str:
    """SMPTE timecode of time ``t_s`` seconds at ``rate``."""
    return frames_to_timecode(frame_number(t_s, rate), rate)


def timecode_to_seconds(tc: str, rate: Fraction) -> float:
    """Seconds of a timecode at ``rate`` (the inverse of :func:`timecode` on frame times)."""
    return float(timecode_to_frames(tc, rate) / rate)
