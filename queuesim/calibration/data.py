"""One column of a recorded log (CSV) read as durations or timestamps in seconds, with file:line errors."""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from queuesim.errors import Problem, QueuesimError

__all__ = ["DataError", "Sample", "UNITS", "MIN_VALUES", "unit_from_name", "read_durations", "read_timestamps"]

#: Seconds per unit accepted by ``--unit``.
UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: Fewer values than this cannot tell one family of distributions from another.
MIN_VALUES = 20
#: Row problems listed one by one before the rest are counted.
_LISTED = 10

# A column name's last word, as written in logs, and the unit it names.
_SUFFIXES = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "ms": "ms", "msec": "ms", "msecs": "ms", "millis": "ms", "millisecond": "ms", "milliseconds": "ms",
    "us": "us", "µs": "us", "usec": "us", "usecs": "us", "micros": "us", "microsecond": "us", "microseconds": "us",
}
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_EPOCH = datetime(1970, 1, 1)


class DataError(QueuesimError):
    """A log that cannot be calibrated from; one :class:`~queuesim.errors.Problem` per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Sample:
    """Values read from one column, in file order.

    Attributes
    ----------
    values : numpy.ndarray
        float64 seconds: durations, or timestamps (seconds since the epoch for ISO-8601 text).
    lines : numpy.ndarray
        The 1-based line of the file each value came from.
    source, column : str
        The file and the column's header.
    unit : str or None
        The unit the numbers were written in (``s``, ``ms``, ``us``); None for ISO-8601 timestamps.
    skipped : int
        Rows left out by ``skip_invalid``.
    """

    values: npt.NDArray[np.float64]
    lines: npt.NDArray[np.int64]
    source: str
    column: str
    unit: str | None
    skipped: int = 0

    def where(self, index: int) -> str:
        """``file:line`` of the value at ``index``."""
        return f"{self.source}:{int(self.lines[index])}"


def unit_from_name(column: str) -> str | None:
    """The time unit a column's name ends with, if any.

    Parameters
    ----------
    column : str
        A header such as ``duration_ms``, ``latencyMs``, ``wait (s)`` or ``service-time-us``.

    Returns
    -------
    str or None
        ``"s"``, ``"ms"`` or ``"us"``; None when the last word of the name is not a unit.
    """
    words = [w for w in re.split(r"[\s_\-.()\[\]/]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)) if w]
    return _SUFFIXES.get(words[-1].lower()) if words else None


def _rows(path: Path, column: str) -> Iterator[tuple[int, str]]:
    """(line, cell) of ``column`` for every non-blank row after the header; raises DataError."""
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError([Problem(source, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise DataError([Problem(source, None, "", "is a directory, not a CSV file")]) from None
    except OSError as exc:
        raise DataError([Problem(source, None, "", f"cannot open: {exc.strerror or exc}")]) from None
    with handle:
        try:
            head = handle.readline()
            handle.seek(0)
            try:
                dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(head, delimiters=",;\t|")
            except csv.Error:  # one column, or nothing to tell: plain commas
                dialect = csv.excel
            reader = csv.reader(handle, dialect)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise DataError([Problem(source, 1, "", "empty file: expected a header row naming the columns")])
            names = [h.strip() for h in header]
            if column not in names:
                from difflib import get_close_matches

                close = get_close_matches(column, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DataError([Problem(source, 1, column, f"no such column{hint}; the header has: {', '.join(names)}")])
            index = names.index(column)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if index >= len(row):
                    yield reader.line_num, ""
                else:
                    yield reader.line_num, row[index].strip()
        except UnicodeDecodeError as exc:
            raise DataError([Problem(source, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
        except csv.Error as exc:
            raise DataError([Problem(source, None, "", f"not a readable CSV file: {exc}")]) from None


def _unit(column: str, unit: str | None, source: str) -> str:
    if unit is not None:
        if unit not in UNITS:
            raise DataError([Problem(source, None, column, f"unknown unit {unit!r}: use one of {', '.join(UNITS)}")])
        return unit
    found = unit_from_name(column)
    if found is None:
        raise DataError([Problem(source, 1, column, "cannot tell the unit: pass --unit ms|s|us, or name the column "
                                                    "with a unit suffix (duration_ms, wait_s, latency_us)")])
    return found


def _finish(values: list[float], lines: list[int], bad: list[Problem], source: str, column: str,
            unit: str | None, skip_invalid: bool, what: str) -> Sample:
    if bad and not skip_invalid:
        listed = bad[:_LISTED]
        if len(bad) > _LISTED:
            listed.append(Problem(source, None, column, f"… and {len(bad) - _LISTED} more rows like these "
                                                        "(--skip-invalid leaves them out)"))
        raise DataError(listed)
    if len(values) < MIN_VALUES:
        raise DataError([Problem(source, None, column, f"only {len(values)} {what} (need at least {MIN_VALUES} "
                                                       "to tell one distribution from another)")])
    return Sample(np.asarray(values, dtype=np.float64), np.asarray(lines, dtype=np.int64), source, column, unit,
                  skipped=len(bad))


def read_durations(path: str | os.PathLike[str], column: str, unit: str | None = None,
                   *, skip_invalid: bool = False) -> Sample:
    """Read a column of durations (service times, waits) as seconds.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header row (comma, semicolon, tab or ``|`` separated).
    column : str
        The header of the column to read.
    unit : {"s", "ms", "us"}, optional
        The unit the numbers are in; by default taken from the column name's suffix.
    skip_invalid : bool, default False
        Leave out rows whose cell is empty, not a number or negative, instead of failing.

    Returns
    -------
    Sample

    Raises
    ------
    DataError
        Missing file or column, unknown unit, bad rows (each with its ``file:line``), or fewer
        than :data:`MIN_VALUES` values.
    """
    source = str(path)
    rows = list(_rows(Path(path), column))  # file and column problems come before the unit's
    factor = UNITS[_unit(column, unit, source)]
    values: list[float] = []
    lines: list[int] = []
    bad: list[Problem] = []
    for line, cell in rows:
        if not cell:
            bad.append(Problem(source, line, column, "empty value"))
        elif not _NUMBER.match(cell):
            bad.append(Problem(source, line, column, f"not a number: {cell!r}"))
        elif float(cell) < 0:
            bad.append(Problem(source, line, column, f"negative duration: {cell}"))
        else:
            values.append(float(cell) * factor)
            lines.append(line)
    return _finish(values, lines, bad, source, column, unit or unit_from_name(column), skip_invalid, "values")


def _iso_seconds(text: str) -> tuple[float, bool]:
    """Seconds since the epoch of an ISO-8601 timestamp, and whether it carried a time zone."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is not None:
        return stamp.timestamp(), True
    return (stamp - _EPOCH).total_seconds(), False  # naive: the log's own clock, no local-time guess


