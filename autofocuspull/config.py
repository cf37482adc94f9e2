"""One configuration tree for a whole run: :class:`RackConfig`.

Every stage's own config dataclass is a section of the tree, and every default is defined once, in
that dataclass. The tree reads and writes TOML with sections named after the stages::

    [planner]
    lead_s = 0.75

    [perception.tracking]
    buffer_s = 1.5

and single values are changed by dotted keys (``planner.lead_s=0.75``), typed from the dataclass
field. An unknown section or key, or a value of the wrong type, is a :class:`ConfigError` (a usage
error: exit code 2) that names it.

Public API::

    cfg = load_config("run.toml", ["planner.lead_s=0.75"])   # file, then --set overrides
    cfg = apply_overrides(cfg, {"planner.lead_s": 0.75})     # typed values or strings
    text = config_to_toml(cfg)                               # loads back to an equal config
    section = config_section(cfg, "perception.tracking")     # TrackerConfig

``None`` (an unset optional value, such as a model path that means "the download cache") cannot be
written in TOML: such keys are left out of the file (listed in a comment) and ``--set key=none``
sets them back to ``None``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autofocuspull.app.session import AppConfig
from autofocuspull.batch.jobs import BatchConfig
from autofocuspull.core.errors import UsageError
from autofocuspull.core.types import Lens
from autofocuspull.cues.asd import AsdConfig, MouthMotionConfig
from autofocuspull.cues.mfcc import MfccConfig
from autofocuspull.cues.saliency import SaliencyConfig
from autofocuspull.cues.vad import VadConfig
from autofocuspull.cues.voices import VoiceConfig
from autofocuspull.export.common import ExportConfig
from autofocuspull.io.writer import EncodeConfig
from autofocuspull.perception.cuts import CutConfig
from autofocuspull.perception.depth.run import DepthRunConfig
from autofocuspull.perception.detect.faces import FaceDetectorConfig
from autofocuspull.perception.detect.objects import ObjectDetectorConfig
from autofocuspull.perception.detect.segment import SegmenterConfig
from autofocuspull.perception.distance import DistanceConfig
from autofocuspull.perception.reid import ReidConfig
from autofocuspull.perception.salient import SalientConfig
from autofocuspull.perception.subjects import PerceiverConfig, SubjectConfig
from autofocuspull.perception.track import TrackerConfig
from autofocuspull.plan.baselines import BaselineConfig
from autofocuspull.plan.planner import PlannerConfig
from autofocuspull.render.layered import RenderConfig

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(UsageError):
    """A configuration file or override names an unknown section/key or gives a badly typed value."""


# --------------------------------------------------------------------------------------------
# Sections that are not one stage's own hyperparameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Where the run happens and what it may reuse; none of it changes a result's meaning.

    ``device``: "auto" (CUDA when available), "cpu" or "cuda"; ``threads``: torch, OpenCV and
    onnxruntime threads (None: the cores this process may run on, see core/threads.py);
    ``cache_dir``: the analysis and model cache (None: ``$AUTOFOCUSPULL_CACHE`` or
    ``~/.cache/autofocuspull``); ``use_cache``: reuse (and store) analysis; ``keyframes``: a JSON
    file of user focus decisions (only planners that take keyframes accept it); ``render_workers``:
    batches of frames rendered at once (None: 1 on a GPU, where one batch fills the device, else
    ``min(2, threads)``: see :func:`autofocuspull.render.render_video`; the output is the same).
    """

    device: str = "auto"
    threads: int | None = None
    render_workers: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    keyframes: str | None = None

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device: expected one of {DEVICES}, got {self.device!r}")
        if self.render_workers is not None and self.render_workers < 1:
            raise ValueError(f"render_workers: expected >= 1 or none, got {self.render_workers}")


