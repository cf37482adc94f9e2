"""Real footage: a two-person conversation composed into a two-shot, planned by VAD + Light-ASD.

Speech turns graded by looking at the mouths in ../shared/footage/two_speakers (frames exported to
PNG at 0.12 s steps and viewed; audio voice activity agrees):

- speaker 0 (left, facing the camera) talks 2.0-3.6 s, 8.2-9.4 s, 13.4-14.9 s and 17.8-19.4 s;
  his lips move through each of these and are closed or smiling still in between;
- speaker 1 (right, mostly in profile looking down) turns to the camera at about 26.1 s, his lips
  part at about 26.4 s and he talks until about 28.4 s; his mouth is still before that;
- a 0.5 s voiced blip at 24.1-24.6 s is speaker 1's laugh or interjection (his lips part for it while
  speaker 0's smile stays still), followed by 2 s of silence: no turn. eval/grades/two_shot.grades.json
  grades the same onset (26.4 s) and gives the evidence.

The two 224x224 face crops are placed side by side (448x224) with speaker 0 nearer (1.5 m) than
speaker 1 (3.0 m); the tracks are built by hand from the crops' known face boxes.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import footage, shared_model

from autofocuspull.core.types import Frame, PlanInputs, SubjectTracks
from autofocuspull.cues import build_active_speaker_model, compute_cues
from autofocuspull.io import iter_frames, probe, read_audio
from autofocuspull.plan import PlannerConfig, plan_focus

SPEAKER0_TURNS_S = [(2.0, 3.6), (8.2, 9.4), (13.4, 14.9), (17.8, 19.4)]
SPEAKER1_TURN_S = (26.4, 28.4)
FACE_BOX_IN_CROP = (32.0, 0.0, 192.0, 160.0)  # Light-ASD demo crops: face 160 px wide at (112, 80)


def two_shot_tracks(n: int) -> SubjectTracks:
    tr = SubjectTracks.allocate([0, 1], ["person", "person"], n)
    for row, dx, dist_m in ((0, 0.0, 1.5), (1, 224.0, 3.0)):
        x1, y1, x2, y2 = FACE_BOX_IN_CROP
        tr.xyxy[row] = tr.face_xyxy[row] = (x1 + dx, y1, x2 + dx, y2)
        tr.distance_m[row] = dist_m
        tr.focus_xy[row] = ((x1 + x2) / 2 + dx) / 448, 60 / 224
        tr.confidence[row] = 1.0
    return tr


@pytest.mark.slow
@pytest.mark.shared
def test_two_speaker_conversation_pulls_to_whoever_speaks():
    left, right = footage("two_speakers/speaker0_crop.avi"), footage("two_speakers/speaker1_crop.avi")
    wav = footage("two_speakers/audio.wav")
    model = build_active_speaker_model(
        shared_model("lightASD.onnx"), shared_model("lightASD_lossAV.onnx"), allow_fallback=False
    )
    info = probe(left)
    times = info.pts_s
    tracks = two_shot_tracks(info.n_frames)

    def two_shot():
        for a, b in zip(iter_frames(left), iter_frames(right), strict=True):
            yield Frame(a.index, a.t_s, np.concatenate([a.rgb, b.rgb], axis=1))

    cues = compute_cues(two_shot(), tracks, read_audio(wav), times, (448, 224), asd_model=model)
    assert cues.sources["speaking"] == "light-asd"

    def mean_in(row, a, b):
        return float(cues.speaking[row, (times >= a) & (times < b)].mean())

    for a, b in SPEAKER0_TURNS_S:  # the active speaker scores higher during his own turns
        assert mean_in(0, a, b) > 0.5 > mean_in(1, a, b), (a, b)
    # speaker 1 is in near-profile: Light-ASD is less sure of him (0.49 against 0.41 measured)
    assert mean_in(1, *SPEAKER1_TURN_S) > mean_in(0, *SPEAKER1_TURN_S) + 0.05

    cfg = PlannerConfig(mode="dialogue")
    plan = plan_focus(PlanInputs(info, tracks, cues, [], "hand-set"), cfg)
    # the plan opens on speaker 0, holds him through all his turns and the pauses between them,
    # then racks once to speaker 1 for his turn: no hunting
    for a, b in SPEAKER0_TURNS_S:
        assert np.all(plan.subject_id[(times >= a) & (times < b)] == 0), (a, b)
    assert len(plan.pulls) == 1
    pull = plan.pulls[0]
    assert (pull.from_id, pull.to_id) == (0, 1)
    onset_s = pull.start_s + cfg.lead_s  # the rack starts lead_s before the word it is for
    assert abs(onset_s - SPEAKER1_TURN_S[0]) <= 0.5
    assert pull.reason.startswith("person 1 starts speaking at")
    assert np.all(plan.subject_id[times >= onset_s] == 1)
    np.testing.assert_allclose(plan.focus_m[times < pull.start_s], 1.5)
    np.testing.assert_allclose(plan.focus_m[times >= pull.end_s], 3.0)
    # the default "auto" mode plans on dialogue here too (the two faces are equally salient)
    auto = plan_focus(PlanInputs(info, tracks, cues, [], "hand-set"), PlannerConfig())
    assert [(p.start_s, p.from_id, p.to_id) for p in auto.pulls] == [(pull.start_s, 0, 1)]
