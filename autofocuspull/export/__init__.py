"""Hand-off to finishing tools: exporters of a plan and importers of user decisions.

``autofocuspull export PLAN.json --to FORMAT -o OUT`` with FORMAT one of :data:`FORMATS`:
``otio`` (timeline + markers), ``csv`` (one row per frame), ``ae`` (After Effects script),
``resolve`` (Fusion setting), ``depth-png`` / ``depth-exr`` / ``mattes`` (image sequences, need
the clip and its cached analysis), ``overlay`` (the clip with the plan burned in).
``autofocuspull import FILE -o KEYFRAMES.json`` reads decisions from a CSV or an OTIO file.
"""

from autofocuspull.export.common import ExportConfig
from autofocuspull.export.importers import keyframes_from_csv, keyframes_from_otio, save_keyframes
from autofocuspull.export.scripts import export_ae, export_resolve, plan_to_ae, plan_to_fusion
from autofocuspull.export.table import export_csv, plan_to_csv
from autofocuspull.export.timeline import export_otio, plan_to_timeline

# format -> (what it writes, expected output suffixes or None for a folder)
FORMATS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "otio": ("OpenTimelineIO timeline with a marker per pull and cut", (".otio", ".edl", ".xml", ".otioz")),
    "csv": ("one row per frame: t_s, timecode, focus_m, subject, f_number", (".csv",)),
    "ae": ("After Effects script keying Camera Lens Blur", (".jsx",)),
    "resolve": ("DaVinci Resolve Fusion setting keying Depth Blur", (".setting",)),
    "depth-png": ("16-bit PNG sequence of normalised dioptres", None),
    "depth-exr": ("EXR sequence of float metres (channel Z)", None),
    "mattes": ("PNG sequence per subject", None),
    "overlay": (
        "the clip with boxes, ids, focus point, reason and speech burned in",
        (".mp4", ".mov", ".mkv"),
    ),
}

__all__ = [
    "FORMATS",
    "ExportConfig",
    "export_ae",
    "export_csv",
    "export_otio",
    "export_resolve",
    "keyframes_from_csv",
    "keyframes_from_otio",
    "plan_to_ae",
    "plan_to_csv",
    "plan_to_fusion",
    "plan_to_timeline",
    "save_keyframes",
]