@dataclass(frozen=True)
class StagesConfig:
    """Which registered implementation runs each swappable stage (names in the stage registries).

    The depth model is chosen by ``[depth] model`` (a registry name, a hub id or a local folder).
    """

    planner: str = "default"
    renderer: str = "layered"
    faces: str = "yunet"
    objects: str = "yolox-nano"
    masks: str = "deeplabv3"
    tracker: str = "bytetrack"
    cuts: str = "adaptive"
    speaker: str = "light-asd"


@dataclass(frozen=True)
class IoConfig:
    """Decoding sizes. ``analysis_max_side_px``: detection, tracking and cuts see frames shrunk to
    fit this (640 px keeps a face of 1/20 of the frame width at 32 px, YuNet's comfortable minimum,
    at a fraction of the cost of full HD)."""

    analysis_max_side_px: int = 640


@dataclass(frozen=True)
class PerceiverSchedule:
    """How often the costlier detectors run inside the perception pass. ``object_every``: objects
    every k-th frame of a shot (faces run on every frame; the tracker coasts between);
    ``mask_every``: person masks every k-th frame (the nearest
    one serves the others: a seated or walking person's silhouette changes little in 0.12 s; every
    6th instead of every 3rd cut the segmenter from 0.053 to 0.009 CPU s per frame, see
    eval/README.md "Speed knobs")."""

    object_every: int = PerceiverConfig.object_every
    mask_every: int = 6


