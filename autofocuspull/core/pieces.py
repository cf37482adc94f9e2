"""Join the analyses of consecutive pieces of a clip into one whole-clip analysis.

A long clip is analysed in pieces (frame ranges ``[start, stop)`` that cover it in order, cut at
shot cuts where possible; see :func:`autofocuspull.io.segments.split_frames`), each as a clip of
its own whose frames are numbered from 0. :func:`join_tracks` and :func:`join_cues` put them back
on the whole clip's frames: columns are concatenated along time, each piece's track ids are offset
so that they stay unique, and a subject seen on both sides of a boundary that is *not* a cut
(one long shot cut in two) is linked back into one row by :func:`boundary_links`. The results are
the ordinary validated containers.

What cannot be joined exactly: a piece's tracker and re-identification start afresh at its first
frame, so inside a long shot a subject the boundary link misses (moving fast, or occluded at the
boundary) becomes two subjects; across a cut nothing changes (tracks end at cuts and re-id never
links across a cut, see :func:`autofocuspull.perception.reid.stitch`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autofocuspull.core.types import CueSeries, SubjectTracks

#: Minimum box IoU between a subject's box on the last frame of one piece and a subject's box on
#: the first frame of the next (same label) for them to be one subject. Consecutive frames of one
#: shot: a tracked box moves a few pixels, IoU ~0.8-0.95; ByteTrack's own association of
#: consecutive frames needs far less. 0.5 is the usual "same object" overlap of detection
#: benchmarks and rejects two people side by side (their boxes barely overlap).
LINK_MIN_IOU = 0.5
#: How far from a boundary inside a shot a subject's last (first) box may be and still be linked:
#: objects are detected every few frames (``perception.perceiver.object_every``, 3) and a track's
#: box ends at its last detection, up to 2 frames before a piece's end; 0.25 s covers that at any
#: frame rate from 12 fps up while staying too short for a subject to leave and another to come.
LINK_WINDOW_S = 0.25

_TRACK_FIELDS = ("xyxy", "face_xyxy", "landmarks_px", "distance_m", "confidence", "focus_xy")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _edge_boxes(tracks: SubjectTracks, last: bool, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows present within ``window`` frames of the end (``last``) or start, their frame there
    (the nearest to the edge), and their (box, face box) at it: ((N,), (N,), (N, 2, 4))."""
    n = tracks.n_frames
    frames = np.arange(max(n - window, 0), n)[::-1] if last else np.arange(min(window, n))
    present = tracks.present[:, frames]
    rows = np.flatnonzero(present.any(axis=1))
    at = frames[np.argmax(present[rows], axis=1)] if len(rows) else np.zeros(0, np.int64)
    boxes = np.stack([tracks.xyxy[rows, at], tracks.face_xyxy[rows, at]], axis=1)
    return rows, at, boxes


def boundary_links(
    before: SubjectTracks, after: SubjectTracks, min_iou: float = LINK_MIN_IOU, window: int = 1
) -> list[tuple[int, int]]:
    """``[(row in before, row in after), ...]``: subjects seen in ``before``'s last ``window`` frames
    and in ``after``'s first ``window``, with the same label and an IoU >= ``min_iou`` of their
    boxes or of their face boxes (each at its frame nearest the boundary), paired greedily by IoU
    (each row at most once).

    The face boxes count because a person's box on a piece's last frames can be its face box: the
    object detector runs every few frames, the body box is interpolated between its detections,
    and after a piece's last detection there is none to interpolate to (an object's box just ends
    there, hence the window)."""
    if not len(before) or not len(after) or not before.n_frames or not after.n_frames:
        return []
    ia, _, a = _edge_boxes(before, True, window)
    ib, _, b = _edge_boxes(after, False, window)
    if not len(ia) or not len(ib):
        return []
    iou = np.maximum(_iou(a[:, 0], b[:, 0]), np.nan_to_num(_iou(a[:, 1], b[:, 1]), nan=0.0))
    same = np.array([[before.label[i] == after.label[j] for j in ib] for i in ia], bool)
    iou = np.where(same, iou, 0.0)
    pairs: list[tuple[int, int]] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        r, c = divmod(int(flat), len(ib))
        if iou[r, c] < min_iou:
            break
        if r not in used_a and c not in used_b:
            used_a.add(r)
            used_b.add(c)
            pairs.append((int(ia[r]), int(ib[c])))
    return sorted(pairs)


