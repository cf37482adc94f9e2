"""One configuration tree: TOML in and out, typed overrides, errors that name the key, and cache
keys that follow each stage's own sections."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from autofocuspull.cli import OPTION_KEYS, build_parser, main
from autofocuspull.config import (
    ConfigError,
    RackConfig,
    apply_overrides,
    config_section,
    config_to_toml,
    load_config,
    section_names,
)
from autofocuspull.io.synth import AudioSpec, moving_pattern, tone, write_clip

CONTRACT_SECTIONS = [
    "io", "lens", "encode", "render", "planner", "baselines", "depth", "depth.align",
    "perception.faces", "perception.objects", "perception.masks", "perception.tracking",
    "perception.tracking.kalman", "perception.cuts", "perception.subjects", "perception.distance",
    "perception.perceiver", "cues.vad", "cues.speaker", "cues.mouth", "cues.saliency", "cues.mfcc",
    "cues.transcript",
]  # fmt: skip


def test_the_tree_has_every_stage_section() -> None:
    names = section_names()
    assert set(CONTRACT_SECTIONS) <= set(names)
    assert type(config_section(RackConfig(), "perception.tracking")).__name__ == "TrackerConfig"
    assert type(config_section(RackConfig(), "cues.speaker")).__name__ == "AsdConfig"


def test_toml_round_trip_of_defaults_and_of_changed_values(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(config_to_toml(RackConfig()))
    assert load_config(path) == RackConfig()
    changed = apply_overrides(
        RackConfig(),
        {
            "planner.lead_s": 0.75,
            "perception.distance.face_core": [0.2, 0.2, 0.8, 0.8],
            "perception.objects.classes": [0, 39],
            "depth.subject_distance_m": 2.5,
            "run.use_cache": False,
            "render.blades": 7,
        },
    )
    text = config_to_toml(changed)
    data = tomllib.loads(text)  # valid TOML with the sections named after the stages
    assert (
        data["planner"]["lead_s"] == 0.75 and data["perception"]["tracking"]["kalman"]["std_position"] == 0.05
    )
    path.write_text(text)
    back = load_config(path)
    assert back == changed and back.perception.objects.classes == (0, 39)


def test_set_values_are_typed_from_the_dataclass() -> None:
    shipped_lead_s = RackConfig().planner.lead_s
    assert shipped_lead_s != 0.75
    cfg = apply_overrides(
        RackConfig(),
        [
            "planner.lead_s=0.75",
            "planner.min_hold_s=2",  # an int where a float is expected is a float
            "depth.keyframe_interval=4",
            "run.use_cache=false",
            "encode.preset=veryfast",
            "perception.faces.model_path=/models/yunet.onnx",
            "perception.faces.model_path=none",
            "perception.distance.person_core=[0.3, 0.1, 0.7, 0.5]",
        ],
    )
    assert cfg.planner.lead_s == 0.75 and cfg.planner.min_hold_s == 2.0
    assert isinstance(cfg.planner.min_hold_s, float)
    assert cfg.depth.keyframe_interval == 4 and cfg.run.use_cache is False
    assert cfg.encode.preset == "veryfast" and cfg.perception.faces.model_path is None
    assert cfg.perception.distance.person_core == (0.3, 0.1, 0.7, 0.5)
    assert RackConfig().planner.lead_s == shipped_lead_s  # frozen: the defaults are untouched


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("planner.lead_s=soon", ["planner.lead_s", "expected float", "'soon'"]),
        ("depth.keyframe_interval=2.5", ["depth.keyframe_interval", "expected int", "2.5"]),
        ("run.use_cache=maybe", ["run.use_cache", "expected bool", "'maybe'"]),
        ("perception.distance.face_core=[1, 2]", ["perception.distance.face_core", "4 values"]),
        ("planner.lead=1", ["unknown config key", "planner.lead"]),
        ("plannr.lead_s=1", ["unknown config section", "plannr"]),
        ("planner=1", ["section.key"]),
        ("perception.tracking=1", ["perception.tracking", "section"]),
        ("planner.mode=telepathy", ["planner", "mode", "telepathy"]),  # the dataclass's own check
    ],
)
def test_bad_overrides_name_the_key(override: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides(RackConfig(), [override])
    for w in words:
        assert w in str(e.value), str(e.value)


def test_bad_files_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[planner]\nlead_s = 0.5\n\n[plannr]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown config section 'plannr'"):
        load_config(bad)
    bad.write_text("[perception.tracking]\nbuffer_s = 'long'\n")
    with pytest.raises(ConfigError, match=r"perception\.tracking\.buffer_s: expected float, got 'long'"):
        load_config(bad)
    bad.write_text("[planner\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_config_command_prints_the_effective_toml(tmp_path: Path, capsys) -> None:
    f = tmp_path / "mine.toml"
    f.write_text("[planner]\nlead_s = 0.6\n")
    assert main(["config", "--config", str(f), "--set", "lens.f_number=2.8"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["planner"]["lead_s"] == 0.6 and data["lens"]["f_number"] == 2.8
    assert data["perception"]["cuts"]["adaptive_threshold"] == 3.0  # every section, every key
    assert data["perception"]["distance"]["deadband_blur_px"] == 2.0


@pytest.mark.parametrize(
    ("args", "name"),
    [(["--set", "planner.nope=1"], "planner.nope"), (["--set", "nosuch.key=1"], "nosuch")],
)
def test_unknown_keys_are_usage_errors_on_the_command_line(tmp_path, capsys, args, name) -> None:
    clip = tmp_path / "c.mp4"
    write_clip(clip, moving_pattern(4, 32, 32))
    for command in (["config"], ["plan", str(clip), "-o", str(tmp_path / "p.json")]):
        assert main([*command, *args, "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and name in err, err
    assert not (tmp_path / "p.json").exists()


def test_every_shorthand_option_sets_an_existing_key() -> None:
    """Each option of :data:`OPTION_KEYS` exists on some command and names a real key; every
    option of the stage commands is either a shorthand or one of the commands' own."""
    own = {"help", "input", "output", "plan_out", "plot", "plan", "grades", "dataset", "json",
           "config", "overrides", "no_cache", "log_level", "quiet", "debug", "output_dir", "version",
           "command", "spec", "action", "models", "start", "end", "preview_overlay", "to", "clip", "port",
           "no_browser", "flicker", "format", "gpu_per_worker", "max_retries", "plan_only", "ray",
           "ray_address", "segment_s", "verify", "workers", "report", "rounds", "no_loo", "jobs"}  # fmt: skip
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    dests = {a.dest for p in sub.choices.values() for a in p._actions}
    assert set(OPTION_KEYS) <= dests
    assert dests - set(OPTION_KEYS) <= own, dests - set(OPTION_KEYS) - own
    for key in OPTION_KEYS.values():
        section, name = key.rsplit(".", 1)
        assert name in {f.name for f in dataclasses.fields(config_section(RackConfig(), section))}


