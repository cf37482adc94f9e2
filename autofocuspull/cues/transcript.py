"""Transcript / diarisation input: speaker turns from SRT, WebVTT or JSON, mapped onto face tracks.

Accepted speaker markings: WebVTT voice tags ``<v Alice>text``; a ``Name: text`` prefix (SRT or
VTT); ``[Name] text``. JSON: ``[{"start_s": 1.0, "end_s": 2.5, "speaker": "Alice"}, ...]``.
Cues without a speaker name are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from autofocuspull.core.errors import InputError, ValidationError
from autofocuspull.core.types import check_array

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_ARROW = re.compile(rf"({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>")
_PREFIX = re.compile(r"^\s*(?:\[([^\]]+)\]|([A-Za-z][\w .'-]{0,40}):)\s*")


@dataclass(frozen=True)
class Turn:
    """A speaker turn: ``start_s``..``end_s`` seconds, ``speaker`` name."""

    start_s: float
    end_s: float
    speaker: str


def parse_timestamp(text: str) -> float:
    """``HH:MM:SS,mmm`` / ``MM:SS.mmm`` -> seconds."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    h, mi, s, ms = m.groups()
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _speaker_of(lines: list[str]) -> str | None:
    text = " ".join(lines)
    if m := _VOICE.search(text):
        return m.group(1).strip()
    if m := _PREFIX.match(text):
        return (m.group(1) or m.group(2)).strip()
    return None


def parse_subtitles(text: str) -> list[Turn]:
    """Turns of an SRT or WebVTT document (cues with a speaker name only)."""
    turns = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln for ln in block.strip().split("\n") if ln.strip()]
        for k, ln in enumerate(lines):
            if m := _ARROW.search(ln):
                start = parse_timestamp(m.group(1))
                end = parse_timestamp(m.group(6))
                speaker = _speaker_of(lines[k + 1 :])
                if speaker and end > start:
                    turns.append(Turn(start, end, speaker))
                break
    return turns


def _parse_json(path: Path, data: object) -> list[Turn]:
    items = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError(path, "turns", "expected a list of {start_s, end_s, speaker}")
    turns = []
    for i, it in enumerate(items):
        try:
            turn = Turn(float(it["start_s"]), float(it["end_s"]), str(it["speaker"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(path, f"turns[{i}]", f"expected start_s, end_s, speaker ({e})") from e
        if not turn.end_s > turn.start_s:
            raise ValidationError(path, f"turns[{i}]", "end_s must be after start_s")
        turns.append(turn)
    return turns


def load_transcript(path: str | Path) -> list[Turn]:
    """Speaker turns sorted by start from an ``.srt``, ``.vtt`` or ``.json`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(p, f"cannot read transcript ({e.strerror})") from e
    if p.suffix.lower() == ".json":
        try:
            turns = _parse_json(p, json.loads(text))
        except json.JSONDecodeError as e:
            raise ValidationError(p, "json", f"not valid JSON ({e.msg}, line {e.lineno})") from e
    else:
        turns = parse_subtitles(text)
    if not turns:
        raise ValidationError(p, "turns", "no cue with a speaker name found")
    return sorted(turns, key=lambda t: t.start_s)


def turn_masks(turns: list[Turn], times_s: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Speakers (names in first-appearance order) and masks (P, T) bool: speaker talks at frame."""
    names = list(dict.fromkeys(t.speaker for t in turns))
    masks = np.zeros((len(names), len(times_s)), bool)
    for t in turns:
        masks[names.index(t.speaker)] |= (times_s >= t.start_s) & (times_s < t.end_s)
    return names, masks


def assign_speakers(turns: list[Turn], speaking: np.ndarray, times_s: np.ndarray) -> dict[str, int]:
    """Match each transcript speaker to one track row, maximising the total speaking probability
    (S, T) during that speaker's turns (Hungarian assignment) -> {speaker name: track row}."""
    times = check_array("times_s", times_s, (None,), np.float64)
    sp = check_array("speaking", speaking, (None, len(times)), np.float32)
    names, masks = turn_masks(turns, times)
    if len(sp) == 0 or not names:
        return {}
    score = masks.astype(np.float64) @ sp.T.astype(np.float64)  # (P, S)
    rows, cols = linear_sum_assignment(-score)
    return {names[r]: int(c) for r, c in zip(rows, cols, strict=True)}


def map_transcript_to_tracks(turns: list[Turn], speaking: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Speaking (S, T) float32 with the transcript made authoritative inside its turns.

    Speakers are matched to tracks with :func:`assign_speakers`; in frames covered by a mapped
    speaker's turn that speaker's track is 1 and every other track 0; frames outside turns keep
    the given probabilities. ``times_s`` (T,) seconds.
    """
    times = check_array("times_s", times_s, (None,), np.float64)
    out = check_array("speaking", speaking, (None, len(times)), np.float32).copy()
    mapping = assign_speakers(turns, out, times)
    names, masks = turn_masks(turns, times)
    covered = np.zeros(len(times), bool)
    for name in mapping:
        covered |= masks[names.index(name)]
    out[:, covered] = 0.0
    for name, row in mapping.items():
        out[row, masks[names.index(name)]] = 1.0
    return out
