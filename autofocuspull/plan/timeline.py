"""Names the planner's modules share. Frame spacing, cut masks and shot starts live in
:mod:`autofocuspull.core.arrays` (one definition for every stage)."""

from __future__ import annotations

NONE_ID = -1  # subject id of "the background" in plans and decisions
