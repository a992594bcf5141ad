"""What the sub-command modules share: exit codes, the remote flags, reading input files, the
client (imported only when a command goes remote) and the one format of an error line.

Sub-command modules import from here, never from solver.cli.app, so app can import them all
without a cycle. Nothing here imports grpc or prunecert_client at module load: a local
`prunecert solve` or `prunecert generate` must not pay for (or depend on) the remote stack.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from solver.cli.progress import seconds_argument
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import DISTRIBUTED_FLAGS
from solver.core.problem import MinError, MinKept, Objective, Pareto
from solver.core.result import SolveStatus
from solver.core.validate import PARAMETER_FLAGS
from solver.io.wire import DEFAULT_WAIT_SECONDS, token_lines

# grpc's C core writes TLS handshake failures to stderr at INFO ("Handshake failed with error
# SSL_ERROR_SSL ..."), above the one-line error with its hint that `connect` gives. It reads the
# level once, when grpc is first imported; nothing imports it before this module (see above). A
# user's own GRPC_VERBOSITY wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# Exit codes. A solve exits by its result's status, so that a script can tell a proof from a
# time-out without parsing the output; the codes avoid 1 (a bug or a failed server) and 2 (a
# usage error: argparse's own code, kept for every bad input). CANCELLED is 130, what a shell
# reports for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_OPTIMAL = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FEASIBLE = 3
EXIT_INFEASIBLE = 4
EXIT_NO_SOLUTION = 5
EXIT_INTERRUPTED = 130

STATUS_EXIT_CODES: dict[SolveStatus, int] = {
    SolveStatus.OPTIMAL: EXIT_OPTIMAL,
    SolveStatus.FEASIBLE: EXIT_FEASIBLE,
    SolveStatus.INFEASIBLE: EXIT_INFEASIBLE,
    SolveStatus.NO_SOLUTION: EXIT_NO_SOLUTION,
    SolveStatus.CANCELLED: EXIT_INTERRUPTED,
}

EXIT_STATUS_HELP = f"""\
exit status (by the result's status, so that scripts can tell a proof from a time-out):
  {EXIT_OPTIMAL:<3d}  OPTIMAL      certified optimal within the tolerance
  {EXIT_FEASIBLE:<3d}  FEASIBLE     a certified mask, its optimality not proven (time limit,
                    resolution, a heuristic, a cross-check disagreement: see detail)
  {EXIT_INFEASIBLE:<3d}  INFEASIBLE   proven: no mask meets the objective's constraint
  {EXIT_NO_SOLUTION:<3d}  NO_SOLUTION  no mask found within the time limit
  {EXIT_INTERRUPTED:<3d}  CANCELLED    interrupted (Ctrl-C): the best certified mask so far, locally
                    or with --remote (a second Ctrl-C there: none)
  {EXIT_USAGE:<3d}  bad input or flags (one line per problem, naming the flag or field)
  {EXIT_FAILURE:<3d}  a server failure or an internal error
"""


def exit_code(status: SolveStatus) -> int:
    """The process exit code for a result of this status (UNSPECIFIED: a failure)."""
    return STATUS_EXIT_CODES.get(status, EXIT_FAILURE)


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
    """``prunecert: error: WHAT: DESCRIPTION``. WHAT is the CLI flag when one sets the value (what
    the user typed), with the field after the description when it differs (what the proto and
    the server call it); else the field."""
    if flag and flag != field:
        text = f"{flag}: {description}" + (f" ({field})" if field else "")
    else:
        text = f"{field}: {description}" if field else description
    return f"prunecert: error: {text}"


def violation_line(violation: FieldViolation) -> str:
    # ``flag`` is optional on FieldViolation: violations of a file's fields have no flag. A
    # server's violations carry no flag: the parameters' flags are known here.
    flag = (
        getattr(violation, "flag", None)
        or PARAMETER_FLAGS.get(violation.field)
        or DISTRIBUTED_FLAGS.get(violation.field)
    )
    return error_line(violation.field, violation.description, flag)


# The environment variable a bearer token may come from, when no --token-file is given.
TOKEN_VARIABLE = "PRUNECERT_TOKEN"


def remote_flags(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    where = f"default {default}" if default else "default: run locally"
    parser.add_argument(
        "--remote", metavar="HOST:PORT", default=default, help=f"use a PruneCert server ({where})"
    )
    parser.add_argument(
        "--token-file",
        "--tokens-file",  # the server's spelling (`serve --tokens-file`), accepted here too
        dest="token_file",
        metavar="FILE",
        help="file holding the bearer token: its first line that is neither blank nor a # "
        "comment, so one line of the server's tokens file works (with --remote; default: the "
        f"{TOKEN_VARIABLE} environment variable, else no token)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="speak TLS, trusting the system's CA roots (with --remote; default: plaintext, "
        "unless --tls-ca or --tls-server-name is given)",
    )
    parser.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="speak TLS, trusting this CA or self-signed server certificate instead of the "
        "system's roots (with --remote; default: none)",
    )
    parser.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="speak TLS and check the server's certificate for NAME instead of the --remote "
        "host, e.g. localhost for a localhost certificate reached at 127.0.0.1 (default: the "
        "--remote host)",
    )
    parser.add_argument(
        "--wait",
        nargs="?",
        type=seconds_argument,
        const=DEFAULT_WAIT_SECONDS,
        default=None,
        metavar="SECONDS",
        help="while the server is busy, retry solve, certify and job submissions with "
        f"growing pauses for up to SECONDS in all ({DEFAULT_WAIT_SECONDS:g} without a "
        "value: put a bare --wait after the file arguments); default: fail at once",
    )


def token_from(args: argparse.Namespace) -> str | None:
    """The bearer token: --token-file's first line that is neither blank nor a comment (as the
    server reads its tokens file), else $PRUNECERT_TOKEN, else None."""
    if args.token_file:
        tokens = token_lines(read_text(args.token_file, flag="--token-file"))
        if tokens:
            return tokens[0]
        raise InvalidProblemError(
            FieldViolation("--token-file", f"{args.token_file} holds no token")
        )
    return os.environ.get(TOKEN_VARIABLE, "").strip() or None


def tls_from(args: argparse.Namespace):
    """The client's Tls from --tls, --tls-ca and --tls-server-name (either of the last two
    implies --tls), or None for plaintext."""
    from prunecert_client import Tls

    if args.tls_ca:
        try:
            return Tls.from_file(args.tls_ca, args.tls_server_name)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InvalidProblemError(
                FieldViolation("--tls-ca", f"cannot read {args.tls_ca}: {reason}")
            ) from exc
        except ValueError as exc:
            raise InvalidProblemError(FieldViolation("--tls-ca", str(exc))) from exc
    if args.tls or args.tls_server_name:
        return Tls(server_name=args.tls_server_name)
    return None


def say_busy(seconds: float, refusal) -> None:
    """One stderr line per wait for a busy server (--wait). On a terminal the progress line is
    cleared first; it is redrawn below."""
    from solver.cli.progress import CLEAR_LINE

    start = CLEAR_LINE if sys.stderr.isatty() else ""
    print(f"{start}server busy, retrying in {seconds:.1f} s ({refusal})", file=sys.stderr)


def read_text(path: str, flag: str = "file") -> str:
    """A file's text, or stdin for ``-``; an unreadable file is a usage error naming it (and the
    flag that gave it, when one did)."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(FieldViolation(flag, f"cannot read {path}: {reason}")) from exc
    except UnicodeDecodeError as exc:
        raise InvalidProblemError(FieldViolation(flag, f"{path} is not UTF-8 text")) from exc


