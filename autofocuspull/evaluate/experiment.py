"""Experiments: named variants of a run configuration, scored over one graded folder, reproducibly.

An experiment file is TOML. ``[base]`` (optional) holds configuration sections applied to every
variant; each ``[variants.NAME]`` holds the sections that make that variant different (stage
choices in ``[variants.NAME.stages]``, parameters in any other section)::

    [base.run]
    device = "cpu"

    [variants.default]              # the defaults

    [variants.long-lead.planner]
    lead_s = 0.75

    [variants.center.stages]
    planner = "center"

:func:`run_experiment` writes, under the results folder: ``results.json`` (every variant's
per-clip metrics and means, the package version, the git commit, the Python and library versions,
the dataset), ``comparison.txt`` (the table), ``configs/NAME.toml`` (the exact effective
configuration of each variant, loadable with ``--config``), ``plans/NAME/CLIP.plan.json`` and
``plots/NAME/CLIP.png``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autofocuspull import __version__
from autofocuspull.config import ConfigError, RackConfig, config_from_dict, config_to_dict, config_to_toml
from autofocuspull.core.cache import atomic_write_bytes
from autofocuspull.core.types import FocusPlan

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a variant name is also a folder name


def load_experiment(path: str | os.PathLike[str]) -> dict[str, RackConfig]:
    """Variant name -> its effective configuration (defaults, then ``[base]``, then the variant)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: experiment file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    unknown = set(data) - {"base", "variants", "description"}
    if unknown:
        raise ConfigError(f"{p}: unknown top-level table(s) {sorted(unknown)} (expected base, variants)")
    variants = data.get("variants")
    if not isinstance(variants, Mapping) or not variants:
        raise ConfigError(f"{p}: expected at least one [variants.NAME] table")
    try:
        base = config_from_dict(data.get("base", {}))
    except ConfigError as e:
        raise ConfigError(f"{p}: [base]: {e}") from None
    out = {}
    for name, sections in variants.items():
        if not NAME.match(name):
            raise ConfigError(f"{p}: variant name {name!r}: use letters, digits, '-', '_' and '.'")
        try:
            out[name] = config_from_dict(sections, base)
        except ConfigError as e:
            raise ConfigError(f"{p}: [variants.{name}]: {e}") from None
    return out


def git_commit(folder: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit of the checkout holding ``folder`` (default: this package), with
    ``+dirty`` when it has uncommitted changes; None outside a git checkout or without git."""
    where = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """What a rerun needs to match: versions of the package, Python and the numeric libraries."""
    from importlib.metadata import PackageNotFoundError, version

    libs = {}
    for lib in ("torch", "numpy", "opencv-python-headless", "av", "onnxruntime", "transformers"):
        try:
            libs[lib] = version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    return {
        "autofocuspull": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
    }


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, default=str) + "\n").encode())


def run_experiment(
    variants: Mapping[str, RackConfig],
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    evaluate: Callable[[RackConfig, Path, Callable[[str, FocusPlan], None]], dict[str, Any]],
    source: str | None = None,
) -> dict[str, Any]:
    """Score every variant over ``dataset`` with ``evaluate(cfg, plot_dir, save_plan)`` (the
    pipeline's folder evaluation) and write the results folder (see the module docstring)."""
    from autofocuspull.evaluate.dataset import format_comparison
    from autofocuspull.plan import save_plan

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name, cfg in variants.items():
        atomic_write_bytes(
            out / "configs" / f"{name}.toml", config_to_toml(cfg, header=f"variant {name}").encode()
        )
        plan_dir = out / "plans" / name
        plan_dir.mkdir(parents=True, exist_ok=True)

        def keep(stem: str, plan: FocusPlan, plan_dir: Path = plan_dir) -> None:
            save_plan(plan, plan_dir / f"{stem}.plan.json")

        results[name] = evaluate(cfg, out / "plots" / name, keep)
    record = {
        "experiment": source,
        "dataset": str(Path(dataset).resolve()),
        "environment": environment(),
        "configs": {name: config_to_dict(cfg) for name, cfg in variants.items()},
        "variants": results,
    }
    _write_json(out / "results.json", record)
    table = format_comparison(results)
    atomic_write_bytes(out / "comparison.txt", (table + "\n").encode())
    return record