def test_shorthands_then_set_win_over_the_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "mine.toml"
    f.write_text('[lens]\nf_number = 2.0\nfocal_length_mm = 85.0\n[run]\ndevice = "cpu"\n')
    assert main(["config", "--config", str(f), "--set", "lens.f_number=4"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["lens"] == {"focal_length_mm": 85.0, "f_number": 4.0, "sensor_width_mm": 36.0}
    from autofocuspull.cli import config_from_args

    args = build_parser().parse_args(
        [
            "rack",
            "x.mp4",
            "-o",
            "o.mp4",
            "--config",
            str(f),
            "--f-number",
            "5.6",
            "--aperture-shape",
            "blades:6",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.lens.f_number == 5.6 and cfg.lens.focal_length_mm == 85.0 and cfg.render.blades == 6
    assert cfg.run.device == "cpu"


# --------------------------------------------------------------------------------------------
# Cache keys follow each stage's own sections
# --------------------------------------------------------------------------------------------


def _stage_dirs(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("clips/*/*") if p.is_dir()}


@pytest.mark.slow
def test_changing_the_planner_section_reruns_only_planning(tmp_path: Path) -> None:
    from autofocuspull.pipeline import plan_clip

    clip = tmp_path / "clip.mp4"
    write_clip(clip, moving_pattern(30, 96, 64), rate=25, audio=[AudioSpec(tone(1.2), 48000, "aac")])
    cache = tmp_path / "cache"
    base = apply_overrides(RackConfig(), {"run.cache_dir": str(cache), "run.device": "cpu"})
    plan_a, _ = plan_clip(clip, base)
    first = _stage_dirs(cache)
    # heuristic depth is not cached; "voices" (speech-window embeddings) only when the encoder is installed
    assert {d.split("-")[0] for d in first} - {"voices"} == {"subjects", "cues"}
    changes = [
        {"planner.lead_s": 0.9, "planner.switch_cost": 0.9},
        {"lens.f_number": 2.8},
        {"render.blades": 6},
        {"stages.planner": "center", "baselines.min_switch_s": 1.0},
    ]
    for change in changes:
        plan_b, _ = plan_clip(clip, apply_overrides(base, change))
        assert _stage_dirs(cache) == first, change
    assert plan_b.meta["run_config"]["baselines"]["min_switch_s"] == 1.0  # meta records the whole tree
    assert plan_b.meta["run_config"]["stages"]["planner"] == plan_b.meta["planner"] == "center"
    plan_clip(clip, apply_overrides(base, {"cues.saliency.w_size": 0.5}))
    after_cues = _stage_dirs(cache)
    assert len(after_cues - first) == 1 and next(iter(after_cues - first)).startswith("cues-")
    plan_clip(clip, apply_overrides(base, {"perception.tracking.buffer_s": 2.0}))
    new = _stage_dirs(cache) - after_cues
    assert "subjects" in {d.split("-")[0] for d in new}  # cues re-run only if the tracks changed
    meta = plan_a.meta["run_config"]
    assert meta["planner"]["lead_s"] == RackConfig().planner.lead_s and meta["run"]["cache_dir"] == str(cache)
    assert meta["perception"]["distance"]["face_core"] == [0.25, 0.2, 0.75, 0.7]
