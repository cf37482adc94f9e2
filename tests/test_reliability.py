"""Reliability (issue 7), in process: damaged media, interrupted writes, untrusted files.

Damaged files are generated here: bytes overwritten in the middle of an MP4's ``mdat`` (header
kept), files cut at 60 % (Matroska, and MP4 with its index up front), audio longer or shorter than
the video. Interrupts are simulated by a ``KeyboardInterrupt`` raised inside a write.
Subprocess tests (real SIGINT/SIGTERM, two concurrent runs) are in ``test_reliability_cli.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from autofocuspull.core import hub
from autofocuspull.core.cache import StageCache, atomic_write_bytes
from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.io import iter_frames, probe, read_audio, transcode
from autofocuspull.io.synth import AudioSpec, moving_pattern, tone, write_clip

REPO = Path(__file__).resolve().parents[1]
FPS = 25
N_FRAMES = 50  # 2 s at 25 fps


# --------------------------------------------------------------------------------------------
# Generated damaged media
# --------------------------------------------------------------------------------------------


def make_clip(path: Path, *, n: int = N_FRAMES, audio_s: float | None = 2.0, size=(64, 48)) -> Path:
    """H.264 clip of ``n`` moving-pattern frames (GOP 10) with an AAC tone of ``audio_s`` seconds."""
    audio = [AudioSpec(tone(audio_s), 48000, "aac")] if audio_s else []
    write_clip(path, moving_pattern(n, *size), rate=FPS, audio=audio, options={"g": "10"})
    return path


def remux_faststart(src_path: Path, dst_path: Path) -> Path:
    """Copy every packet into an MP4 whose index (moov) comes before the data (web/streaming layout)."""
    with av.open(str(src_path)) as src, av.open(str(dst_path), "w", options={"movflags": "faststart"}) as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream_index]
            dst.mux(packet)
    return dst_path


def mp4_box(data: bytes, name: bytes) -> tuple[int, int]:
    """(start, end) byte offsets of the top-level MP4 box ``name`` (payload included)."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if data[pos + 4 : pos + 8] == name:
            return pos, pos + size
        if size < 8:
            break
        pos += size
    raise AssertionError(f"no {name!r} box in the file")


