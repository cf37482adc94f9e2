"""Build composited two-person dialogue scenes whose turns are known by construction.

Real dialogue in one shot is the scarcest kind of graded footage. This script makes more of it from
real talking footage whose turns were graded by hand: each scene is a two-shot (like
``make_two_shot.py``: the near person at 300x300 px on the left, the far one at 180x180 px on the
right, blurred and dimmed to look farther away) whose timeline is a list of **turns**. During a
turn the talker's tile plays a real stretch of that person talking, with its own audio, and the
listener's tile plays a real stretch of that person silent (listening), so mouths, voice and
turn-taking are real and who speaks when is known exactly. The grades follow from the turn list:
focus holds the talker of each turn and racks to the next talker at the turn boundary, which lies
0.1-0.4 s before that talker's first word (each talk segment starts at the source's pause).

These scenes are a **separate, labelled-by-construction set** (category ``composited-dialogue``):
report them apart from the real clips, never mixed into the real-clip figures.

The sources (``../shared/footage``): ``two_speakers/`` (two 224x224 face tracks of one office
conversation and its audio; speaker0 talks at 2.0-3.6, 8.2-9.4, 13.4-14.9 and 17.8-19.4 s and is
silent at 0-2.0 and 19.4-24.1 s) and ``dev/street_interview_two_shot.mp4`` (the interviewer asks
at 0.0-3.3 s and listens at 3.8-16.4 s; the woman listens at 0-3.3 s and answers at 3.7-16.4 s,
pausing at 6.9, 10.4 and 13.9 s). Those times come from the hand grades of the two clips
(``eval/grades/two_shot.grades.json``, ``eval/grades/dev/street_interview_two_shot.grades.json``).
A listening stretch shorter than the turn it must cover is played back and forth (ping-pong), so
the listener never jumps.

Usage: ``python eval/make_dialogue_composites.py OUT_DIR [--shared DIR] [--with-grades]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "eval"))

from make_two_shot import CANVAS_WH, FAR_XYS, FPS, NEAR_XYS, background, compose  # noqa: E402

DEFAULT_SHARED = REPO.parent / "shared"
AUDIO_RATE = 16000
TILE_PX = 224
# The pull starts at the turn boundary and takes this long; the next hold starts when it ends. The
# two-shot's grader let 0.4 s pass from the start of a rack to the subject being sharp.
PULL_S = 0.4


@dataclass(frozen=True)
class Person:
    """One person in a source clip: the video, the audio, the square crop ``(x, y, size)`` in source
    pixels (None when the video is already a face track), and the graded talk/listen intervals (s)."""

    name: str
    video: str  # relative to the shared folder
    audio: str  # relative to the shared folder (a wav, or the same file's audio track)
    crop_xys: tuple[int, int, int] | None
    talk_s: tuple[tuple[float, float], ...]
    listen_s: tuple[tuple[float, float], ...]
    description: str
    voice_s: tuple[tuple[float, float], ...] = ()  # when the voice is heard in the source (graded)


PEOPLE = {
    p.name: p
    for p in (
        Person(
            "office_listener",
            "footage/two_speakers/speaker1_crop.avi",
            "footage/two_speakers/audio.wav",
            None,
            ((26.4, 28.4),),
            ((0.0, 23.9),),
            "man in a red shirt with glasses, in profile over a laptop (two_speakers speaker1)",
            ((24.12, 24.6), (26.72, 28.3)),
        ),
        Person(
            "office_man",
            "footage/two_speakers/speaker0_crop.avi",
            "footage/two_speakers/audio.wav",
            None,
            ((1.7, 3.7), (7.9, 9.5), (13.1, 15.0), (17.5, 19.5)),
            ((19.5, 24.0), (0.0, 1.7)),
            "man in a blue hoodie facing the camera (two_speakers speaker0)",
            ((2.0, 3.6), (8.2, 9.4), (13.4, 14.9), (17.8, 19.4)),
        ),
        Person(
            "street_woman",
            "footage/dev/street_interview_two_shot.mp4",
            "footage/dev/street_interview_two_shot.mp4",
            (218, 88, 262),
            ((3.4, 6.9), (6.9, 10.4), (10.4, 13.9), (13.9, 16.45)),
            ((0.0, 3.3),),
            "woman in a red shirt with glasses (street interview)",
            ((3.7, 6.8), (7.0, 16.4)),
        ),
        Person(
            "street_interviewer",
            "footage/dev/street_interview_two_shot.mp4",
            "footage/dev/street_interview_two_shot.mp4",
            (0, 25, 270),
            ((0.0, 3.35),),
            ((3.9, 16.3),),
            "man in a dark shirt holding a microphone (street interview)",
            ((0.0, 3.3),),
        ),
    )
}


@dataclass(frozen=True)
class Scene:
    """A composite: the near and far person, and the turns as (talker, index into its talk_s).

    ``listener_clock`` = (person, source start s): that person never talks in the scene and plays
    its own footage continuously from that source time (real, unlooped listening); ``backchannels``
    = ((source start s, source end s), ...) of that person, whose audio is mixed in over the talker's:
    short reactions (a laugh) that a focus puller ignores.
    """

    name: str
    near: str
    far: str
    turns: tuple[tuple[str, int], ...]
    listener_clock: tuple[str, float] | None = None
    backchannels: tuple[tuple[float, float], ...] = ()


SCENES = (
    # A 13 s answer by the near person with a laugh from the far listener at 11.5 s (his real
    # footage plays unlooped, his lips part for the laugh): a backchannel, no turn, no pull.
    Scene(
        "composite_street_woman_near_backchannel_far",
        "street_woman",
        "office_listener",
        (("street_woman", 0), ("street_woman", 1), ("street_woman", 2), ("street_woman", 3)),
        listener_clock=("office_listener", 12.62),
        backchannels=((24.0, 24.8),),
    ),
    # The near person opens; eight alternating turns of 1.6-3.5 s: seven graded pulls.
    Scene(
        "composite_office_man_near_street_woman_far",
        "office_man",
        "street_woman",
        (
            ("office_man", 0),
            ("street_woman", 0),
            ("office_man", 1),
            ("street_woman", 1),
            ("office_man", 2),
            ("street_woman", 2),
            ("office_man", 3),
            ("street_woman", 3),
        ),
    ),
    # The depths swapped and the far person opens: the planner must not favour the near face.
    Scene(
        "composite_street_woman_near_office_man_far",
        "street_woman",
        "office_man",
        (
            ("office_man", 3),
            ("street_woman", 1),
            ("office_man", 0),
            ("street_woman", 3),
            ("office_man", 2),
            ("street_woman", 0),
        ),
    ),
    # A question from the near person, then a 13 s answer from the far one, one continuous stretch of
    # source with pauses of 0.2-0.4 s that the planner must hold through: one graded pull.
    Scene(
        "composite_street_interviewer_near_street_woman_far",
        "street_interviewer",
        "street_woman",
        (
            ("street_interviewer", 0),
            ("street_woman", 0),
            ("street_woman", 1),
            ("street_woman", 2),
            ("street_woman", 3),
        ),
    ),
)


def scene_by_name(name: str) -> Scene:
    """The scene called ``name`` (a KeyError lists the known ones)."""
    for s in SCENES:
        if s.name == name:
            return s
    raise KeyError(f"composite {name!r}: expected one of {', '.join(s.name for s in SCENES)}")


def timeline(scene: Scene) -> list[tuple[float, float, str, float]]:
    """The turns laid end to end: (start_s, end_s, talker, source start_s) in composite time."""
    out, t = [], 0.0
    for who, k in scene.turns:
        a, b = PEOPLE[who].talk_s[k]
        out.append((round(t, 6), round(t + b - a, 6), who, a))
        t += b - a
    return out


def speaking_for(scene: Scene) -> dict[str, list[list[float]]]:
    """Who is heard when, in composite time: each talker's graded voice intervals inside its turns."""
    out: dict[str, list[list[float]]] = {scene.near: [], scene.far: []}
    for start, end, who, src in timeline(scene):
        for a, b in PEOPLE[who].voice_s:
            lo, hi = max(a, src), min(b, src + (end - start))
            if hi > lo:
                seg = [round(start + lo - src, 3), round(start + hi - src, 3)]
                if out[who] and abs(out[who][-1][1] - seg[0]) < 1e-6:
                    out[who][-1][1] = seg[1]  # one voice run split only by a turn boundary
                else:
                    out[who].append(seg)
    if scene.listener_clock is not None:
        who, clock = scene.listener_clock
        for bc_a, bc_b in scene.backchannels:
            for a, b in PEOPLE[who].voice_s:
                lo, hi = max(a, bc_a), min(b, bc_b)
                if hi > lo:
                    out[who].append([round(lo - clock, 3), round(hi - clock, 3)])
        out[who].sort()
    return out