@contextmanager
def connect(args: argparse.Namespace) -> Iterator:
    """A client from the remote flags (``remote_flags``). A ClientError raised inside the block
    leaves it as RemoteFailure: exit 2 for the statuses that mean "your input", as locally,
    else 1 (a connection failure's line carries its hint, e.g. the TLS flag to use)."""
    import grpc

    from prunecert_client import Client, ClientError

    input_errors = (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    token = token_from(args)
    tls = tls_from(args)
    try:
        with Client(
            args.remote, token=token, tls=tls, wait_seconds=args.wait or 0.0, on_wait=say_busy
        ) as client:
            yield client
    except ClientError as exc:
        code = EXIT_USAGE if exc.code in input_errors else EXIT_FAILURE
        raise RemoteFailure(exc.violations or [("", str(exc))], code) from exc


def objective_flags(parser: argparse.ArgumentParser) -> None:
    """--objective, --max-kept and --max-error, as `generate` and `import` take them."""
    parser.add_argument(
        "--objective",
        choices=["min_error", "min_kept", "pareto"],
        default="min_error",
        help="what to optimise (default min_error)",
    )
    parser.add_argument(
        "--max-kept",
        type=int,
        default=None,
        help="budget of kept units or weights (min_error, pareto; default: none)",
    )
    parser.add_argument(
        "--max-error",
        type=float,
        default=None,
        help="error bound (min_kept, where it is required; default: none)",
    )


def objective_from_args(args: argparse.Namespace) -> Objective:
    """The Objective the flags of ``objective_flags`` name (checked by the core beforehand)."""
    if args.objective == "min_kept":
        return MinKept(max_error=args.max_error if args.max_error is not None else 0.0)
    if args.objective == "pareto":
        return Pareto(max_kept=args.max_kept)
    return MinError(max_kept=args.max_kept)
