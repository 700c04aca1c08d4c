"""The installed ``queuesim`` command: the CLI, with the garbage collector set for one short process.

Importing the CLI (typer, rich, pydantic, numpy, the scenario model) makes about 77,000 tracked
objects that live until the process exits. Collected as they are made, they cost a 1,000-message
run about 50 ms of its 0.4 CPU-s, and every later full collection walks them again. So the imports
run with the collector off and their objects are frozen (``gc.freeze``: kept out of every later
collection); collection resumes for the run itself. Only the command does this: ``import queuesim``
in a notebook or a process-pool worker leaves the collector as the user set it.
"""

from __future__ import annotations

import gc


def main() -> None:
    """Console-script entry point: ``queuesim.cli.main`` after a collector-free import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from queuesim.cli import main as cli_main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli_main()
