"""A new planner in a few lines, scored on a graded folder (the README's example, run by a test).

Usage: ``python eval/examples/new_planner.py GRADED_DIR``
"""

import sys

import numpy as np

from autofocuspull.config import load_config
from autofocuspull.pipeline import evaluate_folder
from autofocuspull.plan import PLANNERS
from autofocuspull.plan.baselines import argmax_choice, debounce_choice, plan_from_choice, shot_index


def nearest_subject(inputs, config):
    """Focus the nearest visible subject, switching only when the new one stays nearest 0.5 s."""
    tracks, times = inputs.tracks, inputs.video.pts_s
    nearness = np.where(tracks.present, -tracks.distance_m, np.nan)  # (subjects, frames)
    choice = debounce_choice(argmax_choice(nearness), tracks.present, times,
                             shot_index(times, inputs.cuts_s), 0.5)  # fmt: skip
    return plan_from_choice(inputs, choice, lambda a, b: f"subject {b} is now nearest", "nearest")


PLANNERS.register("nearest", nearest_subject, replace=True)  # takes no config section, no keyframes
cfg = load_config(None, {"stages.planner": "nearest", "run.device": "cpu"})
result = evaluate_folder(sys.argv[1], cfg)
print({k: result["mean"][k] for k in ("target_accuracy", "pull_f1")})
