"""Where the per-clip work runs: a local process pool, or Ray (a local instance or a cluster).

Both run the same functions (:mod:`autofocuspull.batch.work`) in long-lived worker processes that
keep their models between tasks (:func:`autofocuspull.core.models.keep_models`), one task per worker at
a time, and forward the workers' progress bars to the driver. They differ only in how a dead
worker is replaced and its task retried:

- :class:`LocalPool`: ``concurrent.futures.ProcessPoolExecutor`` (spawned processes). A worker that
  dies breaks the pool; the pool is rebuilt and every task that was running is run again, each
  counting the death as one of its ``max_retries``.
- :class:`RayExecutor`: a pool of Ray actors, each asking for ``cpus_per_worker`` CPUs and, when
  the cluster has GPUs, ``gpu_per_worker`` of a GPU (analysis with its depth, and render run on
  it). Tasks submitted ``light=True`` (joining analyses and planning, joining segments, hashing)
  then go to CPU-only actors instead, so that they never hold a GPU share a depth or render task
  could use. An actor whose process dies is restarted by Ray (``max_restarts``) and the driver
  runs its task again, up to ``max_retries`` times, counting the attempts (Ray's own task retries
  would hide the count).

A Python exception inside a task is not retried: it comes back as the task's error.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from autofocuspull.core.errors import UsageError

log = logging.getLogger(__name__)

# Environment a worker needs to behave like the driver (cache, offline mode, no tty bars).
PROBE_INTERVAL_S = 1.0  # how often a restarting Ray worker is asked whether it is back
FORWARDED_ENV = ("AUTOFOCUSPULL_", "HF_", "TRANSFORMERS_", "PYTHONPATH", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass
class Done:
    """A finished task: its ``tag``, and ``value`` or ``error`` (one line); ``attempts`` it took."""

    tag: Any
    value: Any = None
    error: str | None = None
    attempts: int = 1


@dataclass
class _Task:
    fn: Callable[..., Any]
    args: tuple
    tag: Any
    attempts: int = 0
    light: bool = False


def worker_env() -> dict[str, str]:
    """The driver's environment variables that workers get (see :data:`FORWARDED_ENV`)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    env["AUTOFOCUSPULL_PROGRESS"] = "0"  # workers have no terminal; their bars go to the driver
    level = logging.getLogger("autofocuspull").getEffectiveLevel()
    env["AUTOFOCUSPULL_WORKER_LOG_LEVEL"] = logging.getLevelName(level)  # -q reaches the workers too
    return env


def init_worker(env: Mapping[str, str], progress_sink: Callable[[str, int, int | None], None] | None) -> None:
    """Set up a worker process: the driver's environment, models kept, bars forwarded."""
    os.environ.update(env)
    level = env.get("AUTOFOCUSPULL_WORKER_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("autofocuspull").setLevel(level)
    from autofocuspull.core.models import keep_models
    from autofocuspull.progress import set_progress_sink

    keep_models(True)
    set_progress_sink(progress_sink)


class TaskError(RuntimeError):
    """A task's exception as one line of text: it crosses process boundaries whatever the original
    exception's constructor takes (one that can't be rebuilt from its pickle would break the pool)."""


def run_task(fn: Callable[..., Any], args: tuple) -> Any:
    """``fn(*args)`` in a worker, any exception turned into a :class:`TaskError`."""
    try:
        return fn(*args)
    except Exception as e:
        raise TaskError(error_line(e)) from None


def error_line(e: BaseException) -> str:
    """``Type: message`` of an exception (the original one for a Ray task error)."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException) and cause is not e:
        e = cause
    if isinstance(e, TaskError):
        return str(e)
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


class Executor:
    """Runs ``fn(*args)`` tasks in worker processes; :meth:`poll` returns finished ones."""

    name = "executor"
    workers = 0

    def submit(self, fn: Callable[..., Any], args: tuple, tag: Any, *, light: bool = False) -> None:
        """Queue ``fn(*args)``; ``light``: a task that needs no GPU (see the module docstring)."""
        raise NotImplementedError

    def poll(self, timeout_s: float) -> list[Done]:
        raise NotImplementedError

    def progress(self) -> list[tuple[tuple[Any, str], int, int | None]]:
        """Bar positions reported by workers since the last call: ``((worker, desc), done, total)``."""
        return []

    def busy(self) -> int:
        """Tasks queued or running."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name}: {self.workers} worker(s)"

    def release(self) -> None:
        """Stop the idle workers (their models go with them), giving their CPUs and GPUs back to the
        machine or cluster; the next task starts new ones."""

    def close(self) -> None:
        self.release()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, fn: Callable[..., Any], arg_list: Iterable[tuple]) -> dict[int, Done]:
        """Run ``fn(*args)`` for each args tuple; ``{position: Done}`` when all have finished."""
        for i, args in enumerate(arg_list):
            self.submit(fn, args, i)
        out: dict[int, Done] = {}
        while self.busy():
            for d in self.poll(1.0):
                out[d.tag] = d
        return out