def _box(xys: tuple[int, int, int]) -> list[float]:
    w, h = CANVAS_WH
    x, y, s = xys
    return [round(x / w, 4), round(y / h, 4), round((x + s) / w, 4), round((y + s) / h, 4)]


def grades_for(scene: Scene) -> dict:
    """The scene's grades (``autofocuspull.grades/1``), from the turn list alone."""
    turns = timeline(scene)
    duration_s = turns[-1][1]
    holds = []
    for i, (start, end, who, src) in enumerate(turns):
        begin = start if i == 0 or turns[i - 1][2] == who else start + PULL_S
        if holds and holds[-1]["subject"] == who:
            holds[-1]["end_s"] = round(end, 3)
            continue
        note = f"{who} talks (source {src:.2f} s)"
        holds.append({"start_s": round(begin, 3), "end_s": round(end, 3), "subject": who, "note": note})
    pulls = sum(1 for a, b in itertools.pairwise(holds) if a["subject"] != b["subject"])
    extra = ""
    if scene.listener_clock is not None:
        who, clock = scene.listener_clock
        heard = ", ".join(f"{a - clock:.2f}-{b - clock:.2f} s" for a, b in scene.backchannels)
        extra = (
            f" {who} never takes a turn: his own footage plays unlooped from {clock:.2f} s of its source, "
            f"and his reaction ({heard}, a laugh over the talker's words) is a backchannel: focus stays."
        )
    lines = ", ".join(f"{who} {a:.2f}-{b:.2f} s" for a, b, who, _ in turns)
    notes = (
        f"Labelled by construction (eval/make_dialogue_composites.py, scene {scene.name}); a composited "
        "scene, to be reported apart from the real clips. Two real people composited as a two-shot: "
        f"{scene.near} near (left, 300 px), {scene.far} far (right, 180 px, blurred and dimmed). Each turn "
        "plays a real stretch of the talker talking, with its own audio, while the listener's tile plays a "
        f"real stretch of that person silent. Turns: {lines}. Focus holds the talker; at each change of "
        f"talker the pull starts at the turn boundary (0.1-0.4 s before the first word: each talk stretch "
        f"starts in the source's pause) and the next hold starts {PULL_S} s later.{extra} "
        f"{pulls} graded pulls. "
        "The boxes are the pasted rectangles. Doubt: the talker's audio level is its source's, so the two "
        "voices differ in level and room tone as two different recordings do."
    )
    subjects = {
        scene.near: {"description": PEOPLE[scene.near].description, "boxes": [[0.0, *_box(NEAR_XYS)]]},
        scene.far: {"description": PEOPLE[scene.far].description, "boxes": [[0.0, *_box(FAR_XYS)]]},
    }
    for h in holds:
        if h["subject"] not in subjects:
            raise ValueError(f"{scene.name}: turn by {h['subject']!r}, who is not in the scene")
    return {
        "format": "autofocuspull.grades/1",
        "video": f"{scene.name}.mp4",
        "notes": notes,
        "cuts_s": [],
        "subjects": subjects,
        "holds": holds,
        "_duration_s": duration_s,
    }


