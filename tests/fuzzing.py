"""Mutated scenario files and ``--set`` / ``--vary`` strings, and how the CLI answered them; shared by the fuzz test and the soak.

Every mutation draws from a ``random.Random``, so the hypothesis test (``st.randoms()``) and
``benchmarks/fuzz_soak.py`` (a seeded ``Random``) mutate the same way.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))

#: Values that have broken, or could break, some reader: types, magnitudes, tags, dates, markup.
VALUES = [
    "[]", "{}", "[1, 2]", "{a: 1}", "true", "no", "null", "~", "''", "-1", "0", "0.5", "1e9", "1000000000",
    "1e308", "-1e308", "18446744073709551616", "9" * 5000, "0x" + "f" * 300, ".inf", "-.inf", ".nan",
    "2001-12-14", "2001-13-45", "2001-12-14 21:59:43", "1:30", "0o17", "1_000", "1e308/s", "1e-308/s", "900/d",
    "1e300s", "-5ms", "1us", "5ms", "10 m", "1e9s", "200/s..2000/s:10", "4..16", "1      ..      x:",
    "a,b,,c", "%x", "@x", "`x`", "|", ">", "- x", "? x", "!!float abc", "!!int abc", "!!bool maybe",
    "!!timestamp soon", "!!timestamp 2001-12-14", "!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!!map x",
    "!!seq x", "!!str [1]", "!!python/object:os.system x", "!local x", "*undefined", "&a x", "*a",
    '"\\x00"', '"\\x1b[31m"', '"\\u2028"', '"[/]"', '"[bold]x"', '":x:"', '"[wa]"', "'" + "x" * 2000 + "'",
    "{dist: lognormal, mean: 5ms, cv: 1e200}", "{dist: gamma, mean: 5ms, cv: 1e-200}", "{dist: nope}",
    "{every: 1ms, size: 100000}", "{every: 1s, size: 18446744073709551616}", "/etc/passwd", "/dev/zero",
    "{file: /etc/passwd, column: x}", "[" * 40 + "]" * 40,
]
#: Bytes a flip writes: controls, UTF-8 lead and continuation bytes, YAML indicators.
BYTES = [0x00, 0x01, 0x07, 0x08, 0x0B, 0x0C, 0x1B, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFE, 0xFF,
         *b"\t\n\r :-[]{},&*!#|>'\"%@`?<=~.0123456789"]
KEYS = ['"[/]"', '"a.b"', "~", "? [1]\n: 2", "<<: *nowhere", "<<: [1]", "<<: {a: 1}", "? !!map x\n: 1",
        '"\\x00"', "2001-13-45", "1.5", "[]", "k" * 1100, "&k key", "*k"]
#: Characters of a random --set / --vary string.
ALPHABET = "abcdefghijklmnopqrstuvwxyz._-=:,[]{}0123456789/ sm%!&*\x00\x1b²µ"

Mutator = Callable[[bytes, random.Random], bytes]


def _position(data: bytes, rng: random.Random) -> int:
    return rng.randrange(len(data) + 1)


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def flip_byte(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    return data[:at] + bytes([rng.choice(BYTES) if rng.random() < 0.8 else rng.randrange(256)]) + data[at + 1:]


def delete_span(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    return data[:at] + data[at + rng.randint(1, 60):]


def duplicate_span(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    span = lines[at:at + rng.randint(1, 4)]
    return b"\n".join(lines[:at] + span * rng.randint(2, 3) + lines[at + len(span):])


def swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:_position(data, rng)]


def _value_lines(data: bytes) -> list[int]:
    return [i for i, line in enumerate(_lines(data)) if re.search(rb":\s+\S", line) and not line.lstrip().startswith(b"#")]


def swap_value(data: bytes, rng: random.Random) -> bytes:
    """Replace the value after a ``key:`` with another type, magnitude, tag or date."""
    lines = _lines(data)
    candidates = _value_lines(data)
    if not candidates:
        return data
    i = rng.choice(candidates)
    key, _, _ = lines[i].partition(b": ")
    lines[i] = key + b": " + rng.choice(VALUES).encode()
    return b"\n".join(lines)


def swap_number(data: bytes, rng: random.Random) -> bytes:
    """Replace one number with a huge, tiny, negative or long one."""
    numbers = list(re.finditer(rb"\d+(\.\d+)?", data))
    if not numbers:
        return data
    match = rng.choice(numbers)
    big = rng.choice(["18446744073709551616", "1e308", "1e-320", "-1", "0", "99999999999999999999999", "1" * 5000, "1e9", "2147483648"])
    return data[:match.start()] + big.encode() + data[match.end():]


def insert_tag(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    candidates = _value_lines(data)
    if not candidates:
        return data
    i = rng.choice(candidates)
    key, _, value = lines[i].partition(b": ")
    tag = rng.choice(["!!float", "!!int", "!!bool", "!!str", "!!null", "!!timestamp", "!!binary", "!!map", "!!seq",
                      "!!set", "!!omap", "!!pairs", "!!merge", "!!python/tuple", "!x", "!<tag:x>"])
    lines[i] = key + b": " + tag.encode() + b" " + value
    return b"\n".join(lines)


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([31, 32, 33, 100, 1000, 5000])
    flow = rng.random() < 0.7
    nested = ("[" * depth + "]" * depth) if flow else "".join(f"\n{'  ' * (i + 1)}k{i}:" for i in range(depth)) + " 1"
    lines = _lines(data)
    candidates = _value_lines(data)
    if not candidates:
        return data + b"\nx: " + nested.encode()
    i = rng.choice(candidates)
    key, _, _ = lines[i].partition(b": ")
    lines[i] = key + b": " + nested.encode()
    return b"\n".join(lines)


def aliases(data: bytes, rng: random.Random) -> bytes:
    """An alias bomb, a cycle, an undefined alias, or a merge of something odd."""
    width, levels = rng.randint(2, 12), rng.randint(2, 9)
    bomb = "".join(
        f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width) if n else ', '.join(['x'] * width)}]\n" for n in range(levels)
    )
    extra = rng.choice([bomb, "loop: &c [*c]\n", "m: &m {a: *m}\n", "x: *nowhere\n", "<<: *nowhere\n", "<<: [1, 2]\n",
                        "base: &b {duration: 1s}\n<<: *b\n"])
    return extra.encode() + data if rng.random() < 0.5 else data + b"\n" + extra.encode()


def odd_key(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines) + 1)
    indent = re.match(rb"\s*", lines[at - 1] if at else b"").group(0)  # type: ignore[union-attr]
    return b"\n".join([*lines[:at], indent + rng.choice(KEYS).encode() + b": 1", *lines[at:]])


def long_text(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    filler = rng.choice([b" " * 50_000, b"x" * 50_000, b"\t" * 200, "é".encode() * 5000, b"# " + b"c" * 50_000])
    return data[:at] + filler + data[at:]


def unicode(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    text = rng.choice(["\ufeff", "\u2028", "\u202e", "\U0001f600", "µ", "²", "\u0085", "\ud800", "\x85", "\xa0"])
    return data[:at] + text.encode("utf-8", "surrogatepass") + data[at:]


def indentation(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    lines[i] = rng.choice([b"\t", b" ", b"   ", b""]) + lines[i].lstrip() if rng.random() < 0.5 else lines[i].lstrip()
    return b"\n".join(lines)


MUTATORS: dict[str, Mutator] = {
    "flip_byte": flip_byte, "delete_span": delete_span, "duplicate_span": duplicate_span, "swap_lines": swap_lines,
    "truncate": truncate, "swap_value": swap_value, "swap_number": swap_number, "insert_tag": insert_tag,
    "deep_nesting": deep_nesting, "aliases": aliases, "odd_key": odd_key, "long_text": long_text,
    "unicode": unicode, "indentation": indentation,
}


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """Apply one to three mutations; return the bytes and the mutations' names."""
    names = [rng.choice(list(MUTATORS)) for _ in range(rng.choice([1, 1, 2, 3]))]
    for name in names:
        data = MUTATORS[name](data, rng)
    return data, names