@dataclass(frozen=True)
class PerceptionConfig:
    """Detection, tracking, cuts, subjects and their distances."""

    faces: FaceDetectorConfig = field(default_factory=FaceDetectorConfig)
    objects: ObjectDetectorConfig = field(default_factory=ObjectDetectorConfig)
    masks: SegmenterConfig = field(default_factory=SegmenterConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    cuts: CutConfig = field(default_factory=CutConfig)
    subjects: SubjectConfig = field(default_factory=SubjectConfig)
    distance: DistanceConfig = field(default_factory=DistanceConfig)
    reid: ReidConfig = field(default_factory=ReidConfig)
    salient: SalientConfig = field(default_factory=SalientConfig)
    perceiver: PerceiverSchedule = field(default_factory=PerceiverSchedule)

    def perceiver_config(self) -> PerceiverConfig:
        """The :class:`PerceiverConfig` these sections describe."""
        return PerceiverConfig(
            object_every=self.perceiver.object_every,
            tracker=self.tracking,
            cuts=self.cuts,
            subjects=self.subjects,
            reid=self.reid,
            salient=self.salient,
        )


@dataclass(frozen=True)
class TranscriptConfig:
    """``path``: SRT/WebVTT with speaker names or JSON speaker turns (None: no transcript)."""

    path: str | None = None


@dataclass(frozen=True)
class CuesConfig:
    """Voice activity, who speaks (Light-ASD or its mouth-motion fallback), saliency, transcript."""

    vad: VadConfig = field(default_factory=VadConfig)
    speaker: AsdConfig = field(default_factory=AsdConfig)
    mouth: MouthMotionConfig = field(default_factory=MouthMotionConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    voices: VoiceConfig = field(default_factory=VoiceConfig)
    mfcc: MfccConfig = field(default_factory=MfccConfig)
    transcript: TranscriptConfig = field(default_factory=TranscriptConfig)


@dataclass(frozen=True)
class RackConfig:
    """Everything a run needs besides its files: one section per stage (see the module docstring).

    The cue mode (what drives focus: dialogue, saliency or auto) is ``planner.mode``; the virtual
    lens is ``lens``; the aperture shape is ``render.blades``.
    """

    run: RunConfig = field(default_factory=RunConfig)
    stages: StagesConfig = field(default_factory=StagesConfig)
    io: IoConfig = field(default_factory=IoConfig)
    lens: Lens = field(default_factory=Lens)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    depth: DepthRunConfig = field(default_factory=DepthRunConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    export: ExportConfig = field(default_factory=ExportConfig)  # depth-map encoding of the exports
    app: AppConfig = field(default_factory=AppConfig)  # the web app's previews
    batch: BatchConfig = field(default_factory=BatchConfig)  # how many clips are scheduled (batch, eval)


# --------------------------------------------------------------------------------------------
# Walking the tree
# --------------------------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _fields(cls: type) -> dict[str, Any]:
    """Field name -> resolved type of a config dataclass."""
    hints = _hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def section_names(cls: type = RackConfig, prefix: str = "") -> list[str]:
    """Dotted names of every section of the tree, parents before children (``["run", ...,
    "depth", "depth.align", "perception", "perception.faces", ...]``)."""
    out = []
    for name, tp in _fields(cls).items():
        if _is_section(tp):
            dotted = f"{prefix}{name}"
            out.append(dotted)
            out.extend(section_names(tp, dotted + "."))
    return out


def config_section(cfg: Any, dotted: str) -> Any:
    """The sub-config at ``dotted`` (e.g. ``"perception.tracking"``); ConfigError if there is none."""
    node = cfg
    for i, part in enumerate(dotted.split(".")):
        if not (dataclasses.is_dataclass(node) and part in _fields(type(node))):
            where = ".".join(dotted.split(".")[:i]) or "the top level"
            raise ConfigError(f"unknown config section {dotted!r} (no {part!r} in {where})")
        node = getattr(node, part)
    if not dataclasses.is_dataclass(node):
        raise ConfigError(f"{dotted!r} is a key, not a config section")
    return node


def section_dict(cfg: Any) -> dict[str, Any]:
    """A section as a JSON-friendly dict (tuples as lists, subsections nested): for cache keys and
    the plan's ``meta``."""
    return _plain(dataclasses.asdict(cfg))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# --------------------------------------------------------------------------------------------
# Typed values
# --------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as type ``tp`` (int, float, str, bool, X | None, tuple[...]), or ConfigError."""

    def bad() -> ConfigError:
        return ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
            raise bad()
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise bad()
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise bad()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values ({_type_name(tp)}), got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise bad()
        return value
    raise ConfigError(f"{key}: fields of type {_type_name(tp)} cannot be configured")


def parse_value(text: str, tp: Any, key: str) -> Any:
    """A ``--set`` value: TOML syntax (``0.75``, ``true``, ``[1, 2]``, ``"a"``) or a bare string."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    if _accepts_str(tp) and not isinstance(value, str):
        value = text  # a str field given 1.5 means the string "1.5"
    return _coerce(value, tp, key)


def _accepts_str(tp: Any) -> bool:
    return tp is str or str in typing.get_args(tp)


# --------------------------------------------------------------------------------------------
# Building a tree from dicts
# --------------------------------------------------------------------------------------------


def _build(cls: type, data: Mapping[str, Any], where: str, base: Any) -> Any:
    """``base`` (an instance of ``cls``) with the values of ``data`` put in, checked and typed."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{where}]: expected a table of keys, got {data!r}")
    fields = _fields(cls)
    changes: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        if name not in fields:
            kind = "section" if isinstance(value, Mapping) else "key"
            known = ", ".join(fields)
            raise ConfigError(f"unknown config {kind} {key!r} (expected one of: {known})")
        tp = fields[name]
        if _is_section(tp):
            changes[name] = _build(tp, value, key, getattr(base, name))
        else:
            changes[name] = _coerce(value, tp, key)
    if not changes:
        return base
    try:
        return dataclasses.replace(base, **changes)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"[{where or 'config'}]: {e}") from e


def config_from_dict(data: Mapping[str, Any], base: RackConfig | None = None) -> RackConfig:
    """``base`` (default: the defaults) with nested-dict values put in (as read from TOML)."""
    return _build(RackConfig, data, "", base if base is not None else RackConfig())


def _nest(overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """``{"a.b.c": v}`` or ``["a.b.c=v"]`` -> nested dicts, values typed from the tree."""
    is_map = isinstance(overrides, Mapping)
    items = list(overrides.items()) if is_map else [_split_assignment(s) for s in overrides]
    nested: dict[str, Any] = {}
    for dotted, value in items:
        parts = dotted.split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"{dotted!r}: expected section.key (for example planner.lead_s)")
        cls: type = RackConfig
        for i, part in enumerate(parts[:-1]):
            tp = _fields(cls).get(part)
            if not _is_section(tp):
                raise ConfigError(f"unknown config section {'.'.join(parts[: i + 1])!r} in {dotted!r}")
            cls = tp
        name = parts[-1]
        tp = _fields(cls).get(name)
        if tp is None or _is_section(tp):
            what = "is a section, not a key" if tp is not None else "unknown config key"
            raise ConfigError(
                f"{what} {dotted!r} (keys of [{'.'.join(parts[:-1])}]: {', '.join(_fields(cls))})"
            )
        if isinstance(value, str) and not _accepts_str(tp):
            value = parse_value(value, tp, dotted)
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[name] = value
    return nested


def _split_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def apply_overrides(cfg: RackConfig, overrides: Mapping[str, Any] | Iterable[str]) -> RackConfig:
    """``cfg`` with dotted-key overrides: ``{"planner.lead_s": 0.75}`` or ``["planner.lead_s=0.75"]``.

    String values are parsed by the field's type (``"0.75"`` for a float); ``"none"`` sets an
    optional field to None.
    """
    return config_from_dict(_nest(overrides), cfg)


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    base: RackConfig | None = None,
) -> RackConfig:
    """The defaults (or ``base``), then the TOML file at ``path``, then ``overrides``."""
    cfg = base if base is not None else RackConfig()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read the config file ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e})") from None
        try:
            cfg = config_from_dict(data, cfg)
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from None
    return apply_overrides(cfg, overrides)


