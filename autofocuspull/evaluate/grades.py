"""Hand-graded focus pulls: the grades file (``autofocuspull.grades/1``), its loader and box lookup.

A grades file says, for one clip, where a skilled focus puller would hold focus and when they would
pull (see ``eval/README.md``). Subjects are named by the grader and located by boxes normalised to
the displayed frame (0..1, origin top-left), never by a tracker's ids.

Box lookup (:func:`box_at`) follows the format exactly:

- between two boxes of a subject the box is interpolated linearly;
- ``[t_s, null]`` says the subject is absent from ``t_s`` until its next box;
- before the first box and after the last box (and after a box followed by ``null``) the nearest
  box holds, unless a cut lies between that box's time and the query time.

A cut at ``c`` starts a new shot at ``c``: a cut lies between times ``a < b`` when ``a < c <= b``.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.core.errors import ValidationError

GRADES_FORMAT = "autofocuspull.grades/1"
GRADES_SUFFIX = ".grades.json"

_TOP_KEYS = frozenset({"format", "video", "notes", "cuts_s", "subjects", "holds"})
_SUBJECT_KEYS = frozenset({"description", "boxes"})
_HOLD_KEYS = frozenset({"start_s", "end_s", "subject", "note"})


@dataclass(frozen=True)
class SubjectGrade:
    """A graded subject: ``times_s`` (K,) float64 strictly increasing, ``boxes_xyxy`` (K, 4) float64
    normalised boxes (a NaN row is a ``[t_s, null]`` entry: absent from that time)."""

    name: str
    description: str
    times_s: np.ndarray
    boxes_xyxy: np.ndarray


@dataclass(frozen=True)
class Hold:
    """Focus belongs on ``subject`` over ``[start_s, end_s)`` seconds."""

    start_s: float
    end_s: float
    subject: str
    note: str = ""


@dataclass(frozen=True)
class GradedPull:
    """A change of subject between consecutive holds with no cut between: onset = earlier hold's end."""

    onset_s: float
    from_subject: str
    to_subject: str


@dataclass(frozen=True)
class Grades:
    """A validated grades file; build with :func:`load_grades` or :func:`parse_grades`."""

    video: str
    notes: str
    cuts_s: tuple[float, ...]
    subjects: dict[str, SubjectGrade]
    holds: tuple[Hold, ...]
    path: str = "<grades>"

    @property
    def pulls(self) -> list[GradedPull]:
        """Graded pulls in time order (see :func:`graded_pulls`)."""
        return graded_pulls(self.holds, self.cuts_s)

    def box_at(self, subject: str, t_s: float) -> np.ndarray | None:
        """Normalised (4,) xyxy box of ``subject`` at ``t_s`` seconds, or None when absent."""
        return box_at(self.subjects[subject], t_s, self.cuts_s)


def cut_between(a_s: float, b_s: float, cuts_s: tuple[float, ...] | list[float]) -> bool:
    """True when a shot starts in ``(min(a, b), max(a, b)]``, i.e. a and b lie in different shots."""
    lo, hi = min(a_s, b_s), max(a_s, b_s)
    return any(lo < c <= hi for c in cuts_s)


def box_at(subject: SubjectGrade, t_s: float, cuts_s: tuple[float, ...] | list[float]) -> np.ndarray | None:
    """Box (4,) float64 normalised xyxy of ``subject`` at ``t_s`` seconds, or None when absent.

    Linear interpolation between two boxes; a NaN entry (``[t, null]``) means absent until the next
    entry; outside the boxes (or after a box followed by an absence) the nearest box holds unless a
    cut lies between its time and ``t_s``.
    """
    times, boxes = subject.times_s, subject.boxes_xyxy
    k = int(np.searchsorted(times, t_s, side="right")) - 1  # last entry at or before t_s
    if k < 0:  # before the first entry: the first box holds unless a cut lies between
        first = boxes[0]
        if np.isnan(first).any() or cut_between(t_s, float(times[0]), cuts_s):
            return None
        return first.copy()
    here = boxes[k]
    if np.isnan(here).any():
        return None
    if k + 1 < len(times) and not np.isnan(boxes[k + 1]).any():
        t0, t1 = float(times[k]), float(times[k + 1])
        w = (t_s - t0) / (t1 - t0)
        return (1.0 - w) * here + w * boxes[k + 1]
    if cut_between(float(times[k]), t_s, cuts_s):
        return None
    return here.copy()


