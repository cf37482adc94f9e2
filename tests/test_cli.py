"""The command line: help everywhere, and bad input gets one line, the right exit code, no output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_audio_only

from autofocuspull.cli import build_parser, main
from autofocuspull.io.synth import AudioSpec, moving_pattern, tone, write_clip

SUBCOMMANDS = ["rack", "plan", "render", "eval", "fit", "demo", "config", "experiment", "cache", "export",
               "import", "app", "batch"]  # fmt: skip
STAGE_COMMANDS = ["rack", "plan", "render", "eval", "demo"]


@pytest.mark.parametrize("sub", [[], *([s] for s in SUBCOMMANDS)])
def test_help_everywhere(sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([*sub, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: autofocuspull" in out
    if sub:
        assert "--log-level" in out
    if sub and sub[0] not in ("experiment", "cache"):
        assert "--config" in out and "--set" in out
    if sub and sub[0] in STAGE_COMMANDS:
        assert "--device" in out


def test_every_subcommand_is_wired() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    ok = tmp_path / "ok.mp4"
    write_clip(ok, moving_pattern(5, 32, 32), audio=[AudioSpec(tone(0.3), 48000, "aac")])
    data = ok.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("just some text, not a video\n" * 10)
    (tmp_path / "nomoov.mp4").write_bytes(data[: data.find(b"moov") - 4])
    audio_only = tmp_path / "voice.m4a"
    write_audio_only(audio_only)
    (tmp_path / "folder").mkdir()
    return {
        "missing": tmp_path / "nope.mp4",
        "directory": tmp_path / "folder",
        "empty": tmp_path / "empty.mp4",
        "text": tmp_path / "notes.mp4",
        "nomoov": tmp_path / "nomoov.mp4",
        "audio_only": audio_only,
        "ok": ok,
    }


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "empty"),
        ("text", "not a media file"),
        ("nomoov", "not a media file"),
        ("audio_only", "no video stream"),
    ],
)
@pytest.mark.parametrize("command", ["rack", "plan"])
def test_bad_input_files(bad_inputs, tmp_path, capsys, case: str, problem: str, command: str) -> None:
    src = bad_inputs[case]
    out = tmp_path / ("out.mp4" if command == "rack" else "plan.json")
    code = main([command, str(src), "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and err.startswith("autofocuspull: error:"), err
    assert str(src) in err and problem in err
    assert "Traceback" not in err
    assert not out.exists()


def test_output_path_problems(bad_inputs, tmp_path, capsys) -> None:
    src = bad_inputs["ok"]
    before = src.read_bytes()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = [
        (src, 2, "is the input"),
        (tmp_path / "out.avi", 2, "unsupported output extension"),
        (blocker / "sub" / "out.mp4", 1, "cannot be created"),
    ]
    if Path("/sys").is_dir():  # writable by nobody, root included
        cases.append((Path("/sys/out.mp4"), 1, "not writable"))
    for out, code, problem in cases:
        assert main(["rack", str(src), "-o", str(out), "-q"]) == code
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and problem in err and str(out) in err, err
    assert src.read_bytes() == before
    expected = {"ok.mp4", "empty.mp4", "notes.mp4", "nomoov.mp4", "voice.m4a", "folder", "a_file"}
    assert {p.name for p in tmp_path.iterdir()} == expected  # no output, no temp file


def test_debug_shows_traceback(bad_inputs, tmp_path) -> None:
    env = {**os.environ, "AUTOFOCUSPULL_PROGRESS": "0"}
    args = [
        sys.executable,
        "-m",
        "autofocuspull.cli",
        "plan",
        str(bad_inputs["text"]),
        "-o",
        str(tmp_path / "p.json"),
    ]
    plain = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    debug = subprocess.run([*args, "--debug"], capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == debug.returncode == 1
    assert "Traceback" not in plain.stderr and plain.stderr.strip().count("\n") == 0
    assert "Traceback" in debug.stderr


def test_unknown_choices_are_usage_errors(bad_inputs, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["rack", str(bad_inputs["ok"]), "--cue", "telepathy", "-o", str(tmp_path / "o.mp4")])
    assert e.value.code == 2
    capsys.readouterr()
    code = main(
        ["rack", str(bad_inputs["ok"]), "--planner", "coin-flip", "-o", str(tmp_path / "o.mp4"), "-q"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "coin-flip" in err and "largest-face" in err
    assert not (tmp_path / "o.mp4").exists()


def test_cache_dir_holds_the_models_too(bad_inputs, tmp_path, capsys, monkeypatch) -> None:
    import os

    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path / "elsewhere"))
    mine = tmp_path / "my_cache"
    main(["plan", str(bad_inputs["text"]), "-o", str(tmp_path / "p.json"), "--cache-dir", str(mine), "-q"])
    capsys.readouterr()
    from autofocuspull.core.hub import cache_dir

    assert cache_dir() == mine and os.environ["AUTOFOCUSPULL_CACHE"] == str(mine)