# --------------------------------------------------------------------------------------------
# Writing TOML
# --------------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip()[len("v = ") :]


def _section_lines(node: Any, dotted: str) -> Iterator[str]:
    scalars, unset, subsections = [], [], []
    for name, tp in _fields(type(node)).items():
        value = getattr(node, name)
        if _is_section(tp):
            subsections.append((name, value))
        elif value is None:
            unset.append(name)
        else:
            scalars.append(f"{name} = {_toml_value(value)}")
    if dotted and (scalars or unset):
        yield ""
        yield f"[{dotted}]"
        if unset:
            yield f"# unset (None): {', '.join(unset)}"
        yield from scalars
    for name, value in subsections:
        yield from _section_lines(value, f"{dotted}.{name}" if dotted else name)


def config_to_toml(cfg: RackConfig, header: str | None = None) -> str:
    """The whole tree as TOML (every key, every section); :func:`load_config` reads it back."""
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines.extend(_section_lines(cfg, ""))
    text = "\n".join(lines).lstrip("\n") + "\n"
    return text


#: Sections that say how clips are scheduled, not what is computed: a plan is the same whichever
#: executor made it, so the plan's ``meta`` leaves them out (the batch manifest records them).
SCHEDULING_SECTIONS = ("batch",)


def config_to_dict(cfg: RackConfig, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The whole tree as nested JSON-friendly dicts (for the plan's ``meta``), less the top-level
    sections named in ``exclude``."""
    return {k: v for k, v in section_dict(cfg).items() if k not in exclude}


__all__ = [
    "SCHEDULING_SECTIONS",
    "ConfigError",
    "CuesConfig",
    "IoConfig",
    "PerceiverSchedule",
    "PerceptionConfig",
    "RackConfig",
    "RunConfig",
    "StagesConfig",
    "TranscriptConfig",
    "apply_overrides",
    "config_from_dict",
    "config_section",
    "config_to_dict",
    "config_to_toml",
    "load_config",
    "parse_value",
    "section_dict",
    "section_names",
]
