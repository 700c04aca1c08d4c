"""Progress bars on stderr, one per command: simulated time for ``run`` and ``compare``, work done for plans and sweeps.

A bar shows only on a terminal: on a pipe or in a log the command prints nothing here (a bar
redrawn in a file is noise). :class:`Bar` is the one bar of a command whose total may grow as
work is found (a plan learns its candidates as it searches); :class:`SimClock` gathers the
simulated time each replication reports (:func:`queuesim.sim.simulate`'s ``progress`` callback),
from this process or from a process pool's workers, into one bar.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

__all__ = ["Bar", "SimClock", "Reporter", "on_terminal"]


def on_terminal(console: Console | None = None) -> bool:
    """Whether stderr (or ``console``) is a terminal a bar can be redrawn on."""
    return (console or Console(stderr=True)).is_terminal


class Bar:
    """One rich progress bar on stderr, drawn only on a terminal; a no-op otherwise.

    Parameters
    ----------
    description : str
        Its label.
    total : float
        Work expected, in any unit (tasks, replications, simulated seconds); :meth:`expect` revises it.
    detail : str
        A text after the bar, a format string over the bar's fields (``{task.fields[done]}``).
    console : Console, optional
        Where to draw (default stderr); the bar is off unless it is a terminal.
    enabled : bool, default True
        False: never draw (``--quiet``, ``--no-progress``).
    """

    def __init__(self, description: str, total: float, detail: str = "{task.completed:.0f}/{task.total:.0f}",
                 console: Console | None = None, enabled: bool = True, **fields: Any) -> None:
        console = console or Console(stderr=True)
        self.enabled = enabled and console.is_terminal
        self.total = float(total)
        self.completed = 0.0
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if self.enabled:
            self._progress = Progress(
                # a narrow bar and no elapsed time leave room for the text at 80 columns
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), TextColumn(detail),
                TimeRemainingColumn(), TextColumn("left"), console=console, transient=False)
            self._task = self._progress.add_task(description, total=self.total, **fields)

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, *, completed: float | None = None, advance: float = 0.0, description: str | None = None,
               **fields: Any) -> None:
        """Move the bar to ``completed`` (or on by ``advance``), relabel it, or set its fields."""
        with self._lock:
            self.completed = self.completed + advance if completed is None else completed
            if self._progress is not None and self._task is not None:
                extra: dict[str, Any] = {} if description is None else {"description": description}
                self._progress.update(self._task, completed=self.completed, total=self.total, **extra, **fields)

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        """Count ``amount`` more work done."""
        self.update(advance=amount, **fields)

    def expect(self, remaining: float) -> None:
        """Revise the total: ``remaining`` more work after what is done (never below what is done)."""
        with self._lock:
            self.total = max(self.completed + remaining, self.completed)
        self.update(completed=self.completed)

    def grow(self, amount: float) -> None:
        """Add ``amount`` to the total (work found on the way)."""
        with self._lock:
            self.total += amount
        self.update(completed=self.completed)


@dataclass(frozen=True)
class Reporter:
    """Where one replication sends its simulated time: picklable, so it reaches a process pool's worker.

    ``channel`` is a queue this process reads (a :class:`queue.SimpleQueue` for replications run
    here, a multiprocessing manager's queue for a process pool).
    """

    key: int
    channel: Any

    def __call__(self, now: float) -> None:
        self.channel.put((self.key, now))


class SimClock:
    """One bar of the simulated time of every replication a command runs, and the replications done.

    Parameters
    ----------
    total : float
        Simulated seconds of every replication to come (``duration × replications``, summed over
        variants for ``compare``).
    replications : int
        How many replications that is.
    description : str
        The bar's label.
    enabled : bool, default True
        False draws nothing and hands out no reporters.
    console : Console, optional
        Where to draw (stderr by default; only a terminal gets a bar).
    """

    def __init__(self, total: float, replications: int, description: str = "simulating", *,
                 enabled: bool = True, console: Console | None = None) -> None:
        self.bar = Bar(description, total, "{task.fields[done]}/{task.fields[reps]} reps, "
                       "{task.completed:,.0f}/{task.total:,.0f} s simulated", console=console,
                       enabled=enabled, done=0, reps=replications)
        self.replications = replications
        self._latest: dict[int, float] = {}
        self._durations: dict[int, float] = {}
        self._local: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._manager: Any = None
        self._remote: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._next = 0

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn (so replications should report)."""
        return self.bar.enabled

    def __enter__(self) -> SimClock:
        self.bar.__enter__()
        if self.enabled:
            self._thread = threading.Thread(target=self._drain, args=(self._local,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for channel in (self._local, self._remote):
            if channel is not None:
                with contextlib.suppress(OSError, EOFError):  # the manager went away with Ctrl-C
                    channel.put(None)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._manager is not None:
            self._manager.shutdown()
        self.bar.__exit__(kind, error, tb)

    def reporter(self, duration: float, executor: Executor | None) -> Reporter | None:
        """A callback for one replication of ``duration`` seconds that will run on ``executor`` (None: here).

        None when no bar is drawn, or when the executor runs elsewhere (Dask): such a replication
        is counted by :meth:`finished` instead.
        """
        from queuesim.experiment.executors import SerialExecutor

        here = executor is None or isinstance(executor, SerialExecutor)
        if not self.enabled or not (here or isinstance(executor, ProcessPoolExecutor)):
            return None
        key, self._next = self._next, self._next + 1
        self._durations[key] = duration
        if here:
            return Reporter(key, self._local)
        if self._remote is None:
            import multiprocessing

            self._manager = multiprocessing.Manager()
            self._remote = self._manager.Queue()
            threading.Thread(target=self._drain, args=(self._remote,), daemon=True).start()
        return Reporter(key, self._remote)

    def more(self, replications: int, duration: float) -> None:
        """Expect ``replications`` more of ``duration`` seconds each (a precision-driven run's next round)."""
        self.replications += replications
        self.bar.grow(replications * duration)
        self.bar.update(reps=self.replications)

    def finished(self, duration: float) -> None:
        """Count a replication that ran without a reporter (on an executor no report comes back from)."""
        if self.enabled:
            with self._lock:
                key, self._next = self._next, self._next + 1
                self._durations[key] = duration
            self._record(key, duration)

    def _record(self, key: int, now: float) -> None:
        with self._lock:  # reports arrive on two drain threads and from finished()
            self._latest[key] = max(now, self._latest.get(key, 0.0))
            done = sum(1 for k, t in self._latest.items() if t >= self._durations.get(k, float("inf")))
            self.bar.update(completed=sum(self._latest.values()), done=done)

    def _drain(self, channel: Any) -> None:
        while True:
            try:
                item = channel.get()
            except (OSError, EOFError):
                return
            if item is None:
                return
            self._record(*item)
