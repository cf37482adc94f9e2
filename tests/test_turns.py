"""Turn openings vs backchannels (issue 11, failure 8) on synthetic cue sequences.

10 fps; A (left, 2 m) and B (right, 4 m); ``CFG`` from the plan tests: backchannel 0.5 s, lead
0.3 s, merge gaps under 0.2 s; the opening gap is the shipped 0.8 s.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_plan import CFG, A, B, make_inputs, speaking  # tests/ is on sys.path (pytest rootdir mode)

from autofocuspull.plan import PlannerConfig, plan_focus
from autofocuspull.plan.utility import clean_talk

T_S = np.arange(100) / 10


def test_a_short_yeah_that_opens_a_long_answer_starts_the_turn():
    # A asks 0-4 s; B: "Yeah" 4.2-4.5 s (0.3 s < backchannel 0.5 s), 0.4 s pause, answers 4.9-10 s
    sp = speaking((0, 0.0, 4.0), (1, 4.2, 4.5), (1, 4.9, 10.0))
    plan = plan_focus(make_inputs(sp), CFG)
    (pull,) = plan.pulls
    assert (pull.from_id, pull.to_id) == (A, B)
    assert pull.start_s == pytest.approx(4.2 - CFG.lead_s)  # on "Yeah", not 0.7 s later on the answer
    talk, dropped = clean_talk(sp, T_S, CFG)
    assert talk[1, 42:100].all() and dropped == []


def test_the_same_yeah_under_the_old_rule_racks_late():
    sp = speaking((0, 0.0, 4.0), (1, 4.2, 4.5), (1, 4.9, 10.0))
    old = dataclasses.replace(CFG, opening_gap_s=0.0, reply_gap_s=0.0)  # (a reply, too, else)
    (pull,) = plan_focus(make_inputs(sp), old).pulls
    assert pull.start_s == pytest.approx(4.9 - CFG.lead_s)


def test_a_backchannel_while_the_other_keeps_the_floor_never_switches():
    # A talks 0-10 s; B: "mm-hm" 4.0-4.3 s and a long turn only later, while A still talks
    sp = speaking((0, 0.0, 10.0), (1, 4.0, 4.3), (1, 4.6, 5.0))
    talk, dropped = clean_talk(sp, T_S, CFG)
    assert not talk[1, 40:43].any() and (1, 40, 43) in dropped
    assert plan_focus(make_inputs(sp), CFG).pulls == []


def test_a_short_utterance_with_the_other_speaker_in_the_gap_is_a_backchannel():
    # A 0-4.5 s; B "yeah" 4.0-4.3 s while A finishes; B answers 4.6-10 s: A talks in the gap
    sp = speaking((0, 0.0, 4.5), (1, 4.0, 4.3), (1, 4.6, 10.0))
    _, dropped = clean_talk(sp, T_S, CFG)
    assert dropped == [(1, 40, 43)]
    (pull,) = plan_focus(make_inputs(sp), CFG).pulls
    assert pull.start_s == pytest.approx(4.6 - CFG.lead_s)


def test_an_isolated_short_utterance_and_one_too_far_from_its_turn_are_dropped():
    # B: 0.3 s at 2.0 s and nothing after; later B: 0.3 s at 6.0 s, 1.0 s pause (> 0.8 s), turn at 7.3 s
    sp = speaking((0, 0.0, 5.0), (1, 2.0, 2.3), (1, 6.0, 6.3), (1, 7.3, 10.0))
    talk, dropped = clean_talk(sp, T_S, CFG)
    assert dropped == [(1, 20, 23), (1, 60, 63)]
    assert talk[1, 73:].all() and not talk[1, 63:73].any()


def test_a_short_reply_after_the_other_gives_up_the_floor_is_a_turn():
    # A answers 0-6 s; 0.6 s later B says "Thank you." (0.4 s) and nobody talks after it
    sp = speaking((0, 0.0, 6.0), (1, 6.6, 7.0))
    talk, dropped = clean_talk(sp, T_S, CFG)
    assert dropped == [] and talk[1, 66:70].all()
    (pull,) = plan_focus(make_inputs(sp), CFG).pulls
    assert (pull.from_id, pull.to_id) == (A, B) and pull.start_s == pytest.approx(6.6 - CFG.lead_s)
    # A takes the floor back 0.3 s after it: A kept the floor, B's words were a backchannel
    sp = speaking((0, 0.0, 6.0), (1, 6.6, 7.0), (0, 7.3, 10.0))
    _, dropped = clean_talk(sp, T_S, CFG)
    assert dropped == [(1, 66, 70)]
    assert plan_focus(make_inputs(sp), CFG).pulls == []
    # 1.5 s after A stopped (more than reply_gap_s): isolated, dropped; reply_gap_s 0: the old rule
    assert clean_talk(speaking((0, 0.0, 6.0), (1, 7.5, 7.9)), T_S, CFG)[1] == [(1, 75, 79)]
    old = dataclasses.replace(CFG, reply_gap_s=0.0)
    assert clean_talk(speaking((0, 0.0, 6.0), (1, 6.6, 7.0)), T_S, old)[1] == [(1, 66, 70)]


def test_opening_gap_is_a_config_field_with_a_default_on_its_fitted_grid():
    from autofocuspull.evaluate.fit import SEARCH_SPACE

    grid = {p.key: p.grid for p in SEARCH_SPACE}["planner.opening_gap_s"]
    assert PlannerConfig().opening_gap_s in grid and 0.0 in grid  # 0: the old rule, for the fit
