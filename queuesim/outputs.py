"""Output folders and files that are never half-written: built aside, then swapped into place at once.

A run's folder is one unit: ``summary.json`` must never sit beside another run's parquet files or
plots. :func:`atomic_directory` builds the new folder next to the old one and exchanges the two
with one ``renameat2(RENAME_EXCHANGE)`` on Linux (a single atomic step), so a ``kill -9`` at any
moment leaves either the previous complete folder or the new complete one at ``path``. Elsewhere
it falls back to two renames, and a folder interrupted between them is recovered from its backup
the next time. :func:`atomic_write` does the same for one file (write aside, ``os.replace``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from queuesim.errors import QueuesimError

__all__ = ["atomic_directory", "atomic_write", "OutputError"]

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class OutputError(QueuesimError, OSError):
    """An output path that cannot be written (it names a file where a folder is wanted, …)."""


_Renameat2 = Callable[[int, bytes, int, bytes, int], int]


def _libc_renameat2() -> _Renameat2 | None:
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return cast(_Renameat2, fn)


_RENAMEAT2 = _libc_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False where the system cannot (then nothing changed)."""
    if _RENAMEAT2 is None:
        return False
    rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _backup_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.previous")


def _recover(path: Path) -> None:
    """Put back a folder that a fallback swap left aside when it was interrupted between its renames."""
    backup = _backup_of(path)
    if backup.is_dir() and not path.exists():
        os.rename(backup, path)
    elif backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``path`` as a whole, on error it is removed.

    Raises
    ------
    OutputError
        If ``path`` exists and is not a folder (checked before anything is written).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.partial"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        if not target.exists():
            os.rename(staging, target)  # atomic: nothing was there
        elif _exchange(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # staging now holds the previous folder
        else:
            backup = _backup_of(target)
            os.rename(target, backup)
            os.rename(staging, target)
            shutil.rmtree(backup, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write one file aside and rename it into place, so readers see the old or the new content only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
