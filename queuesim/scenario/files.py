"""Reading a user's file (a scenario, a trace) without blocking on a FIFO, reading a device, or loading a huge file whole."""

from __future__ import annotations

import os
import stat

__all__ = ["UnreadableFile", "read_text"]

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class UnreadableFile(ValueError):
    """A file that cannot be read as text: why, and the 1-based line where it went wrong, if any.

    Attributes
    ----------
    reason : str
        Printable, and never quotes the file's contents.
    line : int or None
    """

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _size(n: int) -> str:
    return f"{n / (1 << 20):.3g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def read_text(path: str | os.PathLike[str], limit: int, what: str = "file") -> str:
    """Read a regular file of at most ``limit`` bytes as UTF-8 text.

    Parameters
    ----------
    path : str or path-like
    limit : int
        Largest size accepted, in bytes.
    what : str, default 'file'
        What the file should be, for messages (``'scenario file'``).

    Returns
    -------
    str

    Raises
    ------
    UnreadableFile
        For a missing file, a directory, a FIFO, device or socket, a file over ``limit``, an
        unreadable file, or bytes that are not UTF-8 (with the line of the first bad byte).
    """
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer for ever; on a regular file it has no effect.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(f"is a directory, not a {what}") from None
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror or type(error).__name__}") from None
    except ValueError:  # an embedded NUL
        raise UnreadableFile("a file name cannot contain a NUL character") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableFile(f"is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise UnreadableFile(f"is {kind}, not a {what}")
        # Read one byte past the limit rather than trusting st_size (procfs files report 0).
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror or type(error).__name__}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(f"is larger than {_size(limit)}, the most a {what} may be")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise UnreadableFile(
            f"not UTF-8 text: byte {data[error.start]:#04x}, byte {column} of the line ({error.reason}); save the file as UTF-8",
            line,
        ) from None