# --------------------------------------------------------------------------------------------
# Local process pool
# --------------------------------------------------------------------------------------------


def _queue_sink(q: Any) -> Callable[[str, int, int | None], None]:
    pid = os.getpid()

    def sink(desc: str, done: int, total: int | None) -> None:
        # a full or closed queue costs a progress update, never the task
        with contextlib.suppress(Exception):
            q.put_nowait(((pid, desc), done, total))

    return sink


def _pool_init(env: Mapping[str, str], q: Any) -> None:
    init_worker(env, _queue_sink(q))


class LocalPool(Executor):
    """``workers`` spawned processes on this machine (default: one per CPU)."""

    name = "process pool"

    def __init__(self, workers: int | None = None, *, max_retries: int = 2) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.max_retries = max_retries
        self._ctx = multiprocessing.get_context("spawn")  # fork would copy torch's threads' state
        self._queue = self._ctx.Queue(10000)
        self._pool: ProcessPoolExecutor | None = None
        self._waiting: collections.deque[_Task] = collections.deque()
        self._running: dict[Future, _Task] = {}

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=self._ctx,
                initializer=_pool_init,
                initargs=(worker_env(), self._queue),
            )
        return self._pool

    def submit(self, fn: Callable[..., Any], args: tuple, tag: Any, *, light: bool = False) -> None:
        self._waiting.append(_Task(fn, args, tag))  # one kind of worker here: light or not
        self._dispatch()

    def _dispatch(self) -> None:
        while self._waiting and len(self._running) < self.workers:
            task = self._waiting.popleft()
            task.attempts += 1
            self._running[self._ensure_pool().submit(run_task, task.fn, task.args)] = task

    def poll(self, timeout_s: float) -> list[Done]:
        if not self._running:
            self._dispatch()
            return []
        finished, _ = wait(list(self._running), timeout=timeout_s, return_when=FIRST_COMPLETED)
        out: list[Done] = []
        broken = False
        for fut in finished:
            task = self._running.pop(fut)
            try:
                out.append(Done(task.tag, value=fut.result(), attempts=task.attempts))
            except BrokenProcessPool:
                broken = True
                self._retry_or_fail(task, out)
            except Exception as e:
                out.append(Done(task.tag, error=error_line(e), attempts=task.attempts))
        if broken:
            self._rebuild(out)
        self._dispatch()
        return out

    def _retry_or_fail(self, task: _Task, out: list[Done]) -> None:
        if task.attempts <= self.max_retries:
            log.warning("a worker process died; running its task again (attempt %d)", task.attempts + 1)
            self._waiting.appendleft(task)
        else:
            msg = f"WorkerDied: the worker process died {task.attempts} time(s) running this task"
            out.append(Done(task.tag, error=msg, attempts=task.attempts))

    def _rebuild(self, out: list[Done]) -> None:
        """After a worker died: every other running task failed with it; retry them on a new pool."""
        for fut, task in list(self._running.items()):
            try:
                out.append(Done(task.tag, value=fut.result(timeout=0), attempts=task.attempts))
            except Exception:
                self._retry_or_fail(task, out)
        self._running.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def progress(self) -> list[tuple[tuple[Any, str], int, int | None]]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    def busy(self) -> int:
        return len(self._waiting) + len(self._running)

    def release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--ray / --ray-address need Ray: pip install 'autofocuspull[ray]' (or pip install 'ray[default]')"
        ) from None
    return ray


class _RackWorker:
    """A Ray actor: one worker process that keeps its models and runs one task at a time."""

    def __init__(self, env: Mapping[str, str], progress_actor: Any, cpu_only: bool) -> None:
        if cpu_only:  # a CPU worker on a node with GPUs must not take a GPU it did not ask for
            env = {**env, "CUDA_VISIBLE_DEVICES": ""}
        sink = None
        if progress_actor is not None:
            pid = os.getpid()

            def sink(desc: str, done: int, total: int | None) -> None:
                progress_actor.put.remote((pid, desc), done, total)

        init_worker(env, sink)
        if not cpu_only:
            note_gpu_without_cuda()

    def run(self, fn: Callable[..., Any], args: tuple) -> Any:
        return run_task(fn, args)

    def pid(self) -> int:
        return os.getpid()


