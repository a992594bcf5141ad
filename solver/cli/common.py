"""What the sub-command modules share: exit codes, the remote flags, reading input files, the
client (imported only when a command goes remote) and the one format of an error line.

Sub-command modules import from here, never from solver.cli.app, so app can import them all
without a cycle. Nothing here imports grpc or prunecert_client at module load: a local
`prunecert solve` or `prunecert generate` must not pay for (or depend on) the remote stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from solver.core.errors import FieldViolation, InvalidProblemError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class RemoteFailure(Exception):
    """A server refused or failed a call, translated where the client is used (see ``connect``)
    so that the CLI's error handler needs neither grpc nor the client to recognise it.

    ``lines`` are (field, description) pairs, field "" when the server named none; ``exit_code``
    is 2 when the server blamed the input (as the local checks do), else 1.
    """

    def __init__(self, lines: list[tuple[str, str]], exit_code: int):
        super().__init__("; ".join(f"{f}: {d}" if f else d for f, d in lines))
        self.lines = lines
        self.exit_code = exit_code


def error_line(field: str, description: str, flag: str | None = None) -> str:
    """``prunecert: error: FIELD: DESCRIPTION``, naming the CLI flag too when it differs from the
    field (after the description, so that lines keep starting with the field)."""
    text = f"{field}: {description}" if field else description
    if flag and flag != field:
        text += f" (flag {flag})"
    return f"prunecert: error: {text}"


def violation_line(violation: FieldViolation) -> str:
    # ``flag`` is optional on FieldViolation: violations of a file's fields have no flag.
    return error_line(violation.field, violation.description, getattr(violation, "flag", None))


def remote_flags(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--remote", metavar="HOST:PORT", default=default, help="use a PruneCert server"
    )
    parser.add_argument("--token-file", help="file holding the bearer token (with --remote)")
    parser.add_argument("--tls-ca", help="PEM certificate to trust for TLS (with --remote)")


def read_text(path: str) -> str:
    """A file's text, or stdin for ``-``; an unreadable file is a usage error naming it."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(FieldViolation("file", f"cannot read {path}: {reason}")) from exc
    except UnicodeDecodeError as exc:
        raise InvalidProblemError(FieldViolation("file", f"{path} is not UTF-8 text")) from exc


@contextmanager
def connect(args: argparse.Namespace) -> Iterator:
    """A client from --remote/--token-file/--tls-ca. A ClientError raised inside the block leaves
    it as RemoteFailure: exit 2 for the statuses that mean "your input", as locally, else 1."""
    import grpc

    from prunecert_client import Client, ClientError, Tls

    input_errors = (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    token = None
    if args.token_file:
        token = read_text(args.token_file).strip().splitlines()[0].strip()
    tls = Tls.from_file(args.tls_ca) if args.tls_ca else None
    try:
        with Client(args.remote, token=token, tls=tls) as client:
            yield client
    except ClientError as exc:
        code = EXIT_USAGE if exc.code in input_errors else EXIT_FAILURE
        raise RemoteFailure(exc.violations or [("", str(exc))], code) from exc