def read_timestamps(path: str | os.PathLike[str], column: str, unit: str | None = None,
                    *, skip_invalid: bool = False) -> Sample:
    """Read a column of timestamps (arrival or enqueue times) as seconds.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header row.
    column : str
        The header of the column to read.
    unit : {"s", "ms", "us"}, optional
        The unit of numeric timestamps (epoch or relative); by default taken from the column
        name's suffix. ISO-8601 text (``2024-05-01T12:00:00.125Z``) needs none.
    skip_invalid : bool, default False
        Leave out rows that are empty or not timestamps instead of failing.

    Returns
    -------
    Sample
        Timestamps in file order (not sorted).

    Raises
    ------
    DataError
        As :func:`read_durations`; also ISO-8601 timestamps with and without a time zone mixed,
        or numbers mixed with text.
    """
    source = str(path)
    rows = list(_rows(Path(path), column))
    numeric = next((bool(_NUMBER.match(cell)) for _, cell in rows if cell), True)
    factor = UNITS[_unit(column, unit, source)] if numeric else 1.0
    values: list[float] = []
    lines: list[int] = []
    bad: list[Problem] = []
    zoned: bool | None = None
    for line, cell in rows:
        if not cell:
            bad.append(Problem(source, line, column, "empty value"))
        elif numeric:
            if _NUMBER.match(cell) and math.isfinite(float(cell)):
                values.append(float(cell) * factor)
                lines.append(line)
            else:
                bad.append(Problem(source, line, column, f"not a number: {cell!r} (the first timestamp was numeric)"))
        else:
            try:
                seconds, has_zone = _iso_seconds(cell)
            except ValueError:
                bad.append(Problem(source, line, column, f"not an ISO-8601 timestamp: {cell!r}"))
                continue
            if zoned is not None and has_zone != zoned:
                bad.append(Problem(source, line, column, f"{'has' if has_zone else 'lacks'} a time zone, "
                                                         f"unlike the first timestamp: {cell!r}"))
                continue
            zoned = has_zone
            values.append(seconds)
            lines.append(line)
    return _finish(values, lines, bad, source, column, (unit or unit_from_name(column)) if numeric else None,
                   skip_invalid, "timestamps")

