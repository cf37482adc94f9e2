"""CSV: the focus track one row per frame (export), and user decisions (import, see importers)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from autofocuspull.core.types import FocusPlan
from autofocuspull.export.common import atomic_write_text, plan_rate
from autofocuspull.export.timecode import timecode

CSV_COLUMNS = ("t_s", "timecode", "focus_m", "subject", "f_number")


def plan_to_csv(plan: FocusPlan) -> str:
    """One row per frame: time (s), SMPTE timecode at the clip's rate (drop-frame at 29.97 / 59.94),
    focus distance (m), subject id (-1 = background) and f-number."""
    rate = plan_rate(plan)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for k in range(plan.n_frames):
        t = float(plan.times_s[k])
        w.writerow(
            [
                f"{t:.6f}",
                timecode(t, rate),
                f"{float(plan.focus_m[k]):.4f}",
                int(plan.subject_id[k]),
                f"{float(plan.f_number[k]):.3f}",
            ]
        )
    return buf.getvalue()


def export_csv(plan: FocusPlan, out: str | os.PathLike[str]) -> Path:
    """Write :func:`plan_to_csv` to ``out`` atomically."""
    return atomic_write_text(out, plan_to_csv(plan))
