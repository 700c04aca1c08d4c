"""Every reproduction of issue 11 (hardening) kept as a regression: exit 2 with a located message, or a clean run.

Each case goes through the CLI in-process (typer's CliRunner), as a user meets it: the scenario
file, ``--set``, ``--vary``, ``--seed``, the sweep/variants sections, trace files, odd paths.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from queuesim.cli import app
from queuesim.errors import ScenarioError
from queuesim.scenario import load_scenario, parse_scenario
from queuesim.scenario.limits import MAX_SCENARIO_BYTES
from typer.testing import CliRunner

runner = CliRunner()

BASE = """\
name: t
duration: 2s
producers:
  web: {to: orders, rate: 50/s}
queues:
  orders: {broker: redis, capacity: 100}
workers:
  fulfil: {from: orders, count: 2, service: 5ms}
"""

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    # CliRunner catches everything: an exception other than SystemExit is a traceback for a user
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error ")]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files are named as given, so messages read x.yaml:3


def _write(name: str, content: str | bytes) -> str:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_bytes(content.encode() if isinstance(content, str) else content)
    return name


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


# (id, file content, extra arguments, the error line expected, as a regular expression)
FILE_CASES = [
    ("nul-byte", b"name: a\x00b\n" + BASE.encode(), [], r"x\.yaml:1: invalid YAML: the control character 0x0000"),
    ("control-byte-on-line-3", BASE.replace("producers:", "producers:\x1b").encode(), [], r"x\.yaml:3: invalid YAML: the control character 0x001b"),
    ("deep-nesting", "a: " + "[" * 1000 + "]" * 1000 + "\n", [], r"x\.yaml:1: invalid YAML: nested deeper than 32 levels"),
    ("date-value", _edit("duration: 2s", "duration: 2001-13-45"), [], r"x\.yaml:2: duration: expected a duration like 250ms"),
    ("date-key", "2001-13-45: 1\n" + BASE, [], r"x\.yaml:1: 2001-13-45: unknown key '2001-13-45'"),
    ("float-tag", _edit("duration: 2s", "duration: !!float abc"), [], r"x\.yaml:2: invalid YAML: cannot read this value as !!float"),
    ("int-tag", _edit("count: 2", "count: !!int abc"), [], r"x\.yaml:8: invalid YAML: cannot read this value as !!int"),
    ("bool-tag", "seed: !!bool maybe\n" + BASE, [], r"x\.yaml:1: invalid YAML: cannot read this value as !!bool"),
    ("timestamp-tag", _edit("duration: 2s", "duration: !!timestamp soon"), [], r"x\.yaml:2: invalid YAML: the tag !!timestamp is not used"),
    ("map-tag-unhashable-key", BASE + "!!map x: 1\n", [], r"x\.yaml:9: invalid YAML: while constructing a mapping.*, found unhashable key"),
    ("flow-unhashable-key", BASE + "z: !!map {[1]: 2}\n", [], r"x\.yaml:9: invalid YAML: while constructing a mapping, found unhashable key"),
    ("markup-key", BASE + '"[/]": 1\n', [], r"x\.yaml:9: \[/\]: unknown key '\[/\]'"),
    ("sweep-nul-value", BASE + 'sweep: {vary: {workers.fulfil.count: "\\x00"}}\n', [], r"x\.yaml:9: sweep\.vary\.workers\.fulfil\.count: cannot read '\\x00'"),
    ("sweep-directive-value", BASE + 'sweep: {vary: {workers.fulfil.count: "%x"}}\n', [], r"x\.yaml:9: sweep\.vary\.workers\.fulfil\.count: cannot read '%x'"),
    ("sweep-date-mapping", BASE + "sweep: {vary: {workers.fulfil.count: [{2001-12-14: 1}]}}\n", [], r"x\.yaml:9: sweep\.vary\.workers\.fulfil\.count: value .*must be an integer"),
    ("sweep-200-spaces", BASE + f'sweep: {{vary: {{workers.fulfil.count: "1{" " * 200}..{" " * 200}x:"}}}}\n', [], r"x\.yaml:9: sweep\.vary\.workers\.fulfil\.count: cannot read 'x' in '1 "),
    ("batch-size-2-64", _edit("rate: 50/s", "batch: {every: 1s, size: 18446744073709551616}"), [], r"x\.yaml:4: producers\.web\.batch\.size: must be ≤ 1000000"),
    ("count-2-64", _edit("count: 2", "count: 18446744073709551616"), [], r"x\.yaml:8: workers\.fulfil\.count: must be (≤ 100000|between)"),  # since issue 12 the 64-bit check speaks first
    ("replications-1e9", "replications: 1000000000\n" + BASE, [], r"x\.yaml:1: replications: must be ≤ 10000"),
    ("rate-1e308", _edit("rate: 50/s", "rate: 1e308/s"), [], r"x\.yaml:4: producers\.web\.rate: must be at most 1e\+09/s"),
    ("duration-1e300", _edit("duration: 2s", "duration: 1e300s"), [], r"x\.yaml:2: duration: must be at most 1e\+09 seconds"),
    ("billion-laughs", LAUGHS + BASE, [], r"x\.yaml:7: invalid YAML: aliases expand this to more than 1,000,000 values"),
    ("alias-cycle", BASE + "loop: &a [*a]\n", [], r"x\.yaml:9: invalid YAML: an alias refers to the mapping or list that contains it"),
    ("latin-1", BASE.replace("name: t", "name: caf\xe9").encode("latin-1"), [], r"x\.yaml:1: not UTF-8 text: byte 0xe9"),
    ("latin-1-line-5", BASE.replace("web:", "w\xe9b:").encode("latin-1"), [], r"x\.yaml:4: not UTF-8 text: byte 0xe9"),
    ("cv-overflow", _edit("service: 5ms", "service: {dist: lognormal, mean: 5ms, cv: 1e200}"), [], r"x\.yaml:8: workers\.fulfil\.service\.cv: must be ≤ 1e\+06"),
    ("int-beyond-int64", _edit("capacity: 100", "capacity: 99999999999999999999999"), [], r"x\.yaml:6: queues\.orders\.capacity: must be between"),
    ("int-of-5000-digits", _edit("capacity: 100", "capacity: " + "9" * 5000), [], r"x\.yaml:6: invalid YAML: cannot read this value as !!int"),
    ("deep-set", BASE, ["--set", "seed=" + "[" * 1000 + "]" * 1000], r"--set: seed: cannot read value .*nested deeper than 32 levels"),
    ("set-control-byte", BASE, ["--set", "name=a\x1bb"], r"--set: name: cannot read value 'a\\x1bb' as YAML: the control character 0x001b"),
    ("set-superscript-index", BASE + "faults: [{at: 1s, queue: orders, kind: outage, duration: 1s}]\n", ["--set", "faults.²=1"], r"--set: faults\.²: faults is a list of 1"),
]


@pytest.mark.parametrize(("content", "args", "expected"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_a_bad_scenario_file_gives_a_located_error(content: str | bytes, args: list[str], expected: str) -> None:
    started = time.perf_counter()
    code, output = _cli("validate", _write("x.yaml", content), *args)
    assert code == 2, output
    assert any(re.match(rf"error {expected}", line) for line in _errors(output)), output
    assert time.perf_counter() - started < 10


# (id, sweep arguments after the file, the error line expected)
VARY_CASES = [
    ("vary-150-spaces", ["--vary", f"workers.fulfil.count=1{' ' * 150}..{' ' * 150}x:"], r"--vary: workers\.fulfil\.count: cannot read 'x' in '1 "),
    ("vary-nul", ["--vary", "workers.fulfil.count=\x00"], r"--vary: workers\.fulfil\.count: cannot read '\\x00' as a value"),
    ("vary-directive", ["--vary", "workers.fulfil.count=%x"], r"--vary: workers\.fulfil\.count: cannot read '%x' as a value"),
    ("vary-tag", ["--vary", "workers.fulfil.count=[!!int x, 2]"], r"--vary: workers\.fulfil\.count: cannot read .* as a YAML list"),
    ("vary-superscript-index", ["--vary", "faults.²=1,2"], r"--vary: faults\.²: unknown path"),
    ("slo-tag", ["--vary", "workers.fulfil.count=1,2", "--slo", "rates.loss=!!float x"], r"--slo: rates\.loss: expected a fraction"),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in VARY_CASES], ids=[c[0] for c in VARY_CASES])
def test_a_bad_sweep_argument_gives_a_located_error(args: list[str], expected: str) -> None:
    started = time.perf_counter()
    code, output = _cli("sweep", _write("x.yaml", BASE + "faults: []\n"), *args, "--executor", "serial", "--no-progress")
    assert code == 2, output
    assert any(re.match(rf"error {expected}", line) for line in _errors(output)), output
    assert time.perf_counter() - started < 10


def test_paths_that_are_not_regular_files_are_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo("fifo.yaml")  # opening a FIFO for reading would block for ever
    for path, reason in (
        ("/dev/zero", "is a character device, not a scenario file"),
        ("fifo.yaml", "is a FIFO (named pipe), not a scenario file"),
        (str(tmp_path), "is a directory, not a scenario file"),
        ("nope.yaml", "no such file"),
    ):
        started = time.perf_counter()
        code, output = _cli("validate", path)
        assert code == 2 and _errors(output) == [f"error {path}: {reason}"]
        assert time.perf_counter() - started < 5
    # argv cannot hold a NUL (click refuses it too); the Python API can
    with pytest.raises(ScenarioError, match="a file name cannot contain a NUL character"):
        load_scenario("a\x00b.yaml")


def test_a_file_over_the_size_limit_is_refused_without_parsing() -> None:
    started = time.perf_counter()
    code, output = _cli("validate", _write("big.yaml", BASE + "#" * MAX_SCENARIO_BYTES + "\n"))
    assert code == 2 and _errors(output) == ["error big.yaml: is larger than 1 MiB, the most a scenario file may be"]
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("name", ["[/]x.yaml", "[bold]x.yaml", "a:x:b.yaml"])
def test_file_names_are_printed_as_given(name: str) -> None:
    code, output = _cli("validate", _write(name, _edit("count: 2", "count: 0")))
    assert code == 2 and _errors(output) == [f"error {name}:8: workers.fulfil.count: must be ≥ 1"]
    code, output = _cli("validate", _write(name, BASE))
    assert code == 0 and output.startswith(f"ok {name}: ")


def test_control_bytes_never_reach_the_terminal() -> None:
    code, output = _cli("validate", _write("x.yaml", BASE + '"a\\x1b[31mb\\x00": 1\n'))
    assert code == 2 and "\x1b" not in output and "\x00" not in output
    assert _errors(output) == ["error x.yaml:9: a\\x1b[31mb\\x00: unknown key 'a\\x1b[31mb\\x00'; allowed keys: name, seed, duration, "
                               "warmup, replications, outputs, producers, queues, workers, sweep, slo, precision, cost, faults, variants"]


def test_a_huge_key_is_not_printed_whole() -> None:
    code, output = _cli("validate", _write("x.yaml", BASE + "? " + "k" * 200_000 + "\n: 1\n"))  # explicit: a plain key stops at 1,024
    assert code == 2 and len(output) < 2_000 and "more characters)" in output


def test_a_trace_pointing_at_a_system_file_prints_none_of_it() -> None:
    code, output = _cli("validate", _write("x.yaml", _edit("rate: 50/s", "trace: /etc/passwd")))
    assert code == 2
    # the first row reads as a header; the second is the first that must be a time
    assert _errors(output) == ["error x.yaml:4: producers.web.trace: /etc/passwd:2: column 0 is not a time in seconds (a number)"]
    assert "root" not in output and "❌" not in output  # rich would render ':x:' as an emoji
    code, output = _cli("validate", _write("x.yaml", _edit("rate: 50/s", "trace: {file: /etc/passwd, column: x}")))
    assert _errors(output) == ["error x.yaml:4: producers.web.trace: /etc/passwd:1: no column 'x' in the header row"]
    for path, reason in (("/dev/zero", "is a character device, not a trace file"), ("/tmp", "is a directory, not a trace file")):
        code, output = _cli("validate", _write("x.yaml", _edit("rate: 50/s", f"trace: {path}")))
        assert code == 2 and _errors(output) == [f"error x.yaml:4: producers.web.trace: {path}: {reason}"]


def test_the_top_level_text_of_a_non_scenario_is_not_quoted() -> None:
    code, output = _cli("validate", "/etc/passwd")
    assert code == 2 and "root" not in output
    assert _errors(output) == ["error /etc/passwd: expected a mapping with duration, producers, queues and workers at the top level, got text"]


def test_names_in_the_routing_cycle_message_keep_their_brackets() -> None:
    text = BASE.replace("count: 2, service: 5ms}", "count: 2, service: 5ms, to: back}") + "  wa: {from: back, count: 1, service: 1ms, to: orders}\n"
    text = text.replace("queues:\n", "queues:\n  back: {broker: redis}\n")
    code, output = _cli("validate", _write("x.yaml", text))
    assert code == 2 and any("routing cycle back → [wa] → orders → [fulfil] → back" in line for line in _errors(output)), output


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_a_seed_out_of_range_is_refused_before_running(seed: str) -> None:
    code, output = _cli("run", _write("x.yaml", BASE), "--seed", seed, "--out", "out", "-q")
    assert code == 2 and "Invalid value for '--seed'" in output and not Path("out").exists()


def test_out_naming_a_file_fails_before_the_simulation() -> None:
    _write("taken", "")
    started = time.perf_counter()
    code, output = _cli("run", _write("x.yaml", _edit("duration: 2s", "duration: 1h")), "--out", "taken", "-q")
    assert code == 2 and _errors(output) == ["error --out: taken exists and is not a folder"]
    code, output = _cli("run", "x.yaml", "--out", "taken/inside", "-q")
    assert code == 2 and _errors(output)[0].startswith("error --out: cannot create taken/inside: ")
    assert time.perf_counter() - started < 5  # an hour of simulated traffic would take far longer


def test_a_variant_with_a_date_is_a_located_error() -> None:
    code, output = _cli("compare", _write("x.yaml", BASE + "variants:\n  a: {duration: 2001-12-14}\n"), "--no-plots", "--out", "cmp")
    assert code == 2
    assert _errors(output) == ["error x.yaml:10: duration: expected a duration like 250ms, 1.5s, 10m or a number of seconds, "
                               "got '2001-12-14' (in variant a)"]


def test_compare_keeps_both_files_that_share_a_stem() -> None:
    for folder in ("x", "y"):
        Path(folder).mkdir()
        _write(f"{folder}/a.yaml", BASE)
    code, output = _cli("compare", "x/a.yaml", "y/a.yaml", "--no-plots", "--out", "cmp")
    assert code == 0, output
    assert "x/a" in output and "y/a" in output
    code, output = _cli("compare", "x/a.yaml", "x/a.yaml", "--no-plots", "--out", "cmp")
    assert code == 2 and _errors(output) == ["error x/a.yaml: given twice: variant 'x/a' would be compared with itself"]


def test_an_unbounded_retry_on_a_full_queue_runs_past_32767_attempts() -> None:
    # one request, a queue that refuses everything (an outage for the whole run: `capacity: 0` is
    # Erlang B's no waiting room now), a retry every 10 µs: ~50,000 attempts in 0.5 s
    text = """\
        duration: 500ms
        producers:
          web: {to: q, batch: {every: 1h, size: 1}, retry: {attempts: 1000000000, backoff: 10us, max_backoff: 10us, jitter: none}}
        queues: {q: {broker: redis}}
        workers: {w: {from: q, count: 1, service: 1ms}}
        faults: [{at: 0s, queue: q, kind: outage, duration: 1h}]
        """
    code, output = _cli("run", _write("x.yaml", text.replace("        ", "")), "--out", "out", "-q", "--no-plots")
    assert code == 0, output
    import pandas as pd

    attempts = pd.read_parquet("out/messages.parquet")["attempts"]
    assert attempts.max() > 40_000


def test_a_poison_message_cycling_without_a_delivery_limit_runs_past_32767_receives() -> None:
    text = """\
        duration: 500ms
        producers:
          web: {to: q, batch: {every: 1h, size: 1}}
        queues: {q: {broker: rabbitmq}}
        workers: {w: {from: q, count: 1, service: 10us, poison: {probability: 1}}}
        """
    code, output = _cli("run", _write("x.yaml", text.replace("        ", "")), "--out", "out", "-q", "--no-plots")
    assert code == 0, output
    import pandas as pd

    messages = pd.read_parquet("out/messages.parquet")
    assert messages["receives"].max() > 40_000
    assert pd.read_parquet("out/deliveries.parquet")["delivery"].max() > 40_000


def test_a_huge_batch_over_a_long_run_validates_without_listing_its_requests() -> None:
    # 10⁵ requests every millisecond for an hour: 3.6·10¹¹ requests; counting them once took all memory
    code, output = _cli("validate", _write("x.yaml", _edit("rate: 50/s", "batch: {every: 1ms, size: 100000}").replace("duration: 2s", "duration: 1h")))
    assert code == 0, output
    assert "ρ=" in output


@pytest.mark.slow
def test_fifty_thousand_unknown_keys_are_reported_in_linear_time() -> None:
    text = BASE + "".join(f"k{i}: 1\n" for i in range(50_000))
    # CPU time, not wall time: the bound is about the algorithm (it was quadratic), not a busy machine
    started = time.process_time()
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "x.yaml")
    assert len(caught.value.problems) == 50_000
    assert time.process_time() - started < 60
    started = time.process_time()
    code, output = _cli("validate", _write("x.yaml", text))  # the CLI prints the first 1,000 and counts the rest
    errors = _errors(output)
    assert code == 2 and len(errors) == 1_001 and errors[-1] == "error x.yaml: 49,000 more problems not shown"
    assert errors[0] == "error x.yaml:9: k0: unknown key 'k0'; allowed keys: name, seed, duration, warmup, replications, " \
                        "outputs, producers, queues, workers, sweep, slo, precision, cost, faults, variants"
    assert time.process_time() - started < 60
