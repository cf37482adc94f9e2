"""Fit the judgement-call constants of the planner, its cues and the subject distances on graded clips.

Each clip is analysed once (:mod:`.snapshot`); a trial only re-smooths the subject distances,
recomputes the saliency mix and plans, so hundreds of trials over a whole set take minutes.

- **Search space** (:data:`SEARCH_SPACE`): every fitted constant with a bounded grid of values
  around its argued default, named by its config section (``planner``, ``cues.saliency``,
  ``perception.distance``) as in the configuration TOML.
- **Objective** (:func:`clip_objective`): per clip, the mean of target accuracy, pull F1, an onset
  score ``1 - MAE / 0.5 s`` (0 when graded pulls exist and none matched) and a pulls-per-minute
  score ``min(1, tolerance / max(r, 1/r))`` with ``r = (predicted + c) / (graded + c)`` pulls per
  minute (``c`` = :attr:`FitConfig.rate_floor_per_min`, so a clip with none graded is not
  undefined); terms a clip does not define (no judged frame, no graded pull) are left out.
  The set's objective (:func:`set_objective`, what the search maximises) gives each of the
  issue's targets equal weight rather than each clip: the mean over clips of target accuracy, of
  pull F1, of pull F1 on the clips with graded pulls, of the onset score on those clips and of
  the rate score. A per-clip mean would let the many clips without graded pulls (most real
  footage wants a hold, 30 of the 33 graded real clips) outvote the few dialogue clips that
  have them.
- **Search** (:func:`coordinate_descent`): from the shipped defaults, each constant in turn is set
  to the grid value that maximises the objective with the others fixed; rounds repeat until none
  changes (at most :attr:`FitConfig.rounds`). Deterministic: ties keep the current value.
- **Report** (:func:`fit_dataset`): leave-one-clip-out (fit on all the other clips, score the
  held-out one) per clip and overall, beside the unfitted defaults and every baseline planner; the
  fit on the whole set is what is written as the fitted configuration.

Trials share one memo of per-clip metrics keyed by the full set of values, so the folds of the
leave-one-out, which mostly walk the same path, cost little more than one fit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autofocuspull.evaluate.dataset import aggregate, find_graded_clips
from autofocuspull.evaluate.grades import Grades, load_grades
from autofocuspull.evaluate.metrics import METRIC_NAMES, ONSET_TOLERANCE_S, score_plan
from autofocuspull.evaluate.snapshot import ClipSnapshot, snapshot_clip

log = logging.getLogger(__name__)

Values = dict[str, Any]  # "section.key" -> value
ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class Param:
    """One fitted constant: ``key`` "section.name" and the bounded grid of values it may take."""

    key: str
    grid: tuple[Any, ...]

    @property
    def section(self) -> str:
        return self.key.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[1]


# Grids span about a factor of 2-4 either side of each argued default: wide enough to find a
# better value on a set, bounded so that no fit lands on a degenerate planner (a switch that costs
# nothing, a hold of a frame, a pull faster than any focus puller's hand).
SEARCH_SPACE: tuple[Param, ...] = (
    Param("planner.switch_cost", (0.2, 0.35, 0.5, 0.75, 1.0, 1.5)),
    Param("planner.saliency_switch_cost", (0.75, 1.0, 1.5, 2.5, 4.0, 6.0)),
    Param("planner.handover_s", (0.0, 0.2, 0.5, 1.0, 2.0)),
    Param("planner.min_hold_s", (0.5, 0.75, 1.0, 1.5, 2.0)),
    Param("planner.lead_s", (0.0, 0.15, 0.3, 0.45, 0.6)),
    Param("planner.backchannel_s", (0.3, 0.5, 0.7, 1.0, 1.4)),
    Param("planner.opening_gap_s", (0.0, 0.4, 0.8, 1.2, 1.6)),
    Param("planner.reply_gap_s", (0.0, 0.5, 1.0, 1.5)),
    Param("planner.merge_gap_s", (0.1, 0.2, 0.3, 0.5, 0.8)),
    Param("planner.talk_threshold", (0.3, 0.4, 0.5, 0.6, 0.7)),
    Param("planner.idle_weight", (0.0, 0.05, 0.1, 0.2, 0.4)),
    Param("planner.quiet_saliency_weight", (0.0, 0.25, 0.5, 1.0)),
    Param("planner.auto_hold_s", (1.0, 2.0, 3.0, 5.0)),
    Param("planner.saliency_contrast", (1.0, 2.0, 3.0, 4.0)),
    Param("planner.coast_s", (0.25, 0.5, 1.0, 2.0)),
    Param("planner.prefocus_window_s", (0.25, 0.5, 1.0)),
    Param("planner.prefocus_max_s", (1.0, 2.0, 3.0)),
    Param("planner.max_pull_speed_dioptre_per_s", (0.75, 1.5, 3.0)),
    Param("cues.saliency.w_size", (0.15, 0.3, 0.6)),
    Param("cues.saliency.w_centrality", (0.1, 0.2, 0.4)),
    Param("cues.saliency.w_motion", (0.0, 0.1, 0.2)),
    Param("cues.saliency.w_facing", (0.05, 0.15, 0.3)),
    Param("cues.saliency.w_object", (0.05, 0.15, 0.3)),
    Param("cues.saliency.person_prior", (0.4, 0.6, 0.8)),
    Param("cues.saliency.product_prior", (0.6, 0.8, 1.0)),
    Param("cues.saliency.hand_weight", (0.25, 0.5, 1.0)),
    Param("cues.saliency.animal_prior", (0.3, 0.6, 0.8)),
    Param("cues.voices.cluster_distance", (0.25, 0.3, 0.4, 0.5, 0.6)),
    Param("cues.voices.voice_weight", (0.0, 0.3, 0.6, 0.8, 1.0)),
    Param("cues.voices.min_evidence", (0.0, 0.25, 0.5, 1.0)),
    Param("cues.voices.prior_frames", (5.0, 25.0, 75.0)),
    Param("perception.distance.smooth_tau_s", (0.1, 0.25, 0.4, 0.8)),
    Param("perception.distance.object_smooth_tau_s", (0.06, 0.12, 0.25)),
    Param("perception.distance.outlier_mad_k", (2.0, 3.0, 4.5)),
)
SECTIONS = ("planner", "cues.saliency", "cues.voices", "perception.distance")


@dataclass(frozen=True)
class FitConfig:
    """How the fit searches and scores.

    ``rounds``: passes of coordinate descent (each visits every constant once; the search stops
    early when a pass changes nothing). ``jobs``: worker processes planning the clips of a trial
    (forked; results are identical for any number). ``onset_scale_s``: onset MAE that scores 0 (the match
    tolerance, beyond which a pull is not matched at all). ``rate_tolerance``: pulls per minute
    within this factor of the graded rate score 1 (the target's 1.5x). ``rate_floor_per_min``:
    added to both rates, so that 0 predicted against 0 graded is perfect and 1 against 0 is not
    infinitely wrong (one pull a minute: a minor fault on a clip with none).
    """

    rounds: int = 2
    jobs: int = 1
    onset_scale_s: float = ONSET_TOLERANCE_S
    rate_tolerance: float = 1.5
    rate_floor_per_min: float = 1.0
    space: tuple[Param, ...] = SEARCH_SPACE


@dataclass
class FitClip:
    """A graded clip ready for trials: its name, grades, analysis snapshot and the GE2E embeddings
    of its speech windows (None: no audio, or the voice encoder is not installed)."""

    stem: str
    grades: Grades
    snapshot: ClipSnapshot
    voice_windows: Any = None


# --------------------------------------------------------------------------------------------
# Trials
# --------------------------------------------------------------------------------------------


def default_values(space: Sequence[Param] = SEARCH_SPACE) -> Values:
    """The shipped default of every constant in ``space``."""
    base = section_defaults()
    return {p.key: getattr(base[p.section], p.name) for p in space}


def section_defaults() -> dict[str, Any]:
    """Default config dataclass of each fitted section (from the configuration tree)."""
    from autofocuspull.config import RackConfig, config_section

    base = RackConfig()
    return {name: config_section(base, name) for name in SECTIONS}


def configs_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Section -> config dataclass with ``values`` applied. A saliency switch cost below the switch
    cost (which :class:`PlannerConfig` refuses) is raised to it: looks alone never switch cheaper."""
    out = {}
    for section, base in section_defaults().items():
        kw = {k.rsplit(".", 1)[1]: v for k, v in values.items() if k.rsplit(".", 1)[0] == section}
        if section == "planner":
            sc = kw.get("switch_cost", base.switch_cost)
            kw["saliency_switch_cost"] = max(kw.get("saliency_switch_cost", base.saliency_switch_cost), sc)
        out[section] = dataclasses.replace(base, **kw)
    return out


def plan_trial(clip: FitClip, configs: Mapping[str, Any], planner: str = "default"):
    """Plan one clip from its snapshot with the given section configs (or a baseline planner)."""
    from autofocuspull.cues.saliency import compute_saliency
    from autofocuspull.cues.voices import apply_voices
    from autofocuspull.plan import PLANNERS, plan_focus

    snap = clip.snapshot
    inputs = snap.plan_inputs(configs["perception.distance"])
    if clip.voice_windows is not None and inputs.cues.speaking.size:
        inputs.cues = apply_voices(inputs.cues, inputs.tracks, clip.voice_windows, configs["cues.voices"])
    if configs["cues.saliency"] != section_defaults()["cues.saliency"]:
        sal, comps = compute_saliency(
            inputs.tracks,
            (snap.info.width, snap.info.height),
            snap.cues.times_s,
            config=configs["cues.saliency"],
        )
        inputs.cues = dataclasses.replace(inputs.cues, saliency=sal, components=comps)
        inputs.saliency = configs["cues.saliency"]
    default = planner == "default"
    plan = plan_focus(inputs, configs["planner"]) if default else PLANNERS[planner](inputs, None)
    plan.video = snap.info.to_dict()
    plan.meta["lens"] = dataclasses.asdict(inputs.lens)
    return plan


def clip_objective(metrics: Mapping[str, Any], cfg: FitConfig = FitConfig()) -> float:
    """One clip's score in [0, 1] from its metrics (see the module docstring)."""
    terms = []
    if metrics.get("target_accuracy") is not None:
        terms.append(float(metrics["target_accuracy"]))
    terms.append(float(metrics["pull_f1"]))
    if float(metrics["graded_pulls_per_min"]) > 0:
        terms.append(_onset_score(metrics, cfg))
    terms.append(_rate_score(metrics, cfg))
    return float(np.mean(terms))


def _rate_score(metrics: Mapping[str, Any], cfg: FitConfig) -> float:
    c = cfg.rate_floor_per_min
    r = (float(metrics["pulls_per_min"]) + c) / (float(metrics["graded_pulls_per_min"]) + c)
    return min(1.0, cfg.rate_tolerance / max(r, 1.0 / r))


def _onset_score(metrics: Mapping[str, Any], cfg: FitConfig) -> float:
    mae = metrics.get("onset_mae_s")
    return 0.0 if mae is None else max(0.0, 1.0 - float(mae) / cfg.onset_scale_s)


def set_objective(rows: Sequence[Mapping[str, Any]], cfg: FitConfig = FitConfig()) -> float:
    """A set of clips' score in [0, 1]: one equal term per target (see the module docstring)."""
    acc = [float(m["target_accuracy"]) for m in rows if m.get("target_accuracy") is not None]
    pulled = [m for m in rows if float(m["graded_pulls_per_min"]) > 0]
    terms = [
        np.mean(acc) if acc else None,
        np.mean([float(m["pull_f1"]) for m in rows]) if rows else None,
        np.mean([float(m["pull_f1"]) for m in pulled]) if pulled else None,
        np.mean([_onset_score(m, cfg) for m in pulled]) if pulled else None,
        np.mean([_rate_score(m, cfg) for m in rows]) if rows else None,
    ]
    terms = [t for t in terms if t is not None]
    return float(np.mean(terms)) if terms else 0.0


_POOL_CLIPS: list[FitClip] = []  # the clips a forked worker plans (set before the pool starts)


def _score_one(args: tuple[int, tuple]) -> dict:
    i, key = args
    clip = _POOL_CLIPS[i]
    return score_plan(plan_trial(clip, configs_from_values(dict(key))), clip.grades)


class Scorer:
    """Per-clip metrics of a set of values, memoised (folds of the leave-one-out share them).
    With ``cfg.jobs > 1`` the clips of a trial are planned by forked worker processes; use it as
    a context manager (``with Scorer(...) as scorer:``) so the workers are shut down."""

    def __init__(self, clips: Sequence[FitClip], cfg: FitConfig = FitConfig()) -> None:
        self.clips = list(clips)
        self.cfg = cfg
        self.memo: dict[tuple, list[dict]] = {}
        self._pool: Any = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:  # close, not terminate: no signal reaches the workers
            self._pool.close()
            self._pool.join()
            self._pool = None

    def _map(self, key: tuple) -> list[dict]:
        if self.cfg.jobs <= 1 or len(self.clips) < 2:
            configs = configs_from_values(dict(key))
            return [score_plan(plan_trial(c, configs), c.grades) for c in self.clips]
        if self._pool is None:
            import multiprocessing

            global _POOL_CLIPS
            _POOL_CLIPS = self.clips
            self._pool = multiprocessing.get_context("fork").Pool(self.cfg.jobs)
        return self._pool.map(_score_one, [(i, key) for i in range(len(self.clips))], chunksize=1)

    def metrics(self, values: Mapping[str, Any]) -> list[dict]:
        key = tuple(sorted(values.items()))
        if key not in self.memo:
            self.memo[key] = self._map(key)
        return self.memo[key]

    def objective(self, values: Mapping[str, Any], rows: Sequence[int]) -> float:
        per_clip = self.metrics(values)
        return set_objective([per_clip[i] for i in rows], self.cfg)


def coordinate_descent(
    scorer: Scorer, rows: Sequence[int], start: Values, progress: ProgressFn | None = None
) -> tuple[Values, float]:
    """Best values found by coordinate descent on the clips ``rows`` (see the module docstring)."""
    best = dict(start)
    best_score = scorer.objective(best, rows)
    for rnd in range(scorer.cfg.rounds):
        changed = False
        for p in scorer.cfg.space:
            for v in p.grid:
                if v == best[p.key]:
                    continue
                trial = {**best, p.key: v}
                s = scorer.objective(trial, rows)
                if s > best_score + 1e-9:
                    best, best_score, changed = trial, s, True
            if progress is not None:
                progress(f"round {rnd + 1}: {p.key} = {best[p.key]} (objective {best_score:.4f})")
        if not changed:
            break
    return best, best_score


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def load_fit_clips(
    dataset: str | Path, rack_cfg: Any = None, progress: ProgressFn | None = None
) -> tuple[list[FitClip], dict[str, str]]:
    """Every graded clip of ``dataset`` with its analysis snapshot; failures are returned by name."""
    clips, failed = [], {}
    for stem, grades_path, video in find_graded_clips(dataset):
        try:
            grades = load_grades(grades_path)
            if video is None:
                raise FileNotFoundError(f"no single video named {stem}.* beside {grades_path.name}")
            if progress is not None:
                progress(f"analysis of {stem}")
            snap = snapshot_clip(video, rack_cfg)
            clips.append(FitClip(stem, grades, snap, _voice_windows(video, snap, rack_cfg)))
        except Exception as e:  # one bad clip is reported, not fatal
            log.error("fit: %s failed: %s: %s", stem, type(e).__name__, e)
            failed[stem] = f"{type(e).__name__}: {e}"
    return clips, failed


def _voice_windows(video: Path, snap: ClipSnapshot, rack_cfg: Any) -> Any:
    from autofocuspull import pipeline
    from autofocuspull.config import RackConfig

    return pipeline.voice_windows(str(video), snap.info, snap.cues, rack_cfg or RackConfig(), [])


def evaluate_fixed(scorer: Scorer, values: Values) -> dict[str, dict]:
    """Per-clip metrics (with the clip objective) of fixed values."""
    return {
        c.stem: {**m, "objective": clip_objective(m, scorer.cfg)}
        for c, m in zip(scorer.clips, scorer.metrics(values), strict=True)
    }


def evaluate_baseline(clips: Sequence[FitClip], name: str, cfg: FitConfig) -> dict[str, dict]:
    """Per-clip metrics of a baseline planner (nothing to fit)."""
    configs = configs_from_values({})
    out = {}
    for c in clips:
        m = score_plan(plan_trial(c, configs, planner=name), c.grades)
        out[c.stem] = {**m, "objective": clip_objective(m, cfg)}
    return out


def leave_one_out(
    scorer: Scorer, start: Values, progress: ProgressFn | None = None
) -> tuple[dict[str, dict], dict[str, Values]]:
    """Per held-out clip: its metrics under the fit on all the other clips, and that fit's values."""
    n = len(scorer.clips)
    scores, fits = {}, {}
    for i, clip in enumerate(scorer.clips):
        if progress is not None:
            progress(f"leave-one-out {i + 1}/{n}: {clip.stem}")
        values, _ = coordinate_descent(scorer, [j for j in range(n) if j != i], start)
        m = scorer.metrics(values)[i]
        scores[clip.stem] = {**m, "objective": clip_objective(m, scorer.cfg)}
        fits[clip.stem] = {k: v for k, v in values.items() if v != start[k]}
    return scores, fits


def summarise(per_clip: Mapping[str, Mapping[str, Any]], cfg: FitConfig) -> dict[str, Any]:
    """Means of the metrics and the objective, plus the target checks that need every clip."""
    out = aggregate(per_clip)
    rows = [r for r in per_clip.values() if "error" not in r]
    out["objective"] = set_objective(rows, cfg) if rows else None
    with_pulls = [r["pull_f1"] for r in rows if r["graded_pulls_per_min"] > 0]
    out["pull_f1_with_pulls"] = float(np.mean(with_pulls)) if with_pulls else None
    out["rate_within_1_5x"] = sum(_rate_ok(r, cfg) for r in rows)
    return out


def _rate_ok(r: Mapping[str, Any], cfg: FitConfig) -> bool:
    """Pulls per minute within the tolerance of the graded rate (0 graded: none predicted)."""
    p, g = float(r["pulls_per_min"]), float(r["graded_pulls_per_min"])
    if g == 0:
        return p == 0
    return g / cfg.rate_tolerance <= p <= g * cfg.rate_tolerance


def fit_dataset(
    dataset: str | Path,
    rack_cfg: Any = None,
    cfg: FitConfig = FitConfig(),
    *,
    loo: bool = True,
    baselines: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Fit on every graded clip of ``dataset`` and report (see the module docstring).

    Returns ``{"fitted": values changed from the defaults, "values": all fitted values,
    "objective": on the whole set, "methods": {name: {"clips": per clip, "mean": summary}},
    "loo_fits": per held-out clip the values that fold changed, "failed": {stem: error}}``;
    methods are ``"fitted (leave-one-out)"``, ``"defaults"`` and each baseline.
    """
    from autofocuspull.plan.baselines import BASELINE_PLANNERS

    clips, failed = load_fit_clips(dataset, rack_cfg, progress)
    if not clips:
        raise ValueError(f"{dataset}: no graded clip could be analysed")
    space = cfg.space
    start = default_values(space)
    methods: dict[str, dict] = {}
    loo_fits: dict[str, Values] = {}
    with Scorer(clips, cfg) as scorer:
        if progress is not None:
            progress(f"fit on all {len(clips)} clips")
        values, objective = coordinate_descent(scorer, range(len(clips)), start, progress)
        if loo:
            per_clip, loo_fits = leave_one_out(scorer, start, progress)
            methods["fitted (leave-one-out)"] = per_clip
        methods["fitted (on all, in-sample)"] = evaluate_fixed(scorer, values)
        methods["defaults"] = evaluate_fixed(scorer, start)
        trials = len(scorer.memo)
    for name in baselines if baselines is not None else sorted(BASELINE_PLANNERS):
        methods[name] = evaluate_baseline(clips, name, cfg)
    return {
        "fitted": {k: v for k, v in values.items() if v != start[k]},
        "values": values,
        "objective": objective,
        "methods": {k: {"clips": v, "mean": summarise(v, cfg)} for k, v in methods.items()},
        "loo_fits": loo_fits,
        "failed": failed,
        "trials": trials,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def fitted_toml(values: Mapping[str, Any], header: str = "") -> str:
    """The fitted constants as a configuration TOML: one ``[section]`` per config, keys sorted."""
    lines = [f"# {line}" for line in header.splitlines()]
    for section in SECTIONS:
        keys = sorted(k for k in values if k.rsplit(".", 1)[0] == section)
        if not keys:
            continue
        lines += ["", f"[{section}]"]
        lines += [f"{k.rsplit('.', 1)[1]} = {_toml_scalar(values[k])}" for k in keys]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"fitted value {v!r} cannot be written in TOML")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"fitted value {v!r}: expected a number, bool or string")


def write_fitted(values: Mapping[str, Any], path: str | Path, header: str = "") -> Path:
    """Write :func:`fitted_toml` to ``path`` atomically."""
    from autofocuspull.core.cache import atomic_write_bytes

    out = Path(path)
    atomic_write_bytes(out, fitted_toml(values, header).encode())
    return out


REPORT_COLUMNS = (
    ("target_accuracy", "target acc"),
    ("pull_f1", "pull F1"),
    ("pull_f1_with_pulls", "F1 (clips with pulls)"),
    ("onset_mae_s", "onset MAE s"),
    ("pulls_per_min", "pulls/min"),
    ("graded_pulls_per_min", "graded/min"),
    ("reversals_per_min", "reversals/min"),
    ("rate_within_1_5x", "rate within 1.5x"),
    ("objective", "objective"),
)


def format_fit_report(report: Mapping[str, Any]) -> str:
    """Markdown: the methods' means, then the per-clip table of the leave-one-out fit."""
    from autofocuspull.evaluate.dataset import format_value

    methods = report["methods"]
    n = next(iter(methods.values()))["mean"]["clips"]
    head = "| method | " + " | ".join(h for _, h in REPORT_COLUMNS) + " |"
    lines = [head, "|---" * (len(REPORT_COLUMNS) + 1) + "|"]
    for name, m in methods.items():
        cells = [
            f"{m['mean'][k]}/{n}" if k == "rate_within_1_5x" else format_value(m["mean"].get(k))
            for k, _ in REPORT_COLUMNS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    main = methods.get("fitted (leave-one-out)") or methods["defaults"]
    names = [k for k in METRIC_NAMES if k != "pull_precision" and k != "pull_recall"]
    lines += ["", "| clip | " + " | ".join(names) + " | objective | defaults' objective |"]
    lines.append("|---" * (len(names) + 3) + "|")
    for stem, r in main["clips"].items():
        d = methods["defaults"]["clips"][stem]["objective"]
        lines.append(
            f"| {stem} | "
            + " | ".join(format_value(r.get(k)) for k in names)
            + f" | {format_value(r['objective'])} | {format_value(d)} |"
        )
    if report.get("failed"):
        lines += ["", *(f"- {s}: FAILED {e}" for s, e in report["failed"].items())]
    return "\n".join(lines)


@dataclass
class FitRun:
    """What :func:`run_fit` wrote: the report and the fitted TOML's path."""

    report: dict[str, Any]
    toml_path: Path
    json_path: Path | None = field(default=None)


def run_fit(
    dataset: str | Path,
    out_toml: str | Path,
    rack_cfg: Any = None,
    cfg: FitConfig = FitConfig(),
    *,
    loo: bool = True,
    report_json: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> FitRun:
    """``autofocuspull fit``: fit, write the fitted configuration (and the report as JSON)."""
    import json

    from autofocuspull.core.cache import atomic_write_bytes

    report = fit_dataset(dataset, rack_cfg, cfg, loo=loo, progress=progress)
    mean = report["methods"].get("fitted (leave-one-out)", {}).get("mean", {})
    header = (
        f"Fitted by `autofocuspull fit` on {report['methods']['defaults']['mean']['clips']} graded clips of "
        f"{Path(dataset).name}; objective {report['objective']:.4f} on the whole set"
        + (f", {mean.get('objective', float('nan')):.4f} leave-one-clip-out" if mean else "")
        + f".\nEvery fitted constant is listed, changed or not ({len(report['fitted'])} changed)."
    )
    path = write_fitted(report["values"], out_toml, header)
    json_path = None
    if report_json is not None:
        json_path = Path(report_json)
        atomic_write_bytes(json_path, json.dumps(report, indent=1, default=str).encode())
    return FitRun(report, path, json_path)
