"""The `prunecert` command line: the parser, built from one module per command group, and the
one error handler.

Each command module exposes ``add_parser(subparsers)`` and sets ``func`` on its parsers; ``main``
parses and calls ``args.func(args)``. The handler catches only the project's own errors (and a
server's, translated by ``common.connect``): anything else is a bug and surfaces as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from solver.cli import (
    backends,
    batch,
    compare,
    cubes,
    export,
    gap,
    generate,
    imports,
    plot,
    serve,
    solve,
)
from solver.cli.common import EXIT_USAGE, RemoteFailure, error_line, violation_line
from solver.core.errors import FieldViolation, InvalidProblemError, PruneCertError


def version_text() -> str:
    """``prunecert --version``: the package's version and OR-Tools', the default solver's, whose
    version a published figure depends on (read from the metadata: nothing is imported)."""

    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"prunecert {installed('prunecert')} (ortools {installed('ortools')}, Python {python})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prunecert", description="Certified optimal pruning of small ReLU networks."
    )
    parser.add_argument("--version", action="version", version=version_text())
    subparsers = parser.add_subparsers(dest="command", required=True)
    commands = (generate, imports, solve, cubes, export, plot, compare, serve, batch, gap, backends)
    for command in commands:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InvalidProblemError as exc:
        for violation in exc.violations:
            print(violation_line(violation), file=sys.stderr)
        return EXIT_USAGE
    except PruneCertError as exc:
        print(error_line("", str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except RemoteFailure as exc:
        for field, description in exc.lines:
            print(violation_line(FieldViolation(field, description)), file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
