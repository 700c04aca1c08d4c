"""The real-broker check (benchmarks/real/redis_check.py), short: a real Redis and real workers against queuesim's prediction."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redis_check", ROOT / "benchmarks" / "real" / "redis_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["redis_check"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.real
def test_real_redis_agrees_with_the_calibrated_prediction() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis", reason="the redis client is not installed (pip install 'queuesim-async[real]')")
    check = _load_check()
    result = check.check(check.SHORT)
    print(result.markdown())
    assert result.real.crashes > 0 and result.real.lost > 0
    for figure in ("mean wait", "p99 wait", "loss rate"):
        measured = result.measured[figure]
        assert measured.low <= measured.value <= measured.high
    # The fault mechanics and the mean are what the calibrated model claims to reproduce.
    for figure in ("mean wait", "loss rate"):
        measured, predicted = result.measured[figure], result.calibrated[figure]
        assert result.agrees(figure), f"{figure}: measured {measured}, queuesim {predicted}"
    # The wait's tail on a shared machine carries scheduler stalls that no service-time fit holds (CI measured
    # 348 ms against a calibrated 214 ms once, 192 vs 174 another time); the claim tested is that calibrating
    # moves the prediction toward the real broker, never away from it.
    measured, nominal, calibrated = (r["p99 wait"].value for r in (result.measured, result.nominal, result.calibrated))
    assert abs(calibrated - measured) < abs(nominal - measured), (measured, nominal, calibrated)
    # the restart a supervisor needs is the configured delay plus a fork and a reconnect: never less
    assert result.restart >= check.SHORT.restart_delay
