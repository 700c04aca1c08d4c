"""messages.parquet and deliveries.parquet, written a row group at a time from the record columns, are the tables exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from queuesim import parse_scenario
from queuesim.metrics import parquet
from queuesim.metrics.tables import deliveries_frame, messages_frame
from queuesim.sim import simulate

# two replications, a worker overhead (a deliveries column of its own) and redeliveries: more rows
# than one row group once the row group is made small
TEXT = """
seed: 3
duration: 20s
warmup: 2s
replications: 2
producers: {web: {to: q, rate: 200/s}}
queues: {q: {broker: sqs, visibility_timeout: 30ms}}
workers: {w: {from: q, count: 4, service: {dist: exponential, mean: 15ms}, overhead: 1ms}}
"""


def test_the_parquet_files_are_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP", 1000)
    sc = parse_scenario(TEXT, source="t.yaml")
    records = [simulate(sc, r) for r in range(sc.replications)]
    messages = parquet.write_messages(records, tmp_path / "messages.parquet")
    deliveries = parquet.write_deliveries(records, tmp_path / "deliveries.parquet")
    assert pq.ParquetFile(messages).num_row_groups > 2
    want_m, want_d = messages_frame(records), deliveries_frame(records)
    assert want_d["overhead"].gt(0).any() and want_m["receives"].gt(1).any()
    pd.testing.assert_frame_equal(pd.read_parquet(messages), want_m)
    pd.testing.assert_frame_equal(pd.read_parquet(deliveries), want_d)
