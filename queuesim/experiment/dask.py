"""The Dask executor: run sweep points on a Dask distributed cluster (``pip install 'queuesim-async[dask]'``).

Dask is imported only when this executor is asked for. Points carry their scenario and seed, so a
cluster gives the same table as a local process pool.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from queuesim.errors import QueuesimError

__all__ = ["DaskUnavailable", "dask_executor", "executor_for_client"]

_INSTALL = "the dask executor needs dask.distributed: pip install 'queuesim-async[dask]' (or 'dask[distributed]')"


class DaskUnavailable(QueuesimError):
    """Dask is not installed, or its scheduler cannot be reached."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise DaskUnavailable(f"{_INSTALL} ({error})") from None
    return distributed


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with Ctrl-C ignored (inherited through spawn), so only this process handles it.

    Ctrl-C reaches the terminal's whole process group; without this every local worker would
    print a KeyboardInterrupt traceback while the sweep is keeping its finished points.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals cannot be changed here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def executor_for_client(client: Any) -> Executor:
    """A ``concurrent.futures`` executor on an existing ``distributed.Client``.

    Tasks are submitted with ``pure=False``: Dask neither hashes the scenarios nor merges
    identical points, it simply runs each one.
    """
    executor: Executor = client.get_executor(pure=False)
    return executor


@contextmanager
def dask_executor(scheduler: str | None = None, n_workers: int | None = None) -> Iterator[Executor]:
    """An executor on a Dask cluster, closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``. Without it a local cluster
        of single-threaded worker processes is started (and stopped on exit).
    n_workers : int, optional
        Worker processes of the local cluster; default: every core. Ignored with ``scheduler``.

    Raises
    ------
    DaskUnavailable
        If dask.distributed is not installed or the scheduler cannot be reached.
    """
    distributed = _distributed()
    cluster = None
    try:
        if scheduler is None:
            with _workers_ignore_ctrl_c():
                cluster = distributed.LocalCluster(
                    n_workers=n_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        raise DaskUnavailable(f"cannot reach {where}: {error}") from None
    executor = executor_for_client(client)
    # How many points to keep in flight when a plan searches in parallel rounds.
    executor.parallelism = max(1, sum(client.nthreads().values()))  # type: ignore[attr-defined]
    try:
        yield executor
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