def assigned_gpus() -> float:
    """The GPU share Ray gave this worker process (0 outside a Ray worker)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return 0.0
    try:
        return float(ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0))
    except Exception:  # the driver, or a Ray without the call: no share of its own
        return 0.0


def note_gpu_without_cuda() -> str | None:
    """Log, loudly, when Ray gave this worker a GPU share but torch sees no CUDA device (a CPU-only
    torch build, a driver mismatch, a cluster that declared logical GPUs): "auto" then runs depth
    and rendering on the CPU (``--device cuda`` fails with a usage error instead). Returns the note."""
    share = assigned_gpus()
    if share <= 0:
        return None
    import torch

    if torch.cuda.is_available():
        return None
    note = (
        f"Ray assigned this worker {share:g} GPU but torch sees no CUDA device "
        f"(torch {torch.__version__}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}): "
        "depth and rendering run on the CPU"
    )
    log.warning("!!! %s", note)
    return note


class _ProgressBoard:
    """A Ray actor collecting the workers' bar positions for the driver."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple[Any, str], int, int | None]] = []

    def put(self, key: tuple[Any, str], done: int, total: int | None) -> None:
        self.items.append((key, done, total))

    def take(self) -> list[tuple[tuple[Any, str], int, int | None]]:
        out, self.items = self.items, []
        return out