def _key_paths(node: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            out += [path, *_key_paths(value, path + ".")]
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += [f"{prefix}{index}", *_key_paths(value, f"{prefix}{index}.")]
    return out


def paths_of(example: Path) -> list[str]:
    """Every dotted key path of an example scenario (what --set and --vary address)."""
    return _key_paths(yaml.safe_load(example.read_text()))


def _junk(rng: random.Random, longest: int = 30) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def override(paths: list[str], rng: random.Random) -> str:
    """A ``--set`` string: a real or mangled path, and a value from VALUES or random text."""
    path = rng.choice(paths) if rng.random() < 0.8 else _junk(rng)
    if rng.random() < 0.2:
        path = rng.choice([path + "." + _junk(rng, 5), path.replace(".", ".."), "." * rng.randint(1, 40), ".".join(["a"] * rng.randint(30, 2000)), path + ".²"])
    value = rng.choice(VALUES) if rng.random() < 0.7 else _junk(rng)
    return rng.choice([f"{path}={value}", f"{path}={value}", path, f"{path}=={value}", f"={value}"])


def vary(paths: list[str], rng: random.Random) -> str:
    """A ``--vary`` string: ranges with odd spacing and units, lists, YAML lists, or random text."""
    path = rng.choice(paths) if rng.random() < 0.85 else _junk(rng)
    space = " " * rng.choice([0, 1, 3, 150, 5000])
    a, b = rng.choice(["1", "4", "0", "-3", "1.5", "5ms", "200/s", "1e308", "x", "", "1e-320", "18446744073709551616"]), rng.choice(["16", "2", "10ms", "2000/s", "y", "", "1e9"])
    spec = rng.choice([
        f"{a}..{b}", f"{a}{space}..{space}{b}", f"{a}..{b}:{rng.choice(['3', '0', '-1', '1', 'x', '', '10000000', '1e9'])}",
        f"{a}{space}..{space}{b}{space}:{space}", f"{a},{b},{a}", "[" + ", ".join(rng.choices(VALUES, k=3)) + "]",
        rng.choice(VALUES), _junk(rng, 60), f"{a}...{b}", f"{a}..{b}..{a}",
    ])
    return rng.choice([f"{path}={spec}", f"{path}={spec}", spec])


@dataclass
class Answer:
    """How the CLI answered one input: ``kind`` is 'line', 'no-line', 'accepted' or 'traceback'."""

    kind: str
    exit_code: int
    first: str  # the first output line (or the exception), for the report
    seconds: float


_ERROR = re.compile(r"^error (?P<source>.+?)(?::(?P<line>\d+))?: ")


def classify(exit_code: int, output: str, exception: BaseException | None, seconds: float) -> Answer:
    """Sort a CLI answer: a located error, an error without a line, an accept, or anything else (a failure).

    An answer is clean when it exits 0, or exits 2 with every error line shaped
    ``error SOURCE[:LINE]: ...`` (click's own usage errors, such as an out-of-range ``--seed``,
    count as clean errors without a line), and no control character reaches the output.
    """
    first = output.splitlines()[0] if output.strip() else ""
    if exception is not None and not isinstance(exception, SystemExit):
        return Answer("traceback", exit_code, f"{type(exception).__name__}: {exception}"[:300], seconds)
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", output) or "Traceback" in output:
        return Answer("traceback", exit_code, "control characters or a traceback in the output: " + repr(output[:200]), seconds)
    if exit_code == 0:
        return Answer("accepted", 0, first, seconds)
    if exit_code != 2:
        return Answer("traceback", exit_code, first or "no output", seconds)
    errors = [line for line in output.splitlines() if line.startswith("error ")]
    if not errors:
        usage = "Invalid value" in output or "No such option" in output or "Missing" in output or "Usage:" in output
        return Answer("no-line" if usage else "traceback", 2, first, seconds)
    located = [_ERROR.match(line) for line in errors]
    if not all(located):
        return Answer("traceback", 2, next(e for e, m in zip(errors, located, strict=True) if not m), seconds)
    return Answer("line" if located[0] and located[0]["line"] else "no-line", 2, errors[0][:300], seconds)


class _Accepted(Exception):
    """Raised in place of a simulation: the input got as far as running."""


@contextmanager
def _dry() -> Iterator[None]:
    # The CLI imports its API functions when a command starts, so patching the modules stops
    # run, sweep and compare just before they would simulate.
    def accept(*_args: Any, **_kwargs: Any) -> Any:
        raise _Accepted

    with ExitStack() as stack:
        for target in ("queuesim.api.run", "queuesim.experiment.sweep", "queuesim.experiment.compare.run_experiment", "queuesim.experiment.plan.plan"):
            stack.enter_context(mock.patch(target, side_effect=accept))
        yield


def answer(args: list[str], dry: bool = True) -> Answer:
    """Run the CLI in-process (as ``queuesim ARGS``), by default stopping before any simulation, and classify what it printed."""
    from queuesim.cli import app

    started = time.perf_counter()
    with _dry() if dry else ExitStack():
        result = CliRunner().invoke(app, args)
    seconds = time.perf_counter() - started
    if isinstance(result.exception, _Accepted):
        return Answer("accepted", 0, "", seconds)
    return classify(result.exit_code, result.output, result.exception, seconds)


def file_case(rng: random.Random, folder: Path) -> tuple[list[str], str]:
    """A mutated example written to ``folder``: the CLI arguments that read it and a description.

    Mostly ``validate``; also ``sweep`` (its sweep section) and ``compare`` (its variants).
    """
    example = rng.choice(EXAMPLES)
    data, names = mutate(example.read_bytes(), rng)
    path = folder / f"fuzz-{example.name}"
    path.write_bytes(data)
    command = rng.choice(["validate"] * 3 + ["sweep", "compare"])
    extra = ["--executor", "serial", "--no-progress"] if command == "sweep" else ["--no-plots"] if command == "compare" else []
    return [command, str(path), *extra], f"{command} {example.name} after {'+'.join(names)}"


def argument_case(rng: random.Random) -> tuple[list[str], str]:
    """An example with mangled --set, --vary, --slo, --seed, --replications or --out arguments."""
    example = rng.choice(EXAMPLES)
    paths = paths_of(example)
    command = rng.choice(["validate", "sweep", "sweep", "run", "compare", "plan"])
    args = [command, str(example)]
    if command == "plan":
        args += ["--executor", "serial", "--no-progress", "--load", rng.choice(["2x", "150%", "0", "-1", "x", "1e400", "2" + " " * 3000 + "y", "1" * 400])]
        if rng.random() < 0.5:
            args += ["--search", rng.choice([*paths, "workers", "queues.x.capacity", "workers.x.count", _junk(rng)])]
        if rng.random() < 0.5:
            args += ["--slo", override(["latency.end_to_end.p99", "rates.rejection", "latency.queue_wait.p99"], rng)]
    if command == "sweep":
        args += [a for _ in range(rng.randint(1, 2)) for a in ("--vary", vary(paths, rng))]
        args += ["--executor", "serial", "--no-progress"]
        if rng.random() < 0.3:
            args += ["--slo", override(["latency.end_to_end.p99", "rates.rejection", "queues.x.mean_wait"], rng)]
    args += [a for _ in range(rng.randint(0 if command == "sweep" else 1, 3)) for a in ("--set", override(paths, rng))]
    if command in ("run", "compare") and rng.random() < 0.5:
        args += ["--seed", rng.choice(["-1", "0", "18446744073709551616", "1e3", "x", str(2**63 - 1)])]
    if command != "validate" and rng.random() < 0.3:
        args += ["--replications", rng.choice(["0", "1", "10001", "1e9", "-3", "x"])]
    if command != "validate" and rng.random() < 0.3:
        args += ["--out", rng.choice(["/dev/null", "/etc/passwd/x", "/proc/x", "[bold]out", "/tmp/queuesim-fuzz-out"])]
    return args, " ".join(repr(a) if len(a) < 80 else repr(a[:77] + "...") for a in args)
