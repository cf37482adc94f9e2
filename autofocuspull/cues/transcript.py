"""Transcript / diarisation input: speaker turns from SRT, WebVTT, ASS/SSA or JSON, mapped onto face tracks.

Subtitle files are parsed by pysubs2 (timing, entities, formatting tags, format detection); this module
only decides who speaks in each cue. Speaker markings, in order of precedence:

- the ASS/SSA ``Name`` (actor) field;
- a WebVTT voice tag ``<v Alice>text`` (``<v.loud Alice>`` too);
- a ``Name: text`` prefix, also inside formatting (``<i>Alice:</i> text``) and after a dialogue dash
  (``- Alice: text``); names may be any letters (``Zoë:``, ``李明:``) and carry a trailing number
  (``Speaker 2:``), up to four words;
- ``[Name] text``.

A colon only marks a speaker when whitespace or the end of the line follows it, and the name's first
word starts with a letter: "At 10:30", "http://x.org" and "Ratio 16:9" are text, not speakers. A cue
whose lines each open with a dash and a name (``- Ann: Hi.\\n- Bob: Hello.``) is two turns; its interval
is split between them in proportion to their text length (the subtitle gives no finer timing; this is
the standard reading speed assumption). Cues with no speaker name are skipped. JSON:
``[{"start_s": 1.0, "end_s": 2.5, "speaker": "Alice"}, ...]``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysubs2
from scipy.optimize import linear_sum_assignment

from autofocuspull.core.errors import InputError, ValidationError
from autofocuspull.core.types import check_array


@dataclass(frozen=True)
class Turn:
    """A speaker turn: ``start_s``..``end_s`` seconds, ``speaker`` name."""

    start_s: float
    end_s: float
    speaker: str


# A name: a first word that starts with a letter (any script), then up to three more words of
# letters/digits joined by space, dot, apostrophe or hyphen ("Dr. Who", "O'Neil", "Speaker 2").
_NAME = r"[^\W\d_][\w.'\u2019-]*(?:[ \u00a0][\w.'\u2019-]+){0,3}"
_DASH = r"[-\u2010-\u2015]"  # hyphen, dashes: the dialogue dash that opens a new speaker's line
_COLON_PREFIX = re.compile(rf"^\s*(?:{_DASH}\s*)?({_NAME})\s*:(?=\s|$)")
_BRACKET_PREFIX = re.compile(rf"^\s*(?:{_DASH}\s*)?\[({_NAME})\]\s*(?=\S)")
_DASH_LINE = re.compile(rf"^\s*{_DASH}\s*\S")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ssa"}


def speaker_prefix(line: str) -> tuple[str, str] | None:
    """``(name, rest)`` when ``line`` (plain text, tags removed) opens with a speaker marking, else None."""
    for pattern in (_COLON_PREFIX, _BRACKET_PREFIX):
        if m := pattern.match(line):
            return m.group(1).strip(), line[m.end() :].strip()
    return None


def _split_dialogue(lines: list[str]) -> list[tuple[str, str]] | None:
    """Lines of a two-speaker cue (every line opens with a dash and a name) -> [(name, text)]."""
    if len(lines) < 2 or not all(_DASH_LINE.match(ln) for ln in lines):
        return None
    named = [speaker_prefix(ln) for ln in lines]
    return None if any(n is None for n in named) else named  # type: ignore[return-value]


def cue_turns(start_s: float, end_s: float, text: str, actor: str = "") -> list[Turn]:
    """Turns in one subtitle cue. ``text`` is the cue's plain text (lines joined by ``\\n``), HTML-like
    tags still in it; ``actor`` is the ASS/SSA Name field."""
    if not end_s > start_s:
        return []
    if actor.strip():
        return [Turn(start_s, end_s, actor.strip())]
    if m := _VOICE.search(text):
        return [Turn(start_s, end_s, m.group(1).strip())]
    lines = [ln.strip() for ln in _TAG.sub("", text).split("\n") if ln.strip()]
    if not lines:
        return []
    if parts := _split_dialogue(lines):
        weights = np.array([max(len(rest), 1) for _, rest in parts], np.float64)
        edges = start_s + (end_s - start_s) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        bounds = zip(parts, edges[:-1], edges[1:], strict=True)
        return [Turn(float(a), float(b), name) for (name, _), a, b in bounds]
    if named := speaker_prefix(lines[0]):
        return [Turn(start_s, end_s, named[0])]
    return []


def _subtitle_format(path: Path, text: str) -> str:
    """pysubs2 format id from the extension, else detected from the content."""
    if fmt := _FORMATS.get(path.suffix.lower()):
        return fmt
    try:
        return pysubs2.formats.autodetect_format(text[:10000])
    except pysubs2.exceptions.Pysubs2Error as e:
        raise ValidationError(path, "format", "not SRT, WebVTT, ASS/SSA or JSON") from e


def parse_subtitles(text: str, path: str | Path = "<text>") -> list[Turn]:
    """Turns of an SRT, WebVTT or ASS/SSA document (cues with a speaker name only), via pysubs2."""
    p = Path(path)
    fmt = _subtitle_format(p, text)
    try:
        # unknown tags (WebVTT <v Alice>, <c>) kept for the voice tag; known ones become ASS overrides
        subs = pysubs2.SSAFile.from_string(text, format_=fmt, keep_unknown_html_tags=True)
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as e:
        raise ValidationError(p, fmt, f"cannot parse subtitles ({e})") from e
    turns = []
    for ev in subs.events:
        if not ev.is_comment:
            turns += cue_turns(ev.start / 1000.0, ev.end / 1000.0, ev.plaintext, ev.name)
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
    """Speaker turns sorted by start from an ``.srt``, ``.vtt``, ``.ass``/``.ssa`` or ``.json`` file
    (other extensions: the subtitle format is detected from the content)."""
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
        turns = parse_subtitles(text, p)
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
