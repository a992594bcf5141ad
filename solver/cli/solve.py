"""`prunecert solve` and `prunecert certify`: one problem, locally or through a server.

`prunecert solve --distributed` splits the problem into cubes (solver.cli.cubes, docs/design.md
§16): locally on a Dask cluster, with --remote on the server's job cluster; the text output then
lists every cube after the result, and --json adds them as SolveResult.distributed.

The remote paths import the client (and with it grpc) inside the functions that use it, through
``common.connect``; a local solve never loads them.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time

from solver.cli import cubes
from solver.cli.common import (
    EXIT_FAILURE,
    EXIT_OPTIMAL,
    EXIT_STATUS_HELP,
    RemoteFailure,
    connect,
    error_line,
    exit_code,
    read_text,
    remote_flags,
)
from solver.cli.progress import REDRAW_SECONDS, LiveLine, progress_flag
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import (
    CONTINUOUS_MODES,
    DEFAULT_TOLERANCE,
    HEURISTIC_CHOICES,
    SolveParameters,
)
from solver.core.problem import Problem
from solver.core.result import SolveResult, SolveStats, SolveStatus
from solver.core.validate import validate_parameters
from solver.engine import certify_and_compare, solve_interruptibly
from solver.io import convert
from solver.io.convert import DistributedFigures
from solver.io.figure_data import figure_data
from solver.io.figures import figure_format, write_figure
from solver.io.report import format_certificate, format_result


def solver_log_to_stderr(line: str) -> None:
    """--log-solver: one line of the backend's own log, on stderr (stdout keeps the result)."""
    print(line, file=sys.stderr, flush=True)


def solve_locally(
    problem: Problem, params: SolveParameters, line: LiveLine, log_solver: bool = False
) -> SolveResult:
    """The engine's solve with ``line`` fed by its progress events and redrawn between them (so
    that its clock moves); on Ctrl-C the solve is stopped and its CANCELLED result (with the best
    mask so far) returned (solver.engine.solve_interruptibly). ``log_solver``: the backend's
    own log goes to stderr."""
    try:
        return solve_interruptibly(
            problem,
            params,
            progress=line.on_progress,
            tick=line.show,
            solver_log=solver_log_to_stderr if log_solver else None,
        )
    finally:
        line.close()


# After the first Ctrl-C on a remote solve, how long to wait for the stopped solve's result
# (the server's solver certifies its best mask first) before cancelling the call instead.
STOP_WAIT_SECONDS = 10.0


def _interrupted_remotely(line: LiveLine) -> SolveResult:
    """The CANCELLED result of a remote solve whose call was cancelled (a second Ctrl-C, a stop
    the server did not answer in time, or Ctrl-C while the call waited for a solver process).
    The server stopped the solve, but its final result then has no stream to come back on, and
    the stream's incumbents carry no mask: what is known is the last incumbent's figures, which
    are the solver's estimates, not certified. Its bound is the trivial 0 (every error is >= 0):
    the stream's bounds are the solver's, not rigorous."""
    if line.error is not None:
        kept = f", kept {line.kept}" if line.kept is not None else ""
        last = (
            f"; the last incumbent had error {line.error:.12g}{kept} (the solver's, not certified)"
        )
    else:
        last = "; no incumbent had been reported"
    return SolveResult(
        status=SolveStatus.CANCELLED,
        stats=SolveStats(wall_time_seconds=line.elapsed()),
        detail="interrupted (Ctrl-C): the call was cancelled before the server sent the stopped "
        f"solve's result, so there is no mask{last}",
    )


class _StopFailed:
    """The StopSolve call failed (handed from its thread to the event loop)."""

    def __init__(self, error: BaseException):
        self.error = error


def _ask_to_stop(client, solve_id: str, events: queue.Queue) -> None:
    """StopSolve in a thread of its own, so that the main thread keeps taking Ctrl-C and events;
    a failure reaches the event loop as _StopFailed."""
    from prunecert_client import NotFound

    def ask() -> None:
        try:
            client.stop_solve(solve_id, timeout=STOP_WAIT_SECONDS)
        except NotFound:
            pass  # the solve ended meanwhile: its result is on the stream already
        except BaseException as exc:
            events.put(_StopFailed(exc))

    threading.Thread(target=ask, daemon=True).start()


