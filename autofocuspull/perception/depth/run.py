"""Depth over a clip: keyframes, propagation in between, alignment, and an on-disk chunk store.

:func:`run_depth` runs the network on keyframes only (every ``keyframe_interval``-th frame, and
any frame whose mean absolute grey change against the last keyframe exceeds
``motion_threshold``), propagates the last keyframe's depth to the frames in between (dense
optical flow warp, or hold), aligns keyframes to a running reference (:class:`DepthAligner`),
and stores chunks of ``chunk_size`` frames in a :class:`StageCache`. An interrupted run resumes
from the last complete chunk; a finished one is read back without any inference or decoding.
:class:`DepthStore` serves a frame's aligned depth (or metres, once calibrated) from those chunks,
holding at most :data:`STORE_MEMORY_BYTES` of them in memory (:class:`ChunkMemory`).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from autofocuspull.core.arrays import batches
from autofocuspull.core.cache import BackgroundSaves, StageCache
from autofocuspull.core.types import DepthFrame, Frame
from autofocuspull.perception.depth.align import AlignConfig, DepthAligner, static_mask
from autofocuspull.perception.depth.estimator import DEFAULT_DEPTH_MODEL, DepthEstimator
from autofocuspull.perception.depth.metric import MetricFit

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
# Subjects' boxes of frame ``index``: (k, 4) float xyxy normalised to the frame (0..1), k may be 0.
RegionsFn = Callable[[int], np.ndarray]
# Sees chunk ``number``'s arrays (as stored in the cache) once they are computed or read back.
ChunkFn = Callable[[int, dict[str, np.ndarray]], object]
META_NAME = "depth_meta.json"
PROPAGATIONS = ("flow", "hold")
FLOW_METHODS = ("dis", "farneback")


@dataclass(frozen=True)
class DepthRunConfig:
    """Keyframing, propagation, alignment and storage settings of :func:`run_depth`.

    ``keyframe_interval``: run the network every k-th frame (1 = every frame);
    ``motion_threshold``: mean |grey change| (0..255) vs the last keyframe that forces a
    keyframe, over the whole frame or (when the caller gives subjects' regions) over any one
    subject's box, so a subject that moves gets fresh depth even when the background is still;
    ``propagation``: "flow" (optical-flow warp of the last keyframe) or "hold";
    ``flow_method``: "dis" (OpenCV's DIS flow, "fast" preset: 2 ms per 160 px frame on one core)
    or "farneback" (21 ms; both pass the propagation tests in tests/test_depth_run.py);
    ``analysis_short_side_px``: grey images for motion and flow; ``static_threshold``: grey
    change (0..255) under which a pixel counts as static for alignment; ``cut_threshold``: mean
    |grey change| vs the previous frame above which depth restarts as at a cut (keyframe + new
    alignment reference). Shots themselves come from the cut detector (``cuts``); this catches
    what is not a cut but breaks propagation all the same (a flash, a whip pan: flow cannot carry
    depth across 30 grey levels of change); ``chunk_size``: frames per cache chunk (also the
    largest inference batch); chunks store depth as float16 (half the disk; 1e-3 relative
    precision is plenty for focus), shrunk so that its longer side is at most
    ``store_max_side_px`` (the renderer upsamples it edge-aware to the frame; propagation and
    alignment still run at the network's resolution).

    ``model``: a :data:`DEPTH_MODELS` name, a Hugging Face hub id or a local folder;
    ``input_size``: the network's shorter input side (518 = Depth Anything's training size, a
    multiple of its 14 px patch); ``frame_max_side_px``: frames are decoded shrunk to fit this
    before the network resizes them (960 px keeps detail above the network's input at half the
    decode cost of 1080p); ``subject_distance_m``: a known distance of the main subject that puts
    depth in metres (None: size priors); it only affects calibration, not the cached network
    output; ``batch_size``: frames per forward pass (the naive baseline of eval/bench_e2e.py: 1).
    Speed defaults (measured costs and effects in eval/README.md, "Speed knobs"): ``input_size``
    308 (a 518 px pass costs 3.6x a 308 px one on a CPU; subjects still span several patches at
    640x360 and the stored map is <= 384 px, upsampled guided by the image) and
    ``keyframe_interval`` 8 (flow carries depth 0.3 s at 25 fps; shot starts and motion over the
    frame or inside a subject's box force keyframes where depth changes).
    """

    model: str = DEFAULT_DEPTH_MODEL
    input_size: int = 308
    frame_max_side_px: int = 960
    subject_distance_m: float | None = None
    batch_size: int = 8
    keyframe_interval: int = 8
    motion_threshold: float = 8.0
    propagation: str = "flow"
    flow_method: str = "dis"
    analysis_short_side_px: int = 160
    static_threshold: float = 3.0
    cut_threshold: float = 30.0
    chunk_size: int = 16
    store_max_side_px: int = 384
    align: AlignConfig = field(default_factory=AlignConfig)

    def __post_init__(self) -> None:
        if self.keyframe_interval < 1 or self.chunk_size < 1 or self.batch_size < 1:
            raise ValueError(
                f"DepthRunConfig: expected keyframe_interval, chunk_size, batch_size >= 1, "
                f"got {self.keyframe_interval}, {self.chunk_size}, {self.batch_size}"
            )
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(
                f"DepthRunConfig.flow_method: expected one of {FLOW_METHODS}, got {self.flow_method!r}"
            )
        if self.propagation not in PROPAGATIONS:
            raise ValueError(
                f"DepthRunConfig.propagation: expected one of {PROPAGATIONS}, got {self.propagation!r}"
            )


CALIBRATION_FIELDS = ("subject_distance_m",)  # applied after the cache, not part of its key


def depth_cache_config(source: str, config: DepthRunConfig, cuts: Sequence[int] = ()) -> dict[str, Any]:
    """The dict to key a depth :class:`StageCache` with: the model's source, the ``[depth]``
    section (less what only calibrates) and the cuts."""
    run = {k: v for k, v in asdict(config).items() if k not in CALIBRATION_FIELDS}
    return {"source": source, "run": run, "cuts": sorted(int(c) for c in cuts)}


def grey_small(rgb: np.ndarray, short_side_px: int) -> np.ndarray:
    """(h, w) uint8 grey image with its shorter side ``short_side_px`` (never upscaled)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    s = min(1.0, short_side_px / min(h, w))
    if s >= 1.0:
        return grey
    return cv2.resize(grey, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def mean_abs_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute grey-level difference (0..255) of two same-size grey images."""
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


_DIS: dict[int, Any] = {}


def dense_flow(grey: np.ndarray, key_grey: np.ndarray, method: str = "dis") -> np.ndarray:
    """(h, w, 2) float32 flow from ``grey`` to ``key_grey`` (same-size uint8 images), in pixels."""
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(grey, key_grey, None, 0.5, 4, 15, 3, 7, 1.5, 0)
    if method != "dis":
        raise ValueError(f"dense_flow: method must be one of {FLOW_METHODS}, got {method!r}")
    preset = cv2.DISOPTICAL_FLOW_PRESET_FAST
    if preset not in _DIS:  # one instance, reused: creating one allocates its pyramids
        _DIS[preset] = cv2.DISOpticalFlow_create(preset)
    return _DIS[preset].calc(grey, key_grey, None)


def warp_by_flow(
    depth: np.ndarray,
    key_grey: np.ndarray,
    grey: np.ndarray,
    *,
    still_px: float = 0.5,
    method: str = "dis",
) -> np.ndarray:
    """Propagate ``depth`` (h, w) of the keyframe to the current frame by dense optical flow.

    Flow is estimated current -> keyframe on the small grey images (:func:`dense_flow`) and scaled to the
    depth map's size; each current pixel samples the keyframe depth where it came from. Flow
    shorter than ``still_px`` (grey-image pixels) counts as no motion, so still regions keep the
    keyframe's values exactly instead of being resampled by flow noise.
    """
    flow = dense_flow(grey, key_grey, method)
    flow[np.hypot(flow[..., 0], flow[..., 1]) < still_px] = 0.0
    h, w = depth.shape
    gh, gw = grey.shape
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + flow[..., 0] * (w / gw)
    map_y = gy + flow[..., 1] * (h / gh)
    return cv2.remap(
        depth.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


@dataclass
class _State:
    """What carries from one chunk to the next (saved with every chunk for resuming)."""

    aligner: DepthAligner
    key_grey: np.ndarray | None = None
    key_depth: np.ndarray | None = None
    key_position: int = -1
    prev_grey: np.ndarray | None = None
    segment: int = -1

    def to_arrays(self) -> dict[str, np.ndarray]:
        empty = np.zeros((0, 0), np.float32)
        return {
            **self.aligner.state(),
            "key_grey": empty if self.key_grey is None else self.key_grey,
            "key_depth": empty if self.key_depth is None else self.key_depth,
            "key_position": np.array(self.key_position, np.int64),
            "prev_grey": empty if self.prev_grey is None else self.prev_grey,
            "segment_now": np.array(self.segment, np.int64),
        }

    def load(self, d: dict[str, np.ndarray]) -> None:
        self.aligner.load_state(d)
        self.key_grey = d["key_grey"].astype(np.uint8) if d["key_grey"].size else None
        self.key_depth = d["key_depth"].astype(np.float32) if d["key_depth"].size else None
        self.key_position = int(d["key_position"])
        self.prev_grey = d["prev_grey"].astype(np.uint8) if d["prev_grey"].size else None
        self.segment = int(d["segment_now"])


def chunk_name(chunk: int) -> str:
    return f"chunk_{chunk:05d}.npz"


def run_depth(
    frames: Iterable[Frame],
    estimator: DepthEstimator,
    *,
    config: DepthRunConfig = DepthRunConfig(),
    cache: StageCache | None = None,
    progress: Progress | None = None,
    n_frames: int | None = None,
    cuts: Sequence[int] = (),
    regions: RegionsFn | None = None,
    on_chunk: ChunkFn | None = None,
) -> Iterator[DepthFrame]:
    """Aligned relative inverse depth for every frame, computed on keyframes and propagated.

    ``frames`` must be the clip's frames in order with ``index`` 0, 1, 2...; ``cache`` (a
    directory-backed :class:`StageCache`, keyed e.g. by :func:`depth_cache_config`) stores chunks
    that a rerun reads instead of computing; ``progress(done, total)`` is called per chunk;
    ``cuts`` are frame indices starting a new shot (more are found with ``cut_threshold``): each
    shot gets its own alignment reference and its own metric fit; ``regions(index)`` gives the
    subjects' boxes of a frame (see :data:`RegionsFn`), whose own motion also forces keyframes;
    ``on_chunk(number, arrays)`` sees every chunk as it is stored or read back (a
    :class:`ChunkMemory` keeps them for the :class:`DepthStore`).
    Yields :class:`DepthFrame` with ``kind="relative_inverse"`` at the estimator's resolution.
    """
    cache = cache if cache is not None and cache.enabled else None
    meta = finished_run(cache) if cache is not None else None
    if meta is not None:
        yield from _replay(cache, int(meta["n_chunks"]), progress, on_chunk)
        return
    cut_set = frozenset(int(c) for c in cuts)
    yield from _compute(frames, estimator, config, cache, progress, n_frames, cut_set, regions, on_chunk)


def finished_run(cache: StageCache) -> dict[str, Any] | None:
    """The metadata of the finished :func:`run_depth` in ``cache`` (a :class:`DepthStore` can read
    it), or None: nothing there, or a run that was interrupted."""
    meta = cache.load_json(META_NAME) if cache.enabled else None
    return meta if meta is not None and meta.get("complete") else None


def _replay(
    cache: StageCache, n_chunks: int, progress: Progress | None, on_chunk: ChunkFn | None = None
) -> Iterator[DepthFrame]:
    done = 0
    total = None
    for c in range(n_chunks):
        d = cache.load_npz(chunk_name(c))
        if d is None:
            raise RuntimeError(
                f"depth cache {cache.root}: {chunk_name(c)} vanished; delete the folder and rerun"
            )
        if on_chunk is not None:
            on_chunk(c, d)
        for f in _frames_of_chunk(d):
            done += 1
            if progress is not None:
                progress(done, total)
            yield f


def _frames_of_chunk(d: dict[str, np.ndarray]) -> Iterator[DepthFrame]:
    source = str(d["source"])
    for i in range(len(d["index"])):
        yield DepthFrame(
            int(d["index"][i]),
            float(d["t_s"][i]),
            d["depth"][i].astype(np.float32),
            "relative_inverse",
            source,
        )


def _compute(
    frames: Iterable[Frame],
    estimator: DepthEstimator,
    config: DepthRunConfig,
    cache: StageCache | None,
    progress: Progress | None,
    n_frames: int | None,
    cuts: frozenset[int],
    regions: RegionsFn | None = None,
    on_chunk: ChunkFn | None = None,
) -> Iterator[DepthFrame]:
    state = _State(DepthAligner(config.align))
    starts: list[int] = []
    n_chunks = position = 0
    # chunks are written by a background thread while the next ones are computed
    with BackgroundSaves(cache) if cache is not None else contextlib.nullcontext() as writer:
        for chunk, buffer in enumerate(batches(_in_order(frames), config.chunk_size)):
            yield from _finish_chunk(
                buffer, chunk, estimator, config, state, cache, writer, cuts, starts, regions, on_chunk
            )
            n_chunks, position = chunk + 1, buffer[-1].index + 1
            if progress is not None:
                progress(position, n_frames)
    if cache is not None:  # every chunk is on disk (the writer finished) before the run is complete
        cache.save_json(
            META_NAME,
            {
                "complete": True,
                "n_chunks": n_chunks,
                "n_frames": position,
                "source": estimator.source,
                "segment_starts": starts,
            },
        )


def _in_order(frames: Iterable[Frame]) -> Iterator[Frame]:
    """``frames``, refusing one out of order (indices 0, 1, 2...)."""
    for position, frame in enumerate(frames):
        if frame.index != position:
            raise ValueError(
                f"run_depth: expected frame index {position}, got {frame.index} (frames must be in order)"
            )
        yield frame


def _finish_chunk(
    buffer: list[Frame],
    chunk: int,
    estimator: DepthEstimator,
    config: DepthRunConfig,
    state: _State,
    cache: StageCache | None,
    writer: BackgroundSaves | None,
    cuts: frozenset[int],
    starts: list[int],
    regions: RegionsFn | None = None,
    on_chunk: ChunkFn | None = None,
) -> Iterator[DepthFrame]:
    cached = cache.load_npz(chunk_name(chunk)) if cache is not None else None
    if cached is not None:
        state.load(cached)
    else:
        cached = _compute_chunk(buffer, estimator, config, state, cuts, regions)
        if writer is not None:
            writer.save_npz(chunk_name(chunk), cached)
    if on_chunk is not None:
        on_chunk(chunk, cached)
    starts.extend(int(i) for i in cached["index"][cached["new_shot"]])
    yield from _frames_of_chunk(cached)


def _compute_chunk(
    buffer: list[Frame],
    estimator: DepthEstimator,
    config: DepthRunConfig,
    state: _State,
    cuts: frozenset[int],
    regions: RegionsFn | None = None,
) -> dict[str, np.ndarray]:
    greys = [grey_small(f.rgb, config.analysis_short_side_px) for f in buffer]
    new_shot = _find_shots(buffer, greys, config, state, cuts)
    is_key = _choose_keyframes(buffer, greys, config, state, new_shot, regions)
    keys = [f.rgb for f, k in zip(buffer, is_key, strict=True) if k]
    preds = iter(estimator.predict(keys)) if keys else iter(())
    depths, scales, shifts, segments = [], [], [], []
    for frame, grey, key, shot in zip(buffer, greys, is_key, new_shot, strict=True):
        if shot:
            state.aligner.reset()
            state.segment += 1
        if key:
            rel = next(preds)
            static = _static_vs_key(state, grey, config.static_threshold)
            s, b = state.aligner.update(rel, static)
            state.key_depth = (s * rel + b).astype(np.float32)
            state.key_grey, state.key_position = grey, frame.index
            depth = state.key_depth
        else:
            s, b = state.aligner.scale, state.aligner.shift
            depth = _propagate(state, grey, config)
        state.prev_grey = grey
        depths.append(depth)
        scales.append(s)
        shifts.append(b)
        segments.append(state.segment)
    return {
        "index": np.array([f.index for f in buffer], np.int64),
        "t_s": np.array([f.t_s for f in buffer], np.float64),
        "depth": np.stack([shrink_for_storage(d, config.store_max_side_px) for d in depths]).astype(
            np.float16
        ),
        "is_keyframe": np.array(is_key, bool),
        "new_shot": np.array(new_shot, bool),
        "segment": np.array(segments, np.int64),
        "scale": np.array(scales, np.float64),
        "shift": np.array(shifts, np.float64),
        "source": np.array(estimator.source),
        **state.to_arrays(),
    }


def shrink_for_storage(depth: np.ndarray, max_side_px: int) -> np.ndarray:
    """(h, w) float32 depth area-averaged so that max(h, w) <= ``max_side_px`` (never enlarged)."""
    h, w = depth.shape
    if max(h, w) <= max_side_px:
        return depth
    s = max_side_px / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(depth.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def _static_vs_key(state: _State, grey: np.ndarray, threshold: float) -> np.ndarray | None:
    """Pixels unchanged since the last keyframe (when the reference was last updated)."""
    if state.key_grey is None or state.key_grey.shape != grey.shape:
        return None
    return static_mask(state.key_grey, grey, threshold)


def _find_shots(
    buffer: list[Frame], greys: list[np.ndarray], config: DepthRunConfig, state: _State, cuts: frozenset[int]
) -> list[bool]:
    """Restart flags: first frame, a given cut, or mean grey change vs the previous frame above
    ``cut_threshold`` (propagation cannot cross it even where it is no cut)."""
    flags = []
    prev = state.prev_grey
    for frame, grey in zip(buffer, greys, strict=True):
        flags.append(
            prev is None
            or prev.shape != grey.shape
            or frame.index in cuts
            or mean_abs_change(prev, grey) > config.cut_threshold
        )
        prev = grey
    return flags


def region_change(a: np.ndarray, b: np.ndarray, boxes_xyxy: np.ndarray) -> float:
    """Largest mean |grey change| (0..255) of two same-size grey images inside any of the boxes.

    ``boxes_xyxy`` (k, 4) normalised to the image (0..1); boxes are clipped to it, empty or
    non-finite ones skipped. 0 when no box is left.
    """
    h, w = a.shape
    worst = 0.0
    for x0, y0, x1, y1 in np.asarray(boxes_xyxy, np.float64).reshape(-1, 4):
        if not np.all(np.isfinite((x0, y0, x1, y1))):
            continue
        c0, c1 = int(np.clip(np.floor(x0 * w), 0, w)), int(np.clip(np.ceil(x1 * w), 0, w))
        r0, r1 = int(np.clip(np.floor(y0 * h), 0, h)), int(np.clip(np.ceil(y1 * h), 0, h))
        if c1 > c0 and r1 > r0:
            worst = max(worst, mean_abs_change(a[r0:r1, c0:c1], b[r0:r1, c0:c1]))
    return worst


def _choose_keyframes(
    buffer: list[Frame],
    greys: list[np.ndarray],
    config: DepthRunConfig,
    state: _State,
    new_shot: list[bool],
    regions: RegionsFn | None = None,
) -> list[bool]:
    """Keyframe flags: new shot, interval reached, or grey change vs the last keyframe too large
    (over the frame, or inside any subject's box)."""
    flags = []
    key_grey, key_pos = state.key_grey, state.key_position
    for frame, grey, shot in zip(buffer, greys, new_shot, strict=True):
        key = (
            shot
            or key_grey is None
            or key_grey.shape != grey.shape
            or frame.index - key_pos >= config.keyframe_interval
            or mean_abs_change(key_grey, grey) > config.motion_threshold
            or (
                regions is not None
                and region_change(key_grey, grey, regions(frame.index)) > config.motion_threshold
            )
        )
        if key:
            key_grey, key_pos = grey, frame.index
        flags.append(key)
    return flags


def _propagate(state: _State, grey: np.ndarray, config: DepthRunConfig) -> np.ndarray:
    """Keyframe depth carried to this frame: held, or warped by optical flow."""
    assert state.key_depth is not None and state.key_grey is not None
    if config.propagation == "hold":
        return state.key_depth
    return warp_by_flow(state.key_depth, state.key_grey, grey, method=config.flow_method)


#: Depth chunks a :class:`DepthStore` keeps in memory. The stages after depth (calibration, subject
#: distances, rendering) each read every frame's depth in order; with the chunks held, none of them
#: reads and inflates the cache files again (on a 10 s 640x360 clip that was 2.5 CPU s of zlib, 8 %
#: of the run). At the default storage size (384 px, float16: 2.7 MB per 16 frames) this holds about
#: a minute of 25 fps video; longer clips stream from the cache file by file as before.
STORE_MEMORY_BYTES = 192 << 20
STORE_KEYS = ("index", "depth", "is_keyframe")


class ChunkMemory:
    """Depth chunks by number, least recently used dropped first beyond ``max_bytes``; the
    :data:`ChunkFn` for :func:`run_depth` (``memory.keep``) and the store's own memory."""

    def __init__(self, max_bytes: int = STORE_MEMORY_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._chunks: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._bytes = 0

    def keep(self, chunk: int, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hold ``chunk`` (only the :data:`STORE_KEYS` arrays); returns what is held."""
        held = {k: np.asarray(arrays[k]) for k in STORE_KEYS}
        self.drop(chunk)
        self._chunks[chunk] = held
        self._bytes += sum(a.nbytes for a in held.values())
        while len(self._chunks) > 1 and self._bytes > self.max_bytes:
            self.drop(next(iter(self._chunks)))
        return held

    def get(self, chunk: int) -> dict[str, np.ndarray] | None:
        held = self._chunks.get(chunk)
        if held is not None:
            self._chunks.move_to_end(chunk)
        return held

    def drop(self, chunk: int) -> None:
        held = self._chunks.pop(chunk, None)
        if held is not None:
            self._bytes -= sum(a.nbytes for a in held.values())

    def __len__(self) -> int:
        return len(self._chunks)


class DepthStore:
    """Per-frame depth read back from a finished :func:`run_depth` cache, memory bounded.

    :meth:`rel_at` gives aligned relative inverse depth; after :meth:`calibrate` (one
    :class:`MetricFit` per shot, see ``segment_starts``), :meth:`depth_m_at` gives metres. Chunks
    are held in ``memory`` (a :class:`ChunkMemory`: give the one :func:`run_depth` filled, and the
    chunks it holds are never read from the files).
    """

    kind = "metric_m"

    def __init__(self, cache: StageCache, *, memory: ChunkMemory | None = None) -> None:
        meta = finished_run(cache)
        if meta is None:
            raise ValueError(
                f"DepthStore: no finished depth run in {cache.root} (run run_depth to the end first)"
            )
        self.cache = cache
        self.n_frames = int(meta["n_frames"])
        self.source = str(meta["source"])
        self.memory = memory if memory is not None else ChunkMemory()
        self.segment_starts: list[int] = [int(i) for i in meta.get("segment_starts", [0])] or [0]
        self.fits: list[MetricFit] | None = None
        first = self._chunk(0)
        self.chunk_size = len(first["index"])
        self.shape_hw: tuple[int, int] = tuple(first["depth"].shape[1:])  # type: ignore[assignment]

    def _chunk(self, c: int) -> dict[str, np.ndarray]:
        held = self.memory.get(c)
        if held is not None:
            return held
        d = self.cache.load_npz(chunk_name(c))
        if d is None:
            raise RuntimeError(
                f"depth cache {self.cache.root}: {chunk_name(c)} missing; delete the folder and rerun"
            )
        return self.memory.keep(c, d)

    def rel_at(self, index: int) -> np.ndarray:
        """(h, w) float32 aligned relative inverse depth of frame ``index``."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"DepthStore: frame index {index} outside 0..{self.n_frames - 1}")
        d = self._chunk(index // self.chunk_size)
        return d["depth"][index % self.chunk_size]

    def is_keyframe(self, index: int) -> bool:
        return bool(self._chunk(index // self.chunk_size)["is_keyframe"][index % self.chunk_size])

    def segment_of(self, index: int) -> int:
        """Shot (alignment segment) number of frame ``index``."""
        return bisect.bisect_right(self.segment_starts, index) - 1

    def segment_range(self, segment: int) -> tuple[int, int]:
        """``(start, stop)`` frame indices of a shot."""
        stops = [*self.segment_starts[1:], self.n_frames]
        return self.segment_starts[segment], stops[segment]

    def calibrate(self, fits: MetricFit | Sequence[MetricFit]) -> None:
        """Set the metric fit of every shot (one fit = the same for all) used by :meth:`depth_m_at`."""
        fits = [fits] * len(self.segment_starts) if isinstance(fits, MetricFit) else list(fits)
        if len(fits) != len(self.segment_starts):
            raise ValueError(
                f"DepthStore.calibrate: expected {len(self.segment_starts)} fits, got {len(fits)}"
            )
        self.fits = fits

    @property
    def note(self) -> str:
        """One line for the plan file: where depth and its metric scale came from."""
        if self.fits is None:
            return f"depth from {self.source} (relative, not calibrated)"
        shots = "; ".join(
            f"frames {a}-{b - 1}: {f.how}"
            for f, (a, b) in zip(self.fits, map(self.segment_range, range(len(self.fits))), strict=True)
        )
        return f"depth from {self.source}, aligned per shot; metres from {shots}"

    def depth_m_at(self, index: int) -> np.ndarray:
        """(h, w) float32 metres of frame ``index`` (requires :meth:`calibrate`)."""
        if self.fits is None:
            raise RuntimeError("DepthStore.depth_m_at: call calibrate(fits) first (see calibrate_store)")
        return self.fits[self.segment_of(index)].depth_m(self.rel_at(index))
