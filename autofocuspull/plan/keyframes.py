"""User keyframes: decisions that override the automatic plan.

File format (JSON list)::

    [{"t_s": 3.2, "subject": 2, "point": null, "strength": "strong"},
     {"t_s": 7.0, "subject": null, "point": [0.4, 0.55], "strength": "weak"}]

``subject`` is a track id; with ``subject`` null, ``point`` (normalised x, y in 0..1) picks the
subject under that point at ``t_s`` (the nearest one when none contains it); both null means
"focus on the background". ``"weak"`` holds until the next automatic decision, ``"strong"`` until
the next user keyframe.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.arrays import first_index_at
from autofocuspull.core.errors import InputError, ValidationError
from autofocuspull.core.types import PlanInputs
from autofocuspull.cues.saliency import subject_at_point
from autofocuspull.plan.timeline import NONE_ID
from autofocuspull.plan.viterbi import FREE

STRENGTHS = ("weak", "strong")


@dataclass(frozen=True)
class Keyframe:
    """A user decision at ``t_s`` seconds: a subject id or a normalised point (or neither)."""

    t_s: float
    subject: int | None = None
    point: tuple[float, float] | None = None
    strength: str = "strong"

    def __post_init__(self) -> None:
        if self.strength not in STRENGTHS:
            raise ValueError(f"Keyframe.strength: expected weak|strong, got {self.strength!r}")


def _field(path: Path, i: int, name: str, problem: str) -> ValidationError:
    return ValidationError(path, f"[{i}].{name}", problem)


def _parse_one(path: Path, i: int, item: Any) -> Keyframe:
    if not isinstance(item, dict):
        raise ValidationError(path, f"[{i}]", "expected an object {t_s, subject, point, strength}")
    unknown = set(item) - {"t_s", "subject", "point", "strength"}
    if unknown:
        raise _field(path, i, sorted(unknown)[0], "unknown field")
    t = item.get("t_s")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise _field(path, i, "t_s", f"expected a time >= 0 in seconds, got {t!r}")
    subject = item.get("subject")
    if subject is not None and (isinstance(subject, bool) or not isinstance(subject, int)):
        raise _field(path, i, "subject", f"expected a track id (integer) or null, got {subject!r}")
    point = item.get("point")
    if point is not None:
        ok = (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in point)
        )
        if not ok:
            raise _field(path, i, "point", f"expected [x, y] normalised to 0..1 or null, got {point!r}")
        point = (float(point[0]), float(point[1]))
    strength = item.get("strength", "strong")
    if strength not in STRENGTHS:
        raise _field(path, i, "strength", f'expected "weak" or "strong", got {strength!r}')
    return Keyframe(float(t), subject, point, strength)


def parse_keyframes(data: Any, path: str | Path = "<keyframes>") -> list[Keyframe]:
    """Validate decoded JSON into keyframes sorted by time."""
    p = Path(path)
    if not isinstance(data, list):
        raise ValidationError(p, "keyframes", "expected a JSON list of keyframes")
    return sorted((_parse_one(p, i, it) for i, it in enumerate(data)), key=lambda k: k.t_s)


def load_keyframes(path: str | Path) -> list[Keyframe]:
    """Keyframes from a JSON file, validated (errors name the file and field), sorted by time."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(p, f"cannot read keyframes ({e.strerror})") from e
    except json.JSONDecodeError as e:
        raise ValidationError(p, "json", f"not valid JSON ({e.msg}, line {e.lineno})") from e
    return parse_keyframes(data, p)


# --------------------------------------------------------------------------------------------
# Keyframes as planning constraints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedKeyframe:
    frame: int
    row: int  # subject row, -1 = background
    keyframe: Keyframe


def resolve_keyframes(keyframes: Sequence[Keyframe], inputs: PlanInputs) -> list[ResolvedKeyframe]:
    """Keyframes -> frame index and subject row (ids looked up; points picked in the frame)."""
    times, tracks = inputs.cues.times_s, inputs.tracks
    size = (inputs.video.width, inputs.video.height)
    out = []
    for kf in sorted(keyframes, key=lambda k: k.t_s):
        frame = min(first_index_at(times, kf.t_s), len(times) - 1)
        if kf.subject is not None:
            if kf.subject not in set(tracks.track_id.tolist()):
                raise ValueError(
                    f"keyframe at {kf.t_s} s: no subject with id {kf.subject} "
                    f"(ids: {tracks.track_id.tolist()})"
                )
            row = tracks.index_of(kf.subject)
        elif kf.point is not None:
            found = subject_at_point(tracks, frame, kf.point[0], kf.point[1], size) if len(tracks) else None
            row = NONE_ID if found is None else found
        else:
            row = NONE_ID
        out.append(ResolvedKeyframe(frame, row, kf))
    return out


def keyframe_constraints(
    resolved: Sequence[ResolvedKeyframe], focusable: np.ndarray, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(forced (T,) int64 choice index (0 = background, row + 1) or -1, free_switch (T,) bool)."""
    forced = np.full(n_frames, FREE, np.int64)
    free = np.zeros(n_frames, bool)
    for i, rk in enumerate(resolved):
        end = rk.frame + 1
        if rk.keyframe.strength == "strong":
            end = resolved[i + 1].frame if i + 1 < len(resolved) else n_frames
        span = np.arange(rk.frame, max(end, rk.frame + 1))
        ok = np.ones(len(span), bool) if rk.row < 0 else focusable[rk.row, span]
        forced[span[ok]] = rk.row + 1
    prev = np.concatenate([[FREE], forced[:-1]])
    free |= (forced != FREE) & (forced != prev)
    return forced, free