def graded_pulls(
    holds: tuple[Hold, ...] | list[Hold], cuts_s: tuple[float, ...] | list[float]
) -> list[GradedPull]:
    """Changes of subject between consecutive holds (by start time) with no cut between them.

    A cut lies between holds A then B when ``A.end_s <= c <= B.start_s`` (a hold that ends where a
    shot starts, followed by a hold from that cut, is a change at a cut, not a pull).
    """
    ordered = sorted(holds, key=lambda h: h.start_s)
    out = []
    for a, b in itertools.pairwise(ordered):
        if a.subject == b.subject:
            continue
        if any(a.end_s <= c <= b.start_s for c in cuts_s):
            continue
        out.append(GradedPull(onset_s=a.end_s, from_subject=a.subject, to_subject=b.subject))
    return out


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def load_grades(path: str | Path) -> Grades:
    """Read and validate a grades file; raises ``ValidationError(path, field, problem)``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(p, "<file>", f"cannot read: {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(p, "<json>", f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    return parse_grades(data, str(p))


def parse_grades(data: Any, path: str = "<grades>") -> Grades:
    """Validate a decoded grades JSON object; errors name the offending field (e.g. ``holds[2].end_s``)."""
    if not isinstance(data, dict):
        raise ValidationError(path, "<root>", f"expected a JSON object, got {type(data).__name__}")
    _no_unknown_keys(path, "", data, _TOP_KEYS)
    if data.get("format") != GRADES_FORMAT:
        raise ValidationError(path, "format", f"expected {GRADES_FORMAT!r}, got {data.get('format')!r}")
    video = _string(path, "video", data.get("video"), required=True)
    if not video:
        raise ValidationError(path, "video", "expected the clip's file name, got an empty string")
    if Path(video).is_absolute() or ".." in Path(video).parts:
        raise ValidationError(path, "video", f"expected a file name inside the grades' folder, got {video!r}")
    notes = _string(path, "notes", data.get("notes", ""), required=False)
    cuts = _cuts(path, data.get("cuts_s", []))
    subjects = _subjects(path, data.get("subjects"))
    holds = _holds(path, data.get("holds"), subjects)
    return Grades(video=video, notes=notes, cuts_s=cuts, subjects=subjects, holds=holds, path=path)


def _no_unknown_keys(path: str, where: str, obj: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in obj:
        if key not in allowed:
            field = f"{where}.{key}" if where else key
            raise ValidationError(path, field, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(path: str, field: str, value: Any, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationError(path, field, f"expected a string, got {_describe(value)}")
    return value


def _number(path: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(path, field, f"expected a finite number, got {_describe(value)}")
    return float(value)


def _time(path: str, field: str, value: Any) -> float:
    t = _number(path, field, value)
    if t < 0:
        raise ValidationError(path, field, f"expected a time >= 0 s, got {t}")
    return t


def _describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _cuts(path: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise ValidationError(path, "cuts_s", f"expected a list of times in seconds, got {_describe(value)}")
    cuts = tuple(_time(path, f"cuts_s[{i}]", c) for i, c in enumerate(value))
    for i in range(1, len(cuts)):
        if cuts[i] <= cuts[i - 1]:
            raise ValidationError(
                path, f"cuts_s[{i}]", f"expected strictly increasing times, got {cuts[i]} after {cuts[i - 1]}"
            )
    return cuts


def _subjects(path: str, value: Any) -> dict[str, SubjectGrade]:
    # An empty object is a "no story" clip (a crowd, traffic): nothing deserves focus, so any pull
    # is wrong. The format allows it and the metrics define it (no judged frames, no graded pulls).
    if not isinstance(value, dict):
        raise ValidationError(path, "subjects", f"expected an object of subjects, got {_describe(value)}")
    out = {}
    for name, spec in value.items():
        where = f"subjects.{name}"
        if not name:
            raise ValidationError(path, where, "expected a non-empty subject name")
        if not isinstance(spec, dict):
            raise ValidationError(path, where, f"expected an object, got {_describe(spec)}")
        _no_unknown_keys(path, where, spec, _SUBJECT_KEYS)
        description = _string(path, f"{where}.description", spec.get("description", ""), required=False)
        times, boxes = _boxes(path, f"{where}.boxes", spec.get("boxes"))
        out[name] = SubjectGrade(name=name, description=description, times_s=times, boxes_xyxy=boxes)
    return out


def _boxes(path: str, where: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(value, list) or not value:
        raise ValidationError(path, where, f"expected a non-empty list of boxes, got {_describe(value)}")
    times = np.empty(len(value), np.float64)
    boxes = np.full((len(value), 4), np.nan, np.float64)
    for i, entry in enumerate(value):
        field = f"{where}[{i}]"
        if not isinstance(entry, list) or len(entry) not in (2, 5):
            raise ValidationError(
                path, field, f"expected [t_s, x0, y0, x1, y1] or [t_s, null], got {_describe(entry)}"
            )
        times[i] = _time(path, f"{field}[0]", entry[0])
        if i and times[i] <= times[i - 1]:
            raise ValidationError(
                path,
                f"{field}[0]",
                f"expected strictly increasing times, got {times[i]} after {times[i - 1]}",
            )
        if len(entry) == 2:
            if entry[1] is not None:
                raise ValidationError(
                    path, f"{field}[1]", f"expected null (absent), got {_describe(entry[1])}"
                )
            continue
        boxes[i] = _box(path, field, entry[1:])
    return times, boxes


def _box(path: str, field: str, xyxy: list[Any]) -> np.ndarray:
    vals = [_number(path, f"{field}[{j + 1}]", v) for j, v in enumerate(xyxy)]
    for j, v in enumerate(vals):
        if not 0.0 <= v <= 1.0:
            raise ValidationError(
                path, f"{field}[{j + 1}]", f"expected a normalised coordinate in 0..1, got {v}"
            )
    x0, y0, x1, y1 = vals
    if not x1 > x0:
        raise ValidationError(path, f"{field}[3]", f"expected x1 > x0, got x0={x0}, x1={x1}")
    if not y1 > y0:
        raise ValidationError(path, f"{field}[4]", f"expected y1 > y0, got y0={y0}, y1={y1}")
    return np.asarray(vals, np.float64)


def _holds(path: str, value: Any, subjects: dict[str, SubjectGrade]) -> tuple[Hold, ...]:
    if not isinstance(value, list):
        raise ValidationError(path, "holds", f"expected a list of holds, got {_describe(value)}")
    holds: list[Hold] = []
    for i, h in enumerate(value):
        where = f"holds[{i}]"
        if not isinstance(h, dict):
            raise ValidationError(path, where, f"expected an object, got {_describe(h)}")
        _no_unknown_keys(path, where, h, _HOLD_KEYS)
        start = _time(path, f"{where}.start_s", h.get("start_s"))
        end = _time(path, f"{where}.end_s", h.get("end_s"))
        if not end > start:
            raise ValidationError(path, f"{where}.end_s", f"expected end_s > start_s ({start}), got {end}")
        subject = _string(path, f"{where}.subject", h.get("subject"), required=True)
        if subject not in subjects:
            raise ValidationError(
                path,
                f"{where}.subject",
                f"unknown subject {subject!r} (known: {', '.join(sorted(subjects))})",
            )
        note = _string(path, f"{where}.note", h.get("note", ""), required=False)
        if holds and start < holds[-1].end_s:
            raise ValidationError(
                path,
                f"{where}.start_s",
                f"expected holds in time order without overlap: starts at {start} before "
                f"holds[{i - 1}] ends ({holds[-1].end_s})",
            )
        holds.append(Hold(start_s=start, end_s=end, subject=subject, note=note))
    return tuple(holds)
