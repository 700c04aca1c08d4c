"""``messages.parquet`` and ``deliveries.parquet`` written straight from the record columns, a row group at a time.

The files hold the same columns and types as :func:`~queuesim.metrics.tables.messages_frame`
and :func:`~queuesim.metrics.tables.deliveries_frame` written with ``DataFrame.to_parquet``, so
``pandas.read_parquet`` gives those frames back; but no whole DataFrame is built: each row group
of ``ROW_GROUP`` rows is cut from the numpy columns (zero-copy where the types match), converted
and written before the next, so the extra memory is one row group, not a second copy of the table.
pyarrow is imported here only, when a parquet file is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from queuesim.metrics.derive import Derived
from queuesim.records import RunRecord

__all__ = ["ROW_GROUP", "write_messages", "write_deliveries"]

#: Rows per row group (pyarrow's default, which ``to_parquet`` used).
ROW_GROUP = 1 << 18  # rows: a chunk of every column is ~30 MB, the writer's transient

Chunk = dict[str, Any]


def _code_type(categories: Sequence[str]) -> type[np.signedinteger[Any]]:
    """The integer type pandas picks for the codes of so many categories."""
    n = len(categories)
    return np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32


def _schema(columns: dict[str, Any]) -> Any:
    """The arrow schema of these column kinds: a list is a categorical's categories (a dictionary column).

    Built by pyarrow alone, without the pandas metadata ``to_parquet`` adds: ``pandas.read_parquet``
    gives the same frame back without it (dictionary columns come back categorical), and a run
    writing its files does not import pandas.
    """
    import pyarrow as pa

    fields = []
    for name, kind in columns.items():
        if isinstance(kind, list):
            fields.append(pa.field(name, pa.dictionary(pa.from_numpy_dtype(_code_type(kind)), pa.large_string())))
        else:
            fields.append(pa.field(name, pa.from_numpy_dtype(np.dtype(kind))))
    return pa.schema(fields)


def _array(values: np.ndarray, dtype: Any, valid: np.ndarray | None = None) -> Any:
    """An arrow array over a numpy column's own buffer (a bool column packed to bits).

    Built from buffers rather than with ``pyarrow.array``, whose first call imports pandas (0.2 s
    of a run that never needs it); ``valid`` False marks a null.
    """
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=dtype)
    kind = pa.from_numpy_dtype(data.dtype)
    if data.dtype == np.bool_:
        data = np.packbits(data, bitorder="little")
    if valid is None or valid.all():
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(data)])
    mask = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(kind, len(values), [mask, pa.py_buffer(data)], null_count=int(valid.size - valid.sum()))


def _strings(names: Sequence[str]) -> Any:
    """A large_string arrow array of ``names`` (a categorical's categories), from its buffers."""
    import pyarrow as pa

    encoded = [n.encode() for n in names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return pa.Array.from_buffers(pa.large_string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def _write(path: Path, columns: dict[str, Any], chunks: Iterator[Chunk]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(columns)
    categories = {name: _strings(kind) for name, kind in columns.items() if isinstance(kind, list)}
    # dictionary pages for the categorical columns only: tried on every float column, pyarrow builds
    # a dictionary of ~every value before giving up, which tripled the write time for a bigger file
    with pq.ParquetWriter(path, schema, use_dictionary=list(categories)) as writer:
        for chunk in chunks:
            arrays = []
            for field in schema:
                kind, values = columns[field.name], chunk[field.name]
                if isinstance(kind, list):
                    valid = values >= 0  # a -1 code is a null (a message no worker took has no pool)
                    codes = _array(np.where(valid, values, 0), _code_type(kind), valid)
                    arrays.append(pa.DictionaryArray.from_arrays(codes, categories[field.name]))
                else:
                    arrays.append(_array(values, kind))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP)
    return path


def _pool_codes(worker: np.ndarray, rec: RunRecord) -> np.ndarray:
    codes = np.full(len(worker), -1, dtype=np.int32)
    ok = worker >= 0
    codes[ok] = rec.worker_pool[worker[ok]]
    return codes


def _slices(n: int) -> Iterator[slice]:
    for start in range(0, max(n, 1), ROW_GROUP):
        yield slice(start, min(n, start + ROW_GROUP))


def write_messages(records: Sequence[RunRecord], path: Path) -> Path:
    """Write ``messages.parquet`` (the columns of :func:`~queuesim.metrics.tables.messages_frame`)."""
    from queuesim.records import LOSSES, OUTCOMES

    rec0 = records[0]
    columns: dict[str, Any] = {
        "replication": np.int32, "message": np.int64, "request": np.int64, "producer": list(rec0.producers),
        "queue": list(rec0.queues), "stage": np.int16, "created": np.float64, "accepted": np.float64,
        "attempts": np.int32, "first_receive": np.float64, "first_done": np.float64, "receives": np.int32,
        "processings": np.int32, "done": np.float64, "worker": np.int32, "pool": list(rec0.pools),
        "outcome": OUTCOMES, "reason": LOSSES, "poison": np.bool_, "in_window": np.bool_,
    }

    def chunks() -> Iterator[Chunk]:
        for rec in records:
            d = Derived(rec)
            m = rec.messages
            first_receive, first_done, in_window = d.first_receive, d.first_service, d.message_in
            n = len(m["created"])
            for part in _slices(n):
                idx = np.arange(part.start, part.stop, dtype=np.int64)
                yield {
                    "replication": np.full(idx.size, rec.replication, dtype=np.int32), "message": idx,
                    "request": m["request"][part], "producer": rec.requests["producer"][m["request"][part]],
                    "queue": m["queue"][part], "stage": m["stage"][part], "created": m["created"][part],
                    "accepted": m["accepted"][part], "attempts": m["attempts"][part],
                    "first_receive": first_receive[part], "first_done": first_done[part],
                    "receives": m["receives"][part], "processings": m["processings"][part], "done": m["done"][part],
                    "worker": m["worker"][part], "pool": _pool_codes(m["worker"][part], rec),
                    "outcome": m["outcome"][part], "reason": m["reason"][part],
                    "poison": m["poison"][part].astype(bool), "in_window": in_window[part],
                }

    return _write(path, columns, chunks())


def write_deliveries(records: Sequence[RunRecord], path: Path) -> Path:
    """Write ``deliveries.parquet`` (the columns of :func:`~queuesim.metrics.tables.deliveries_frame`)."""
    from queuesim.records import STATUSES

    rec0 = records[0]
    columns: dict[str, Any] = {
        "replication": np.int32, "message": np.int64, "queue": list(rec0.queues), "since": np.float64,
        "until": np.float64, "worker": np.int32, "pool": list(rec0.pools), "started": np.float64,
        "finished": np.float64, "overhead": np.float64, "delivery": np.int32, "status": STATUSES,
    }

    def chunks() -> Iterator[Chunk]:
        for rec in records:
            dl = rec.deliveries
            for part in _slices(len(dl["since"])):
                message = dl["message"][part]
                yield {
                    "replication": np.full(part.stop - part.start, rec.replication, dtype=np.int32),
                    "message": message, "queue": rec.messages["queue"][message], "since": dl["since"][part],
                    "until": dl["until"][part], "worker": dl["worker"][part],
                    "pool": _pool_codes(dl["worker"][part], rec), "started": dl["started"][part],
                    "finished": dl["finished"][part], "overhead": dl["overhead"][part], "delivery": dl["delivery"][part],
                    "status": dl["status"][part],
                }

    return _write(path, columns, chunks())