class _Track:
    """A person's tiles (224x224 RGB) and audio (16 kHz mono float32), looked up by source time."""

    def __init__(self, person: Person, shared: Path) -> None:
        self.person = person
        self.times_s, self.tiles = self._tiles(shared / person.video, person.crop_xys)
        self.audio = _audio_16k(shared / person.audio)

    @staticmethod
    def _tiles(path: Path, crop: tuple[int, int, int] | None) -> tuple[np.ndarray, list[np.ndarray]]:
        times, tiles = [], []
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            for f in c.decode(s):
                rgb = f.to_ndarray(format="rgb24")
                if crop is not None:
                    x, y, size = crop
                    rgb = rgb[y : y + size, x : x + size]
                tiles.append(cv2.resize(rgb, (TILE_PX, TILE_PX), interpolation=cv2.INTER_AREA))
                times.append(float(f.pts * s.time_base) if f.pts is not None else len(times) / FPS)
        order = np.argsort(times)
        return np.asarray(times)[order], [tiles[i] for i in order]

    def tile_at(self, t_s: float) -> np.ndarray:
        return self.tiles[int(np.argmin(np.abs(self.times_s - t_s)))]

    def audio_between(self, a_s: float, b_s: float) -> np.ndarray:
        return self.audio[round(a_s * AUDIO_RATE) : round(b_s * AUDIO_RATE)]