def corrupt_mid_mdat(src: Path, dst: Path, frame: int = N_FRAMES // 2 + 3) -> Path:
    """Overwrite the middle video packet's payload (frame ``frame``, inside ``mdat``) with random bytes."""
    with av.open(str(src)) as c:
        packets = [(p.pts, p.pos, p.size) for p in c.demux(video=0) if p.size]
    _, pos, size = sorted(packets)[frame]
    data = bytearray(src.read_bytes())
    start, end = mp4_box(bytes(data), b"mdat")
    assert start < pos and pos + size < end  # damage the media data, never the headers
    data[pos + 4 : pos + size] = np.random.default_rng(0).integers(0, 256, size - 4, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def truncate(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def identity(frames):
    for f in frames:
        yield f.rgb


def output_frame_times_s(path: Path) -> np.ndarray:
    """Presentation times (s) of the decoded video frames of ``path``."""
    with av.open(str(path)) as c:
        return np.asarray([float(f.time) for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("damaged")
    good = make_clip(d / "good.mp4")
    good_mkv = d / "good.mkv"
    audio = [AudioSpec(tone(2.0), 48000, "aac")]
    write_clip(good_mkv, moving_pattern(N_FRAMES, 64, 48), rate=FPS, options={"g": "10"}, audio=audio)
    faststart = remux_faststart(good, d / "faststart.mp4")
    return {
        "good": good,
        "corrupt": corrupt_mid_mdat(good, d / "corrupt.mp4"),
        "good_mkv": good_mkv,
        "cut_mkv": truncate(good_mkv, d / "cut.mkv"),
        "faststart": faststart,
        "cut_faststart": truncate(faststart, d / "cut_faststart.mp4"),
        "cut_moov_at_end": truncate(good, d / "cut_moov_at_end.mp4"),
    }


def test_corrupt_packets_mid_stream_are_skipped_with_warning_and_times_kept(clips, caplog) -> None:
    ref = probe(clips["good"])
    bad = probe(clips["corrupt"])
    np.testing.assert_array_equal(bad.pts_s, ref.pts_s)  # the container's index is intact
    with caplog.at_level(logging.WARNING, logger="autofocuspull.io"):
        frames = list(iter_frames(clips["corrupt"], bad))
    assert any("skipped a damaged video packet" in r.getMessage() for r in caplog.records)
    idx = np.asarray([f.index for f in frames])
    assert N_FRAMES - 10 <= len(frames) < N_FRAMES  # at most the rest of one GOP is lost
    assert np.all(np.diff(idx) >= 1)  # a lost frame leaves a gap, later frames are not shifted
    assert idx[-1] == N_FRAMES - 1
    np.testing.assert_allclose([f.t_s for f in frames], ref.pts_s[idx], atol=1e-9)
    np.testing.assert_allclose(idx / FPS, ref.pts_s[idx], atol=1e-6)


def test_corrupt_file_transcodes_with_surviving_frame_times_and_full_audio(clips, tmp_path) -> None:
    out = transcode(clips["corrupt"], tmp_path / "out.mp4", probe(clips["corrupt"]), identity)
    survivors = np.asarray([f.t_s for f in iter_frames(clips["corrupt"])])
    np.testing.assert_allclose(output_frame_times_s(out), survivors, atol=1e-3)
    a_in, a_out = read_audio(clips["corrupt"]), read_audio(out)
    assert abs(len(a_out) - len(a_in)) / 16000 <= 1 / FPS


@pytest.mark.parametrize("name, ref_name", [("cut_mkv", "good_mkv"), ("cut_faststart", "faststart")])
def test_stream_that_ends_early_keeps_the_times_of_what_is_there(clips, name, ref_name) -> None:
    ref = probe(clips[ref_name])
    cut = probe(clips[name])
    assert 0.3 * N_FRAMES < cut.n_frames < N_FRAMES
    # the packets present keep their own times (with B-frames they are not quite a prefix)
    assert np.all(np.isin(cut.pts_s, ref.pts_s)) and np.all(np.diff(cut.pts_s) > 0)
    assert np.all(np.isin(ref.pts_s[: cut.n_frames - 2], cut.pts_s))
    frames = list(iter_frames(clips[name], cut))
    idx = np.asarray([f.index for f in frames])
    assert len(frames) >= 0.8 * cut.n_frames  # only the frame(s) cut mid-packet may be lost
    np.testing.assert_array_equal(idx[: len(frames) - 3], np.arange(len(frames) - 3))
    assert np.all(np.diff(idx) >= 1)
    np.testing.assert_allclose([f.t_s for f in frames], cut.pts_s[idx], atol=1e-9)
    np.testing.assert_allclose([f.t_s for f in frames], idx / FPS, atol=0.05)
    audio = read_audio(clips[name])
    assert audio is not None and 0.3 * 2.0 < len(audio) / 16000 < 2.0


def test_truncated_stream_transcodes_to_the_frames_that_survive(clips, tmp_path) -> None:
    info = probe(clips["cut_mkv"])
    out = transcode(clips["cut_mkv"], tmp_path / "cut_out.mkv", info, identity)
    survivors = np.asarray([f.t_s for f in iter_frames(clips["cut_mkv"], info)])
    np.testing.assert_allclose(output_frame_times_s(out), survivors, atol=1e-3)


def test_mp4_cut_before_its_index_is_a_one_line_input_error(clips) -> None:
    from autofocuspull.core.errors import InputError

    with pytest.raises(InputError, match=r"cut_moov_at_end\.mp4"):
        probe(clips["cut_moov_at_end"])


@pytest.mark.parametrize("audio_s", [3.0, 1.0], ids=["audio-longer", "audio-shorter"])
def test_audio_longer_or_shorter_than_video_is_kept_intact(tmp_path, audio_s: float) -> None:
    src = make_clip(tmp_path / "in.mp4", audio_s=audio_s)
    info = probe(src)
    out = transcode(src, tmp_path / "out.mp4", info, identity)
    a_in, a_out = read_audio(src), read_audio(out)
    assert abs(len(a_in) / 16000 - audio_s) <= 1 / FPS
    assert abs(len(a_out) - len(a_in)) / 16000 <= 1 / FPS
    n = min(len(a_in), len(a_out))
    corr = np.corrcoef(a_in[: n // 2], a_out[: n // 2])[0, 1]  # AAC copied, not re-synthesised
    assert corr > 0.99
    np.testing.assert_allclose(output_frame_times_s(out), info.pts_s, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["corrupt+long-audio", "truncated-mkv"])
def test_rack_on_damaged_media_keeps_surviving_frame_times_and_audio(tmp_path, damage: str) -> None:
    from autofocuspull.config import RunConfig
    from autofocuspull.io import EncodeConfig
    from autofocuspull.pipeline import RackConfig, rack

    if damage == "truncated-mkv":
        good = tmp_path / "good.mkv"
        write_clip(good, moving_pattern(N_FRAMES, 64, 48), rate=FPS, options={"g": "10"},
                   audio=[AudioSpec(tone(2.0), 48000, "aac")])  # fmt: skip
        src = truncate(good, tmp_path / "in.mkv")
    else:
        src = corrupt_mid_mdat(make_clip(tmp_path / "good.mp4", audio_s=3.0), tmp_path / "in.mp4")
    run = RunConfig(device="cpu", cache_dir=str(tmp_path / "cache"))
    cfg = RackConfig(run=run, encode=EncodeConfig(preset="ultrafast"))
    out = tmp_path / "out" / "racked.mp4"
    plan = rack(src, out, cfg)
    info = probe(src)
    assert plan.n_frames == info.n_frames
    survivors = np.asarray([f.t_s for f in iter_frames(src, info)])
    assert len(survivors) < info.n_frames or damage == "truncated-mkv"
    np.testing.assert_allclose(output_frame_times_s(out), survivors, atol=1e-3)
    a_in, a_out = read_audio(src), read_audio(out)
    assert abs(len(a_out) - len(a_in)) / 16000 <= 1 / FPS
    assert [p.name for p in out.parent.iterdir()] == ["racked.mp4"]


# --------------------------------------------------------------------------------------------
# Interrupted writes leave nothing behind
# --------------------------------------------------------------------------------------------


def test_interrupted_transcode_leaves_no_output_and_no_partial_file(clips, tmp_path) -> None:
    def interrupted(frames):
        for k, f in enumerate(frames):
            if k == 5:
                raise KeyboardInterrupt
            yield f.rgb

    out_dir = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        transcode(clips["good"], out_dir / "racked.mp4", probe(clips["good"]), interrupted)
    assert list(out_dir.iterdir()) == []


def test_interrupted_cache_write_keeps_the_previous_entry_and_no_temp(tmp_path, monkeypatch) -> None:
    cache = StageCache(tmp_path / "stage")
    cache.save_npz("tracks.npz", {"x": np.arange(3)})

    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        cache.save_npz("tracks.npz", {"x": np.arange(99)})
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["tracks.npz"]
    np.testing.assert_array_equal(cache.load_npz("tracks.npz")["x"], np.arange(3))


@pytest.mark.parametrize("kind", ["npz", "json"])
def test_damaged_cache_entry_is_a_miss_and_is_removed(tmp_path, kind: str) -> None:
    cache = StageCache(tmp_path / "stage")
    name = f"entry.{kind}"
    if kind == "npz":
        cache.save_npz(name, {"x": np.arange(1000)})
    else:
        cache.save_json(name, {"x": list(range(100))})
    path = tmp_path / "stage" / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # e.g. a disk full mid-copy
    loaded = cache.load_npz(name) if kind == "npz" else cache.load_json(name)
    assert loaded is None and not path.exists()


def test_atomic_write_replaces_whole_file(tmp_path) -> None:
    target = tmp_path / "a" / "b.json"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


# --------------------------------------------------------------------------------------------
# Untrusted files: model downloads and weights
# --------------------------------------------------------------------------------------------


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _card(payload_sha: str) -> hub.ModelCard:
    return hub.ModelCard(
        name="testnet",
        task="test",
        filename="testnet.onnx",
        url="https://example.invalid/testnet.onnx",
        sha256=payload_sha,
        licence="MIT",
        source="test",
    )


def test_download_with_wrong_sha256_is_refused_and_deleted(online, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path))
    good = b"the real weights"
    served = b"something else entirely"
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(served))
    with pytest.raises(ModelUnavailableError, match=r"testnet\.onnx.*sha256 mismatch") as e:
        hub.resolve_model_file(_card(hashlib.sha256(good).hexdigest()))
    assert hashlib.sha256(served).hexdigest() in str(e.value)
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_download_with_right_sha256_is_kept(online, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path))
    good = b"the real weights"
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(good))
    path = hub.resolve_model_file(_card(hashlib.sha256(good).hexdigest()))
    assert path == tmp_path / "models" / "testnet.onnx" and path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == ["testnet.onnx"]


def test_tampered_cached_model_is_refused_and_deleted(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path))
    cached = tmp_path / "models" / "testnet.onnx"
    cached.parent.mkdir()
    cached.write_bytes(b"swapped by someone")
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        hub.resolve_model_file(_card(hashlib.sha256(b"the real weights").hexdigest()))
    assert not cached.exists()


def test_interrupted_download_leaves_no_file(online, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AUTOFOCUSPULL_CACHE", str(tmp_path))

    class _Cut(_FakeResponse):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(4)

    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda url, timeout: _Cut(b"0123456789"))
    with pytest.raises(KeyboardInterrupt):
        hub.resolve_model_file(_card(hashlib.sha256(b"0123456789").hexdigest()))
    assert list((tmp_path / "models").iterdir()) == []


def test_user_model_file_is_used_with_its_sha256_logged(tmp_path, caplog) -> None:
    own = tmp_path / "finetuned.onnx"
    own.write_bytes(b"my own weights")
    card = _card(hashlib.sha256(b"the real weights").hexdigest())
    with caplog.at_level(logging.INFO, logger="autofocuspull.core.hub"):
        assert hub.resolve_model_file(card, own) == own
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "not the published file" in record.getMessage()
    assert hashlib.sha256(b"my own weights").hexdigest() in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autofocuspull.core.hub"):
        hub.resolve_model_file(_card(hashlib.sha256(b"my own weights").hexdigest()), own)
    assert [r.levelno for r in caplog.records] == [logging.INFO]


class _Exploit:
    """A pickle that runs code when unpickled: writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_depth_weights_are_not_executed(tmp_path) -> None:
    """A model folder with a code-running ``pytorch_model.bin`` is refused, its code not run."""
    from autofocuspull.perception.depth.estimator import build_depth_estimator
    from autofocuspull.perception.depth.random_model import save_random_depth_anything

    folder = tmp_path / "evil-depth"
    save_random_depth_anything(folder, size="tiny")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "marker.txt"
    with open(folder / "pytorch_model.bin", "wb") as f:
        pickle.dump({"weight": _Exploit(marker)}, f)
    with pytest.raises(ModelUnavailableError, match="evil-depth"):
        build_depth_estimator(str(folder), local_files_only=True)
    assert not marker.exists()
    with open(folder / "pytorch_model.bin", "rb") as f:  # the file is a real exploit when unpickled
        pickle.load(f)
    assert marker.read_text() == "pwned"


_UNSAFE_LOADS = [
    (re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)"), "torch.load without weights_only=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"^\s*(import pickle|from pickle import|import dill|import joblib)", re.M), "pickle import"),
    (re.compile(r"\bpickle\.loads?\("), "pickle.load"),
    (re.compile(r"use_safetensors\s*=\s*False"), "use_safetensors=False"),
    (re.compile(r"trust_remote_code\s*=\s*True"), "trust_remote_code=True"),
]


def test_no_code_executing_weight_loads_in_the_codebase() -> None:
    """Weights load as ONNX, safetensors or ``weights_only`` torch files; never through pickle."""
    found = []
    for folder in ("autofocuspull", "eval"):
        for py in sorted((REPO / folder).rglob("*.py")):
            text = py.read_text()
            found += [f"{py.relative_to(REPO)}: {why}" for pat, why in _UNSAFE_LOADS if pat.search(text)]
    assert found == []


def test_unsafe_load_patterns_are_detected() -> None:
    """The scan above would catch what it looks for."""
    bad = "x = torch.load(path)\nnp.load(p, allow_pickle=True)\nimport pickle\n"
    good = "x = torch.load(path, map_location='cpu', weights_only=True)\nnp.load(p, allow_pickle=False)\n"
    assert sum(bool(p.search(bad)) for p, _ in _UNSAFE_LOADS) == 3
    assert not any(p.search(good) for p, _ in _UNSAFE_LOADS)


def test_timebase_of_generated_clip_is_exact(clips) -> None:
    """Guard for the tests above: the generated clip's frames are at i / 25 s exactly."""
    info = probe(clips["good"])
    assert info.frame_rate == Fraction(FPS)
    np.testing.assert_allclose(info.pts_s, np.arange(N_FRAMES) / FPS, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Paths inside files cannot reach outside their folder
# --------------------------------------------------------------------------------------------


def _graded_folder(tmp_path: Path, videos: dict[str, str]) -> Path:
    """A dataset folder with one grades file per ``stem -> video field`` (copies of a real one)."""
    import json

    base = json.loads((REPO / "eval" / "grades" / "two_shot.grades.json").read_text())
    data = tmp_path / "data"
    data.mkdir()
    for stem, video in videos.items():
        (data / f"{stem}.grades.json").write_text(json.dumps({**base, "video": video}))
    return data


def test_dataset_clips_named_outside_the_folder_are_refused(tmp_path) -> None:
    from autofocuspull.evaluate import confined_to, evaluate_dataset

    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not for the evaluator")
    data = _graded_folder(
        tmp_path, {"up": "../secret.mp4", "abs": str(outside), "link": "link.mp4", "ok": "ok.mp4"}
    )
    (data / "link.mp4").symlink_to(outside)
    (data / "ok.mp4").write_bytes(b"a clip")
    planned: list[str] = []

    def plan_fn(video: Path):
        planned.append(Path(video).name)
        raise RuntimeError("planned")

    result = evaluate_dataset(data, confined_to(data, plan_fn), "default")
    # a link placed in the folder is how footage is shared without copies: read through, never written
    assert planned == ["link.mp4", "ok.mp4"]
    assert "planned" in result["clips"]["ok"]["error"] and "planned" in result["clips"]["link"]["error"]
    for stem in ("up", "abs"):  # refused by the grades loader itself, and by the CLI's guard behind it
        err = result["clips"][stem]["error"]
        assert "video" in err and ("inside the grades' folder" in err or "outside the dataset" in err), stem


def test_non_finite_numbers_in_plan_keyframes_and_grades_are_refused(tmp_path) -> None:
    from autofocuspull.core.errors import ValidationError
    from autofocuspull.evaluate import parse_grades
    from autofocuspull.plan import parse_keyframes

    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError, match=r"\[0\]\.t_s"):
            parse_keyframes([{"t_s": bad, "subject": 1, "point": None, "strength": "weak"}], "kf.json")
    grades = json.loads((REPO / "eval" / "grades" / "two_shot.grades.json").read_text())
    for video in ("../elsewhere.mp4", "/abs/clip.mp4"):
        with pytest.raises(ValidationError, match="video: expected a file name inside"):
            parse_grades({**grades, "video": video}, "g.json")


def test_non_finite_times_in_a_plan_file_are_refused() -> None:
    from test_plan import make_inputs, speaking

    from autofocuspull.core.errors import ValidationError
    from autofocuspull.plan import plan_focus, plan_from_dict, plan_to_dict

    d = plan_to_dict(plan_focus(make_inputs(speaking((0, 0.0, 2.0)))))
    assert plan_from_dict(json.loads(json.dumps(d)), "p.json").n_frames == len(d["frames"])
    for field, bad in (("t_s", float("nan")), ("focus_m", float("inf"))):
        broken = json.loads(json.dumps(d))
        broken["frames"][3][field] = bad
        with pytest.raises(ValidationError, match=rf"frames\[3\]\.{field}: expected a finite number"):
            plan_from_dict(broken, "p.json")
