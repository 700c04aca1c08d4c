"""Run many independent tasks on any ``concurrent.futures.Executor``: progress bar, first error wins, clean Ctrl-C.

The executor only decides *where* a task runs. A task carries everything it needs (its scenario
and seed), so results are identical on a :class:`~queuesim.experiment.executors.SerialExecutor`, a process
pool or a Dask cluster.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from queuesim.errors import QueuesimError
from queuesim.experiment.progress import Bar

__all__ = ["ExecutorKind", "TaskFailed", "TaskOutcome", "QuietProcessPool", "run_tasks", "open_executor", "default_executor"]

#: What ``--executor`` accepts.
ExecutorKind = Literal["process", "serial", "dask"]


class SerialExecutor(Executor):
    """Runs each task at submit time in this process: no pickling, deterministic, debuggable."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as a pool would
            future.set_exception(exc)
        return future


class TaskFailed(QueuesimError):
    """A task raised; the message names the task (a sweep point) and the original error is the cause."""


@dataclass
class TaskOutcome:
    """What :func:`run_tasks` got back.

    ``results[i]`` is the result of task ``i``, or None where the task did not finish because the
    run was interrupted (then ``interrupted`` is True) or because it failed (then ``errors[i]``
    says why, when failures were recorded rather than raised).
    """

    results: list[Any]
    interrupted: bool = False
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """Number of tasks with a result."""
        return sum(r is not None for r in self.results)