class _StopUnanswered(Exception):
    """The stopped solve's result did not arrive within STOP_WAIT_SECONDS."""


def solve_remote(args: argparse.Namespace, problem: Problem, params: SolveParameters, line):
    """Solve through the server, ``line`` fed by SolveStream (``solve_remote_run``'s result)."""
    return solve_remote_run(args, problem, params, line)[0]


def solve_remote_run(
    args: argparse.Namespace, problem: Problem, params: SolveParameters, line
) -> tuple[SolveResult, DistributedFigures | None]:
    """Solve through the server, ``line`` fed by SolveStream; the result and, for a distributed
    solve, its cubes.

    The first Ctrl-C asks the server to stop the solve (StopSolve) and waits up to
    STOP_WAIT_SECONDS for its result, which is then the engine's CANCELLED result with the best
    certified mask, as after a local Ctrl-C (issue 13, item 4). A second Ctrl-C, a stop that
    fails or is not answered in time, or a Ctrl-C before the solve has started cancels the call:
    the server stops the solve and frees its slot, but there is no mask
    (``_interrupted_remotely``).

    The stream is read in a thread and handed over through a queue, so that the main thread
    redraws the line between events and takes Ctrl-C at a known place; a KeyboardInterrupt
    inside grpc's iterator left a traceback.
    """
    from prunecert_client import BoundUpdate, Finished, Incumbent, Started

    with connect(args) as client:
        events: queue.Queue = queue.Queue()
        done = object()

        def read() -> None:
            try:
                for event in client.solve_stream(problem, params):
                    events.put(event)
            except BaseException as exc:  # re-raised in the calling thread
                events.put(exc)
            finally:
                events.put(done)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        result: SolveResult | None = None
        figures: DistributedFigures | None = None
        solve_id: str | None = None
        stop_by: float | None = None  # after the first Ctrl-C: the stopped result's deadline
        # A Ctrl-C while an event is handled (e.g. just as a progress line is printed) is taken
        # at the top of the next turn, as one during the wait is: it must not skip the stop.
        pending_interrupt = False
        try:
            while True:
                try:
                    if pending_interrupt:
                        pending_interrupt = False
                        raise KeyboardInterrupt
                    wait = REDRAW_SECONDS
                    if stop_by is not None:
                        wait = min(wait, stop_by - time.monotonic())
                        if wait <= 0:
                            raise _StopUnanswered
                    try:
                        event = events.get(timeout=wait)
                    except queue.Empty:
                        line.show()
                        continue
                except KeyboardInterrupt:
                    if stop_by is not None or solve_id is None:
                        raise
                    stop_by = time.monotonic() + STOP_WAIT_SECONDS
                    _ask_to_stop(client, solve_id, events)
                    line.close()
                    print(
                        "interrupted: stopping the server's solve to get its best certified "
                        f"mask (up to {STOP_WAIT_SECONDS:g} s; Ctrl-C again to cancel it "
                        "without one)",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                if event is done:
                    break
                if isinstance(event, _StopFailed):
                    raise _StopUnanswered from event.error
                if isinstance(event, BaseException):
                    raise event
                try:
                    if isinstance(event, Started):
                        solve_id = event.solve_id
                    elif isinstance(event, Incumbent):
                        line.update(error=event.solver_error, kept=event.kept)
                    elif isinstance(event, BoundUpdate):
                        line.update(bound=event.bound)
                    elif isinstance(event, Finished):
                        result, figures = event.result, event.distributed
                except KeyboardInterrupt:
                    if isinstance(event, Started):
                        solve_id = event.solve_id
                    elif isinstance(event, Finished):
                        result, figures = event.result, event.distributed
                    pending_interrupt = True
        except (KeyboardInterrupt, _StopUnanswered):
            client.close()  # cancels the call: the server stops the solve, frees the slot
            reader.join(10)
            if result is None:  # (a result already received is the server's, and final)
                result = _interrupted_remotely(line)
        finally:
            line.close()
    if result is None:
        raise RemoteFailure([("", "the server ended the stream without a result")], EXIT_FAILURE)
    return result, figures


def log_solver_checks(args: argparse.Namespace) -> None:
    """--log-solver shows a local backend's log: with --remote it is a usage error."""
    if args.log_solver and args.remote:
        raise InvalidProblemError(
            FieldViolation(
                "--log-solver",
                "local solves only (the server does not send its backend's log); drop --remote "
                "or --log-solver",
                "--log-solver",
            )
        )


def require_optimal_checks(args: argparse.Namespace) -> None:
    """--require-optimal with flags that can never give OPTIMAL is a usage error."""
    if args.require_optimal and getattr(args, "heuristic", None):
        raise InvalidProblemError(
            FieldViolation(
                "--require-optimal",
                "a heuristic run is never OPTIMAL (it proves no bound); drop --heuristic",
                "--require-optimal",
            )
        )


def status_exit(args: argparse.Namespace, result: SolveResult) -> int:
    """The exit code for ``result``; with --require-optimal a non-OPTIMAL result also says why
    on stderr (the result itself is printed all the same)."""
    code = exit_code(result.status)
    if args.require_optimal and result.status != SolveStatus.OPTIMAL:
        why = f": {result.detail}" if result.detail else ""
        print(
            error_line(
                "--require-optimal", f"the result is {result.status.name}, not OPTIMAL{why}"
            ),
            file=sys.stderr,
        )
    return code


def run_solve(args: argparse.Namespace) -> int:
    problem = convert.problem_from_json(read_text(args.problem))
    params = SolveParameters(
        time_limit_seconds=args.time_limit,
        backend=args.backend,
        threads=args.threads,
        seed=args.seed,
        tolerance=args.tolerance,
        row_generation=args.row_generation,
        cross_check=args.cross_check,
        continuous=args.continuous,
        heuristic=args.heuristic,
        heuristic_start=args.heuristic_start,
        sparsest=args.sparsest,
        distributed=cubes.distributed_parameters(args),
    )
    validate_parameters(params)  # the same field-named errors locally and remotely
    require_optimal_checks(args)
    log_solver_checks(args)
    if args.plot:  # a bad suffix fails before the solve, not after it
        figure_format(args.plot, flag="--plot", format_flag=None)
    line = LiveLine(every=args.progress_every)
    figures = None
    if args.remote:
        result, figures = solve_remote_run(args, problem, params, line)
    elif params.distributed is not None:
        result, figures = cubes.solve_distributed_locally(problem, params, args, line)
    else:
        result = solve_locally(problem, params, line, log_solver=args.log_solver)
    if args.json:
        message = convert.result_to_proto(result)
        if figures is not None:
            convert.distributed_to_proto(figures, message.distributed)
        print(convert.to_json(message))
    else:
        print(format_result(problem, result))
        if figures is not None:
            print(cubes.format_cubes(figures))
    if args.plot:
        if result.solution is None:
            message = f"nothing drawn: the result ({result.status.name}) has no mask"
            print(error_line("--plot", message), file=sys.stderr)
        else:
            write_figure(figure_data(problem, result), args.plot, flag="--plot", format_flag=None)
    return status_exit(args, result)


def run_certify(args: argparse.Namespace) -> int:
    from prunecert.v1 import solve_pb2

    problem = convert.problem_from_json(read_text(args.problem))
    mask_msg = convert.parse_json(read_text(args.mask), solve_pb2.Mask, what="mask")
    mask = convert.parse_mask(mask_msg, problem)  # type: ignore[arg-type]
    params = SolveParameters(time_limit_seconds=args.time_limit)
    validate_parameters(params)
    if args.require_optimal and not args.compare:
        raise InvalidProblemError(
            FieldViolation(
                "--require-optimal",
                "needs --compare (it is about the optimum)",
                "--require-optimal",
            )
        )
    if args.remote:
        with connect(args) as client:
            reply = client.certify(
                problem, mask, compare_with_optimum=args.compare, parameters=params
            )
        kept, error, optimum = reply.kept, reply.error, reply.optimum
    else:
        cert, optimum = certify_and_compare(
            problem, mask, params, compare_with_optimum=args.compare
        )
        kept, error = cert.kept, cert.error_upper
    print(format_certificate(kept, error, optimum))
    # The mask's own figures are exact whatever happened: certify exits 0, unless asked to
    # require that the optimum it was compared with is proven.
    if args.require_optimal and optimum is not None:
        return status_exit(args, optimum)
    return EXIT_OPTIMAL


def add_parser(subparsers) -> None:
    sol = subparsers.add_parser(
        "solve",
        help="solve a problem file and print its certified result",
        description="Solve a problem file exactly and print its certified result.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve_arguments(sol)
    sol.set_defaults(func=run_solve)
    add_certify_parser(subparsers)


def solve_arguments(sol: argparse.ArgumentParser) -> None:
    """`prunecert solve`'s arguments (also `solve-distributed`'s, solver.cli.cubes)."""
    sol.add_argument("problem", help="problem file (proto3 JSON), or - for stdin")
    sol.add_argument(
        "--json", action="store_true", help="print the SolveResult as proto3 JSON (default: text)"
    )
    sol.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after SECONDS with the best certified mask (default: none; 0: none)",
    )
    sol.add_argument(
        "--backend", default=None, help="solver backend, see `prunecert backends` (default: auto)"
    )
    sol.add_argument(
        "--threads", type=int, default=None, help="solver threads (default: the backend's own)"
    )
    sol.add_argument(
        "--seed", type=int, default=None, help="solver random seed (default: the backend's own)"
    )
    sol.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"absolute gap error - bound that counts as OPTIMAL (default {DEFAULT_TOLERANCE:g})",
    )
    sol.add_argument(
        "--cross-check",
        default=None,
        metavar="BACKEND",
        help="solve again with a second backend and compare (auto: another installed one; "
        "default: none)",
    )
    sol.add_argument(
        "--continuous",
        choices=CONTINUOUS_MODES,
        default=None,
        help="evaluate: also the mask's exact max error over the whole box; optimize: certify "
        "the optimum over the whole box (bias-free problems on a box grid; default: grid only)",
    )
    sol.add_argument(
        "--heuristic",
        choices=HEURISTIC_CHOICES,
        default=None,
        help="run a heuristic instead of the exact solve (its mask's exact error, no bound; "
        "default: the exact solve)",
    )
    sol.add_argument(
        "--heuristic-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start the exact search from the best heuristic mask (default: for n >= 48)",
    )
    sol.add_argument(
        "--sparsest",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="min_error: return, among the masks at most as bad as the certified one found, "
        "one with the fewest kept (default: on; --no-sparsest skips that second solve)",
    )
    sol.add_argument(
        "--row-generation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="solve on an active set of points (default: by problem size)",
    )
    sol.add_argument(
        "--require-optimal",
        action="store_true",
        help="say on stderr why when the result is not OPTIMAL (the exit status is non-zero "
        "then in any case); refuse flags that can never give OPTIMAL (default: off)",
    )
    sol.add_argument(
        "--log-solver",
        action="store_true",
        help="print the backend's own search log (CP-SAT, SCIP, HiGHS, CBC) to stderr; local "
        "solves only (default: off)",
    )
    sol.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="also draw the result into FILE (.png, .pdf or .svg; see `prunecert plot`; "
        "default: none)",
    )
    cubes.distributed_flags(sol)
    progress_flag(sol)
    remote_flags(sol)


def add_certify_parser(subparsers) -> None:
    cer = subparsers.add_parser(
        "certify",
        help="a mask's exact error, optionally against the optimum",
        description="A mask's exact error and kept count; with --compare also the certified "
        "optimum for the same budget. Exits 0 (the mask's figures are exact), or with "
        "--require-optimal by the optimum's status as `prunecert solve` does.",
    )
    cer.add_argument("problem", help="problem file (proto3 JSON)")
    cer.add_argument("mask", help="mask file (proto3 JSON of prunecert.v1.Mask)")
    cer.add_argument(
        "--compare",
        action="store_true",
        help="also solve for the optimum, same budget (default: off)",
    )
    cer.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="for the --compare solve (default: none)",
    )
    cer.add_argument(
        "--require-optimal",
        action="store_true",
        help="with --compare: exit by the optimum's status, non-zero unless OPTIMAL (default: off)",
    )
    remote_flags(cer)
    cer.set_defaults(func=run_certify)