class RayExecutor(Executor):
    """Ray actors on a local instance (``address=None``: started here, sized to the machine) or on
    the cluster at ``address``. ``workers`` defaults to the cluster's CPUs / ``cpus_per_worker``
    (and, with GPUs, no more than the GPUs / ``gpu_per_worker``)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        max_retries: int = 2,
        cpus_per_worker: int = 1,
        gpu_per_worker: float = 0.25,
        num_cpus: int | None = None,
    ) -> None:
        self.ray = _import_ray()
        self.address = address
        self.max_retries = max_retries
        self._started_here = False
        if not self.ray.is_initialized():
            self._init(address, num_cpus)
        res = self.ray.cluster_resources()
        self.cpus, self.gpus = float(res.get("CPU", 1)), float(res.get("GPU", 0))
        n = workers or max(1, int(self.cpus // cpus_per_worker))
        if self.gpus > 0 and not workers:
            n = max(1, min(n, int(self.gpus / gpu_per_worker)))
        self.workers = n
        self.gpu_fraction = gpu_per_worker if self.gpus > 0 else 0.0
        self._options = {
            "num_cpus": cpus_per_worker,
            "num_gpus": self.gpu_fraction,
            "max_restarts": -1,  # a worker that dies comes back (with its models loaded anew) ...
            "max_task_retries": 0,  # ... and the driver reruns its task, counting the attempts
        }
        # Light tasks' actors: no GPU, and no CPU reserved either: they are short (planning a clip,
        # copying packets, hashing), and a reservation could wait forever for a CPU held by an idle
        # GPU worker. Only made when the GPU workers are GPU workers; otherwise one pool does all.
        self._light_options = {**self._options, "num_cpus": 0, "num_gpus": 0}
        self._board = self.ray.remote(_ProgressBoard).options(num_cpus=0).remote()
        self._actor_cls = self.ray.remote(_RackWorker)
        self._idle: list[Any] = []
        self._idle_light: list[Any] = []
        self._actors: list[Any] = []
        self._light: set[Any] = set()  # the light actors among _actors
        self._waiting: collections.deque[_Task] = collections.deque()
        self._running: dict[Any, tuple[Any, _Task]] = {}
        self._recovering: list[tuple[Any, float]] = []  # restarting actors, when to ask them next
        self._probes: dict[Any, Any] = {}  # pid() calls to restarting actors

    def _init(self, address: str | None, num_cpus: int | None) -> None:
        kw: dict[str, Any] = {"configure_logging": False, "log_to_driver": False}
        if address is None:
            # a local instance: only small records travel through the object store, not frames
            kw.update(address="local", include_dashboard=False, object_store_memory=256 * 1024**2)
            if num_cpus is not None:
                kw["num_cpus"] = num_cpus
        else:
            kw["address"] = address
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            self.ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"--ray-address {address}: cannot join the Ray cluster ({e})") from None
        self._started_here = True

    def describe(self) -> str:
        where = "local instance" if self.address is None else f"cluster at {self.address}"
        kind = f"{self.gpu_fraction:g} GPU each" if self.gpu_fraction else "CPU"
        return f"ray {where}: {self.workers} worker(s) ({kind}); cluster {self.cpus:g} CPU, {self.gpus:g} GPU"

    def submit(self, fn: Callable[..., Any], args: tuple, tag: Any, *, light: bool = False) -> None:
        self._waiting.append(_Task(fn, args, tag, light=light and self.gpu_fraction > 0))
        self._dispatch()

    def _dispatch(self) -> None:
        """Start the waiting tasks that have an idle worker of their kind (making one while the
        kind has fewer than ``workers``), in order within each kind."""
        left: collections.deque[_Task] = collections.deque()
        while self._waiting:
            task = self._waiting.popleft()
            actor = self._idle_actor(task.light)
            if actor is None:
                left.append(task)
                continue
            task.attempts += 1
            self._running[actor.run.remote(task.fn, task.args)] = (actor, task)
        self._waiting = left

    def _idle_actor(self, light: bool) -> Any:
        idle = self._idle_light if light else self._idle
        if not idle and sum((a in self._light) == light for a in self._actors) < self.workers:
            cpu_only = light or (self.gpu_fraction == 0 and self.gpus > 0)
            actor = self._actor_cls.options(**(self._light_options if light else self._options)).remote(
                worker_env(), self._board, cpu_only  # the driver's env as of now
            )
            self._actors.append(actor)
            if light:
                self._light.add(actor)
            idle.append(actor)
        return idle.pop() if idle else None

    def _back(self, actor: Any) -> None:
        """``actor`` is free again."""
        (self._idle_light if actor in self._light else self._idle).append(actor)

    def poll(self, timeout_s: float) -> list[Done]:
        self._probe_recovering()
        self._dispatch()
        refs = [*self._running, *self._probes]
        if not refs:
            return []
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout_s)
        if ready:  # and whatever else has finished meanwhile
            more, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            ready = list(dict.fromkeys([*ready, *more]))
        out: list[Done] = []
        for ref in ready:
            if ref in self._probes:
                self._probe_result(ref)
            else:
                self._task_result(ref, out)
        self._dispatch()
        return out

    def _task_result(self, ref: Any, out: list[Done]) -> None:
        actor, task = self._running.pop(ref)
        try:
            out.append(Done(task.tag, value=self.ray.get(ref), attempts=task.attempts))
        except self.ray.exceptions.RayActorError as e:  # the worker process died
            self._recover(actor, e)
            if task.attempts <= self.max_retries:
                log.warning("a Ray worker died; running its task again (attempt %d)", task.attempts + 1)
                self._waiting.appendleft(task)
            else:
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                msg = f"WorkerDied: the worker died {task.attempts} time(s) running this task ({why})"
                out.append(Done(task.tag, error=msg, attempts=task.attempts))
            return
        except Exception as e:
            out.append(Done(task.tag, error=error_line(e), attempts=task.attempts))
        self._back(actor)

    def _recover(self, actor: Any, error: BaseException) -> None:
        """A dead worker: Ray restarts it; it takes tasks again once it answers (see the probes).
        One Ray gave up on is replaced by a new actor."""
        if isinstance(error, self.ray.exceptions.ActorDiedError):  # not coming back (as Ray sees it)
            self._actors.remove(actor)
            self._light.discard(actor)
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        else:
            self._recovering.append((actor, time.monotonic() + PROBE_INTERVAL_S))

    def _probe_recovering(self) -> None:
        now = time.monotonic()
        due = [(a, t) for a, t in self._recovering if t <= now]
        self._recovering = [(a, t) for a, t in self._recovering if t > now]
        for actor, _ in due:
            self._probes[actor.pid.remote()] = actor

    def _probe_result(self, ref: Any) -> None:
        actor = self._probes.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayActorError as e:
            self._recover(actor, e)
            return
        self._back(actor)

    def progress(self) -> list[tuple[tuple[Any, str], int, int | None]]:
        try:
            return self.ray.get(self._board.take.remote(), timeout=10)
        except Exception:  # progress is best effort
            return []

    def busy(self) -> int:
        return len(self._waiting) + len(self._running)

    def worker_pids(self) -> list[int]:
        return self.ray.get([a.pid.remote() for a in self._actors])

    def release(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors.clear()
        self._light.clear()
        self._idle.clear()
        self._idle_light.clear()
        self._running.clear()
        self._recovering.clear()
        self._probes.clear()

    def close(self) -> None:
        self.release()
        if self._started_here:
            self.ray.shutdown()


def make_executor(
    ray: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
    *,
    max_retries: int = 2,
    cpus_per_worker: int = 1,
    gpu_per_worker: float = 0.25,
) -> Executor:
    """The executor the CLI flags ask for: ``--ray-address`` > ``--ray`` > a local process pool."""
    if ray or ray_address:
        return RayExecutor(
            ray_address,
            workers,
            max_retries=max_retries,
            cpus_per_worker=cpus_per_worker,
            gpu_per_worker=gpu_per_worker,
        )
    return LocalPool(workers, max_retries=max_retries)


def wait_idle(executor: Executor, timeout_s: float = 60.0) -> None:
    """Block until ``executor`` has no task left (or ``timeout_s`` passed)."""
    end = time.monotonic() + timeout_s
    while executor.busy() and time.monotonic() < end:
        executor.poll(0.5)