def _ignore_sigint() -> None:
    # Ctrl-C reaches every process of the terminal's process group; only the parent decides what
    # to keep, so workers must not die mid-task with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class QuietProcessPool(ProcessPoolExecutor):
    """A process pool whose workers ignore Ctrl-C, so the parent alone handles it; :meth:`terminate` stops it at once."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, initializer=_ignore_sigint)

    @property
    def max_workers(self) -> int:
        """Number of worker processes."""
        return int(self._max_workers)  # type: ignore[attr-defined]

    def terminate(self, futures: Iterable[Future[Any]] = (), grace: float = 0.5) -> None:
        """Cancel pending tasks and kill the workers; tasks still running after ``grace`` seconds are lost.

        The grace lets results already computed but still on their way back (and tasks about to
        finish) arrive, so nothing finished is thrown away.
        """
        processes = list((getattr(self, "_processes", None) or {}).values())
        self.shutdown(wait=False, cancel_futures=True)
        wait([f for f in futures if not f.done()], timeout=grace)
        for process in processes:
            if process.is_alive():
                process.terminate()


def default_executor(tasks: int, workers: int | None = None) -> Executor:
    """A process pool on every core for several tasks; a serial executor for one task or one core."""
    n = min(workers or os.cpu_count() or 1, tasks)
    return QuietProcessPool(n) if n > 1 else SerialExecutor()


@contextmanager
def open_executor(
    kind: ExecutorKind = "process",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    tasks: int | None = None,
) -> Iterator[Executor]:
    """An executor by name, shut down on exit.

    Parameters
    ----------
    kind : {'process', 'serial', 'dask'}
        ``process``: a local process pool; ``serial``: in this process; ``dask``: a Dask
        distributed cluster (needs the ``dask`` extra).
    workers : int, optional
        Processes of the pool, or of the local Dask cluster; default: every core.
    scheduler : str, optional
        ``tcp://host:8786`` of a running Dask scheduler; without it ``dask`` starts a local cluster.
    tasks : int, optional
        When known, a process pool is not made larger than this.
    """
    if scheduler is not None and kind != "dask":
        raise QueuesimError("--scheduler needs --executor dask")
    if kind == "serial":
        yield SerialExecutor()
    elif kind == "process":
        n = workers or os.cpu_count() or 1
        pool = QuietProcessPool(max(1, min(n, tasks or n)))
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    elif kind == "dask":
        from queuesim.experiment.dask import dask_executor

        with dask_executor(scheduler, n_workers=workers) as executor:
            yield executor
    else:
        raise QueuesimError(f"unknown executor {kind!r}: use process, serial or dask")


def parallelism(executor: Executor) -> int:
    """How many tasks an executor runs at once, as far as it can tell (2 when it cannot)."""
    if isinstance(executor, SerialExecutor):
        return 1
    n = getattr(executor, "_max_workers", None) or getattr(executor, "parallelism", None)
    return int(n) if n else 2


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    executor: Executor,
    progress: bool | Bar = True,
    description: str = "points",
    describe: Callable[[int], str] | None = None,
    failures: Literal["raise", "record"] = "raise",
    weight: float = 1.0,
) -> TaskOutcome:
    """Run ``fn(task)`` for every task on ``executor``.

    Parameters
    ----------
    fn : callable
        A module-level function (process pools and Dask pickle it by reference).
    tasks : sequence
        Picklable arguments, one per call.
    executor : concurrent.futures.Executor
        Not shut down here.
    progress : bool or Bar, default True
        Show a progress bar on stderr (a terminal only): tasks done and time left. A :class:`Bar`
        is a command's one bar that these tasks advance (a plan's candidates), not a bar of their own.
    description : str
        Label of the progress bar.
    describe : callable, optional
        ``describe(i)`` names task ``i`` in errors.
    failures : {'raise', 'record'}
        ``raise``: the first failing task cancels the others and raises :class:`TaskFailed`;
        ``record``: its error goes into ``TaskOutcome.errors`` and the other tasks go on, so a
        sweep keeps every point that finished.
    weight : float, default 1
        How much each task advances the bar (a plan counts replications, so longer runs weigh more).

    Returns
    -------
    TaskOutcome
        On Ctrl-C (KeyboardInterrupt), pending tasks are cancelled, a :class:`QuietProcessPool`
        is terminated, and the results finished so far are returned with ``interrupted=True``.

    Raises
    ------
    TaskFailed
        If a task raises; the other tasks are cancelled.
    """
    results: list[Any] = [None] * len(tasks)
    errors: dict[int, str] = {}
    futures: dict[Future[Any], int] = {}
    interrupted = False
    shared = isinstance(progress, Bar)
    own = progress if isinstance(progress, Bar) else Bar(description, len(tasks), enabled=progress)
    with nullcontext(own) if shared else own as bar:

        def advance(future: Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                bar.advance(weight)

        def check(future: Future[Any]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if isinstance(error, KeyboardInterrupt):  # a serial executor delivers Ctrl-C through the future
                raise KeyboardInterrupt
            if error is not None:
                name = describe(futures[future]) if describe else f"task {futures[future]}"
                if failures == "record" and isinstance(error, Exception):
                    errors[futures[future]] = f"{type(error).__name__}: {error}"
                    return
                raise TaskFailed(f"{name} failed: {type(error).__name__}: {error}") from error
            results[futures[future]] = future.result()

        try:
            for index, task in enumerate(tasks):
                future = executor.submit(fn, task)
                futures[future] = index
                future.add_done_callback(advance)
                if future.done():
                    check(future)
            for future in as_completed(futures):
                check(future)
        except KeyboardInterrupt:
            interrupted = True
            with _sigint_ignored():  # a second Ctrl-C while stopping must not lose what finished
                _stop(executor, futures)
                for future, index in futures.items():
                    if future.done() and not future.cancelled() and future.exception() is None:
                        results[index] = future.result()
        except BaseException:
            _stop(executor, futures, terminate=False)
            raise
    return TaskOutcome(results, interrupted, errors)


@contextmanager
def _sigint_ignored() -> Iterator[None]:

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(executor: Executor, futures: dict[Future[Any], int], terminate: bool = True) -> None:
    if terminate and isinstance(executor, QuietProcessPool):
        # The pool's own thread settles its futures (cancelled or broken); cancelling them from here
        # as well races with it (CPython 3.11 then raises InvalidStateError in that thread).
        executor.terminate(futures)
        return
    for future in futures:
        future.cancel()
