"""Shared fixtures: paths to ../shared (skipping with a reason when absent) and generated media."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FOOTAGE = SHARED / "footage"
SHARED_MODELS = SHARED / "models"

os.environ.setdefault("AUTOFOCUSPULL_PROGRESS", "0")


def _shared(folder: Path, name: str, what: str) -> Path:
    p = folder / name
    if not p.exists():
        pytest.skip(f"../shared/{folder.name}/{name} absent: {what} needs the shared folder beside the repo")
    return p


def footage(name: str) -> Path:
    """Path of a clip in ../shared/footage, or skip the test saying what is missing."""
    return _shared(FOOTAGE, name, "this real-footage test")


def shared_model(name: str) -> Path:
    """Path of a weights file in ../shared/models, or skip the test saying what is missing."""
    return _shared(SHARED_MODELS, name, "this test of the real weights")


def write_audio_only(path: Path) -> Path:
    """Write a short AAC file with no video stream (an input the tool must refuse)."""
    import av

    from autofocuspull.io.synth import tone

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000, layout="mono")
        f = av.AudioFrame.from_ndarray(tone(0.1)[None, :1024], format="flt", layout="mono")
        f.sample_rate, f.pts = 48000, 0
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own cache and is offline: nothing may download during tests."""
    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("AUTOFOCUSPULL_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the offline switches for a download test (downloads there are faked or file:// URLs).

    huggingface_hub reads ``HF_HUB_OFFLINE`` once, at its first import, which under the autouse
    fixture above happened offline: its constant is reset as well as the variables."""
    from huggingface_hub import constants

    monkeypatch.delenv("AUTOFOCUSPULL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


#: Grades for the generated demo clip (``make_demo_clip``, 2 s): the far person, in frame all along.
DEMO_GRADES = {
    "format": "autofocuspull.grades/1",
    "video": "demo.mp4",
    "notes": "test grades: the far person, who is in frame all along",
    "cuts_s": [],
    "subjects": {"far": {"description": "right", "boxes": [[0.0, 0.62, 0.45, 0.9, 1.0]]}},
    "holds": [{"start_s": 0.0, "end_s": 2.0, "subject": "far"}],
}
