"""``python -m pnnlib.bench <subcommand> ...``: benchmark dispatcher.

Each subcommand lives in its own module exposing

* ``NAME: str`` — the subcommand name (the key it is registered under),
* ``HELP: str`` — one line for ``--help``,
* ``add_arguments(parser: argparse.ArgumentParser) -> None``,
* ``run(args: argparse.Namespace) -> int`` — the exit status,

and is registered by adding one line, ``"name": "module.path"``, to :data:`SUBCOMMANDS`.
Only the chosen subcommand's module is imported (all of them for the top-level ``--help``), so
one subcommand's imports cannot slow down or break another. Shared options and helpers are in
:mod:`pnnlib.bench.harness`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Registered subcommands: name → module (one line each).
SUBCOMMANDS: dict[str, str] = {
    "dstd": "pnnlib.bench.dstd_efficiency",
    "train-step": "pnnlib.bench.train_step",
    "conv-step": "pnnlib.bench.conv_step",
    "paper-cost": "pnnlib.bench.paper_cost",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; with ``only``, just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="python -m pnnlib.bench", description="Benchmarks of the pnnlib reference implementation."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, module_name in SUBCOMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        if module.NAME != name:
            raise RuntimeError(f"{module_name}.NAME is {module.NAME!r} but it is registered as {name!r}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    args = build_parser(only).parse_args(argv)
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