def join_tracks(
    parts: Sequence[SubjectTracks],
    starts: Sequence[int],
    n_frames: int,
    links: Sequence[Sequence[tuple[int, int]]] = (),
) -> tuple[SubjectTracks, list[np.ndarray]]:
    """The pieces' subjects as one :class:`SubjectTracks` over ``n_frames`` frames.

    ``parts[k]`` covers frames ``starts[k] .. starts[k] + parts[k].n_frames`` (in order, without
    gaps or overlaps); ``links[k]`` pairs rows of ``parts[k]`` with rows of ``parts[k + 1]`` that are
    one subject (:func:`boundary_links`; none across a cut). The first piece keeps its ids; a later
    piece's ids are shifted past every id used so far, a linked row keeps its earlier id. Returns
    the tracks and, per piece, its rows' row in the result ((S_k,) int64).
    """
    if len(parts) != len(starts):
        raise ValueError(f"join_tracks: {len(parts)} pieces but {len(starts)} start frames")
    expected = 0
    for k, (part, start) in enumerate(zip(parts, starts, strict=True)):
        if start != expected:
            raise ValueError(f"join_tracks: piece {k} starts at frame {start}, expected {expected}")
        expected = start + part.n_frames
    if expected != n_frames:
        raise ValueError(f"join_tracks: the pieces cover {expected} frames, expected {n_frames}")
    ids: list[int] = []
    labels: list[str] = []
    rows: list[np.ndarray] = []
    for k, part in enumerate(parts):
        linked = dict((j, i) for i, j in links[k - 1]) if 0 < k <= len(links) else {}
        offset = 0 if k == 0 or not len(part) else max(ids, default=0) + 1 - int(part.track_id.min())
        row = np.empty(len(part), np.int64)
        for j in range(len(part)):
            if j in linked:
                row[j] = rows[k - 1][linked[j]]
            else:
                row[j] = len(ids)
                ids.append(int(part.track_id[j]) + offset)
                labels.append(part.label[j])
        rows.append(row)
    out = SubjectTracks.allocate(ids, labels, n_frames)  # validated: shapes, unique ids
    for part, start, row in zip(parts, starts, rows, strict=True):
        stop = start + part.n_frames
        for name in _TRACK_FIELDS:
            getattr(out, name)[row, start:stop] = getattr(part, name)
    for k, pairs in enumerate(links[: len(parts) - 1]):
        for i, _ in pairs:
            _bridge(out, int(rows[k][i]), starts[k + 1])
    return out, rows


def _bridge(tracks: SubjectTracks, row: int, boundary: int) -> None:
    """Fill a linked subject's frames missing on both sides of ``boundary`` (between its last box
    before and its first after) by linear interpolation, as the subject builder fills the frames
    between two detections; a field missing at either end stays missing."""
    present = tracks.present[row]
    before = np.flatnonzero(present[:boundary])
    after = np.flatnonzero(present[boundary:]) + boundary
    if not len(before) or not len(after) or after[0] - before[-1] <= 1:
        return
    t0, t1 = int(before[-1]), int(after[0])
    w = ((np.arange(t0 + 1, t1) - t0) / (t1 - t0)).astype(np.float32)
    for name in _TRACK_FIELDS:
        a = getattr(tracks, name)[row]
        shape = (-1,) + (1,) * (a.ndim - 1)
        a[t0 + 1 : t1] = a[t0] + (a[t1] - a[t0]) * w.reshape(shape)  # NaN at an end stays NaN


def join_cues(
    parts: Sequence[CueSeries], rows: Sequence[np.ndarray], tracks: SubjectTracks, times_s: np.ndarray
) -> CueSeries:
    """The pieces' cues on the joined ``tracks`` (rows from :func:`join_tracks`) and the whole clip's
    frame times ``times_s`` (T,) (each piece's own times start at 0). A component missing from a
    piece is 0 there; a source that differs between pieces lists each ("a, b")."""
    t, covered = len(times_s), sum(len(p.times_s) for p in parts)
    if covered != t:
        raise ValueError(f"join_cues: the pieces cover {covered} frames, expected {t}")
    s = len(tracks)
    speaking = np.zeros((s, t), np.float32)
    saliency = np.zeros((s, t), np.float32)
    names = list(dict.fromkeys(k for p in parts for k in p.components))
    comps = {k: np.zeros((s, t), np.float32) for k in names}
    sources: dict[str, list[str]] = {}
    start = 0
    for part, row in zip(parts, rows, strict=True):
        if len(part.track_id) != len(row):
            raise ValueError(f"join_cues: a piece has {len(part.track_id)} subjects, its rows {len(row)}")
        stop = start + len(part.times_s)
        speaking[row, start:stop] = part.speaking
        saliency[row, start:stop] = part.saliency
        for k, v in part.components.items():
            comps[k][row, start:stop] = v
        for k, v in part.sources.items():
            sources.setdefault(k, [])
            if v not in sources[k]:
                sources[k].append(v)
        start = stop
    speech = np.concatenate([p.speech_prob for p in parts]) if parts else np.zeros(0, np.float32)
    joined = {k: ", ".join(v) for k, v in sources.items()}
    return CueSeries(times_s, tracks.track_id, speech, speaking, saliency, comps, joined)
