"""`prunecert solve` and `prunecert certify`: one problem, locally or through a server.

The remote paths import the client (and with it grpc) inside the functions that use it, through
``common.connect``; a local solve never loads them.
"""

from __future__ import annotations

import argparse
import sys

from solver.cli.common import connect, read_text, remote_flags
from solver.core.parameters import CONTINUOUS_MODES, HEURISTIC_CHOICES, SolveParameters
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.core.validate import validate_parameters
from solver.engine import certify_and_compare
from solver.engine.interrupt import solve_interruptibly
from solver.io import convert
from solver.io.report import format_certificate, format_result


def solve_remote(args: argparse.Namespace, problem: Problem, params: SolveParameters):
    """Solve through the server, with a live progress line fed by SolveStream."""
    from tqdm import tqdm

    from prunecert_client import BoundUpdate, Finished, Incumbent

    error = bound = None
    result: SolveResult | None = None
    with (
        connect(args) as client,
        tqdm(
            bar_format="{desc}", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False
        ) as line,
    ):
        for event in client.solve_stream(problem, params):
            if isinstance(event, Incumbent):
                error = event.error
            elif isinstance(event, BoundUpdate):
                bound = event.bound
            elif isinstance(event, Finished):
                result = event.result
            shown_error = f"{error:.6g}" if error is not None else "-"
            shown_bound = f"{bound:.6g}" if bound is not None else "-"
            gap = f"{error - bound:.3g}" if error is not None and bound is not None else "-"
            line.set_description_str(
                f"incumbent {shown_error}  bound {shown_bound}  gap {gap}  "
                f"{event.elapsed_seconds:.1f}s"
            )
    return result


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
    )
    validate_parameters(params)  # the same field-named errors locally and remotely
    if args.remote:
        result = solve_remote(args, problem, params)
    else:
        result = solve_interruptibly(problem, params)
    if args.json:
        print(convert.to_json(convert.result_to_proto(result)))
    else:
        print(format_result(problem, result))
    return 0


def run_certify(args: argparse.Namespace) -> int:
    from prunecert.v1 import solve_pb2

    problem = convert.problem_from_json(read_text(args.problem))
    mask_msg = convert.parse_json(read_text(args.mask), solve_pb2.Mask, what="mask")
    mask = convert.parse_mask(mask_msg, problem)  # type: ignore[arg-type]
    if args.remote:
        with connect(args) as client:
            reply = client.certify(problem, mask, compare_with_optimum=args.compare)
        kept, error, optimum = reply.kept, reply.error, reply.optimum
    else:
        cert, optimum = certify_and_compare(
            problem,
            mask,
            SolveParameters(time_limit_seconds=args.time_limit),
            compare_with_optimum=args.compare,
        )
        kept, error = cert.kept, cert.error_upper
    print(format_certificate(kept, error, optimum))
    return 0


def add_parser(subparsers) -> None:
    sol = subparsers.add_parser("solve", help="solve a problem file and print its certified result")
    sol.add_argument("problem", help="problem file (proto3 JSON), or - for stdin")
    sol.add_argument("--json", action="store_true", help="print the SolveResult as proto3 JSON")
    sol.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    sol.add_argument("--backend", default=None, help="solver backend (default: auto)")
    sol.add_argument("--threads", type=int, default=None)
    sol.add_argument("--seed", type=int, default=None)
    sol.add_argument("--tolerance", type=float, default=None, help="absolute (default 1e-6)")
    sol.add_argument(
        "--cross-check",
        default=None,
        metavar="BACKEND",
        help="solve again with a second backend and compare (auto: another installed one)",
    )
    sol.add_argument(
        "--continuous",
        choices=CONTINUOUS_MODES,
        default=None,
        help="evaluate: also the mask's exact max error over the whole box; optimize: certify "
        "the optimum over the whole box (bias-free problems on a box grid)",
    )
    sol.add_argument(
        "--heuristic",
        choices=HEURISTIC_CHOICES,
        default=None,
        help="run a heuristic instead of the exact solve (its mask's exact error, no bound)",
    )
    sol.add_argument(
        "--heuristic-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start the exact search from the best heuristic mask (default: for n >= 48)",
    )
    sol.add_argument(
        "--row-generation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="solve on an active set of points (default: by problem size)",
    )
    remote_flags(sol)
    sol.set_defaults(func=run_solve)

    cer = subparsers.add_parser(
        "certify", help="a mask's exact error, optionally against the optimum"
    )
    cer.add_argument("problem", help="problem file (proto3 JSON)")
    cer.add_argument("mask", help="mask file (proto3 JSON of prunecert.v1.Mask)")
    cer.add_argument(
        "--compare", action="store_true", help="also solve for the optimum, same budget"
    )
    cer.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    remote_flags(cer)
    cer.set_defaults(func=run_certify)