def _audio_16k(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        r = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        chunks = [g.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0]) for g in r.resample(f)]
        chunks += [g.to_ndarray().reshape(-1) for g in r.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def ping_pong(intervals: tuple[tuple[float, float], ...], elapsed_s: float) -> float:
    """Source time after ``elapsed_s`` s of listening: through the intervals in order, then back and
    forth over the whole pool, so consecutive frames are always neighbours in the source."""
    spans = [(a, b - a) for a, b in intervals]
    total = sum(d for _, d in spans)
    u = elapsed_s % (2 * total)
    u = u if u < total else 2 * total - u
    for a, d in spans:
        if u <= d:
            return a + u
        u -= d
    return spans[-1][0] + spans[-1][1]


def build_scene(scene: Scene, shared: Path, out_path: Path) -> Path:
    """Write ``out_path`` (mp4 640x360, 25 fps, H.264 + AAC mono 16 kHz) for ``scene``."""
    tracks = {n: _Track(PEOPLE[n], shared) for n in {scene.near, scene.far}}
    turns = timeline(scene)
    duration_s = turns[-1][1]
    base = background()
    listened = {scene.near: 0.0, scene.far: 0.0}
    tmp = out_path.with_name("." + out_path.name + ".tmp.mp4")
    with av.open(str(tmp), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = CANVAS_WH[0], CANVAS_WH[1], "yuv420p"
        v.options = {"crf": "18", "preset": "medium", "threads": "1"}
        a = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        n_frames = round(duration_s * FPS)
        for i in range(n_frames):
            t = i / FPS
            start, _, who, src = next(tt for tt in turns if tt[0] <= t + 1e-9 < tt[1] + 1e-9)
            tiles = {}
            for name, tr in tracks.items():
                if name == who:
                    tiles[name] = tr.tile_at(src + (t - start))
                elif scene.listener_clock is not None and scene.listener_clock[0] == name:
                    tiles[name] = tr.tile_at(scene.listener_clock[1] + t)
                else:
                    tiles[name] = tr.tile_at(ping_pong(tr.person.listen_s, listened[name]))
                    listened[name] += 1.0 / FPS
            frame = av.VideoFrame.from_ndarray(
                compose(tiles[scene.near], tiles[scene.far], base), format="rgb24"
            )
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for pkt in v.encode(frame):
                out.mux(pkt)
        for pkt in v.encode():
            out.mux(pkt)
        audio = np.concatenate([tracks[w].audio_between(s0, s0 + (e - s)) for s, e, w, s0 in turns])
        if scene.listener_clock is not None:
            who, clock = scene.listener_clock
            for bc_a, bc_b in scene.backchannels:
                extra = tracks[who].audio_between(bc_a, bc_b)
                k0 = round((bc_a - clock) * AUDIO_RATE)
                n = min(len(extra), len(audio) - k0)
                audio[k0 : k0 + n] += extra[:n]
        pcm = np.clip(audio * 32767.0, -32768, 32767).astype(np.int16)
        for k in range(0, len(pcm), 1024):
            fr = av.AudioFrame.from_ndarray(pcm[None, k : k + 1024], format="s16", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = AUDIO_RATE, k, Fraction(1, AUDIO_RATE)
            for pkt in a.encode(fr):
                out.mux(pkt)
        for pkt in a.encode():
            out.mux(pkt)
    tmp.replace(out_path)
    return out_path


def sources_of(scene: Scene) -> list[str]:
    """The shared files a scene is built from (relative to the shared folder)."""
    return sorted({f for n in (scene.near, scene.far) for f in (PEOPLE[n].video, PEOPLE[n].audio)})


def write_grades(scene: Scene, path: Path) -> Path:
    """Write the scene's grades file (the build's length is implied by the turns)."""
    g = grades_for(scene)
    g.pop("_duration_s")
    path.write_text(json.dumps(g, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path, help="folder to write the scenes into (not the repository)")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared folder")
    ap.add_argument("--with-grades", action="store_true", help="write each scene's grades beside it")
    ap.add_argument("--scene", action="append", help="build only this scene (repeatable)")
    args = ap.parse_args(argv)
    out_dir = args.out_dir.resolve()
    if out_dir == REPO or REPO in out_dir.parents:
        print(f"error: {out_dir}: write the scenes outside the repository", file=sys.stderr)
        return 2
    try:
        scenes = [scene_by_name(n) for n in args.scene] if args.scene else list(SCENES)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    for scene in scenes:
        missing = [f for f in sources_of(scene) if not (args.shared / f).is_file()]
        if missing:
            print(
                f"error: {args.shared / missing[0]}: missing (see ../shared/footage/README.md)",
                file=sys.stderr,
            )
            return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        video = build_scene(scene, args.shared, out_dir / f"{scene.name}.mp4")
        if args.with_grades:
            write_grades(scene, out_dir / f"{scene.name}.grades.json")
        print(video)
    return 0


if __name__ == "__main__":
    sys.exit(main())
