"""The `prunecert` command line: a thin layer over the engine (and, later, the client)."""

from __future__ import annotations

import argparse
import math
import sys
import threading
from pathlib import Path

from solver import convert
from solver.backends import available_backends
from solver.engine import solve
from solver.errors import FieldViolation, InvalidProblemError, PruneCertError
from solver.generate import paper_problem
from solver.model import MinError, MinKept, Pareto, Problem, PruningMode
from solver.parameters import SolveParameters
from solver.report import format_result
from solver.validate import validate_problem

EXIT_USAGE = 2


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(FieldViolation("file", f"cannot read {path}: {reason}")) from exc
    except UnicodeDecodeError as exc:
        raise InvalidProblemError(FieldViolation("file", f"{path} is not UTF-8 text")) from exc


def _check_generate_flags(args: argparse.Namespace) -> None:
    bad = []
    for flag, value in (("--d", args.d), ("--n", args.n)):
        if value < 1:
            bad.append(FieldViolation(flag, f"must be at least 1, got {value}"))
    if args.points_per_axis is not None and args.points_per_axis < 2:
        bad.append(
            FieldViolation("--points-per-axis", f"must be at least 2, got {args.points_per_axis}")
        )
    if args.max_kept is not None and args.max_kept < 0:
        bad.append(FieldViolation("--max-kept", f"must be >= 0, got {args.max_kept}"))
    if args.objective == "min_kept":
        if args.max_error is None:
            bad.append(FieldViolation("--max-error", "is required with --objective min_kept"))
        elif not (math.isfinite(args.max_error) and args.max_error >= 0):
            bad.append(
                FieldViolation("--max-error", f"must be a finite number >= 0, got {args.max_error}")
            )
    if bad:
        raise InvalidProblemError(bad)


def _cmd_generate(args: argparse.Namespace) -> int:
    _check_generate_flags(args)
    objective = {
        "min_error": MinError(max_kept=args.max_kept),
        "min_kept": MinKept(max_error=args.max_error if args.max_error is not None else 0.0),
        "pareto": Pareto(max_kept=args.max_kept),
    }[args.objective]
    pruning = PruningMode.NEURONS if args.pruning == "neurons" else PruningMode.WEIGHTS
    problem = paper_problem(args.d, args.n, args.seed, pruning, objective, args.points_per_axis)
    validate_problem(problem)
    print(convert.to_json(convert.problem_to_proto(problem)))
    return 0


def _solve_interruptibly(problem: Problem, params: SolveParameters):
    """Run the solve in a thread so that Ctrl-C cancels it cleanly (the solver is native code)."""
    stop = threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = solve(problem, params, stop=stop)
        except BaseException as exc:  # re-raised in the main thread
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _cmd_solve(args: argparse.Namespace) -> int:
    problem = convert.problem_from_json(_read_text(args.problem))
    params = SolveParameters(
        time_limit_seconds=args.time_limit,
        backend=args.backend,
        threads=args.threads,
        seed=args.seed,
        tolerance=args.tolerance,
        row_generation=args.row_generation,
    )
    result = _solve_interruptibly(problem, params)
    if args.json:
        print(convert.to_json(convert.result_to_proto(result)))
    else:
        print(format_result(problem, result))
    return 0


def _cmd_backends(args: argparse.Namespace) -> int:
    for name, version in available_backends().items():
        print(f"{name:10s} {version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prunecert", description="Certified optimal pruning of small ReLU networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a problem file (proto3 JSON) to stdout")
    gen_sub = gen.add_subparsers(dest="family", required=True)
    paper = gen_sub.add_parser("paper", help="the setting of arXiv 2603.02234")
    paper.add_argument("--d", type=int, required=True, help="input dimension")
    paper.add_argument("--n", type=int, required=True, help="hidden units")
    paper.add_argument("--seed", type=int, required=True)
    paper.add_argument("--pruning", choices=["neurons", "weights"], required=True)
    paper.add_argument(
        "--objective", choices=["min_error", "min_kept", "pareto"], default="min_error"
    )
    paper.add_argument("--max-kept", type=int, default=None, help="budget (min_error, pareto)")
    paper.add_argument("--max-error", type=float, default=None, help="error bound (min_kept)")
    paper.add_argument("--points-per-axis", type=int, default=None, help="default 41 (d<=2), 11")
    paper.set_defaults(func=_cmd_generate)

    sol = sub.add_parser("solve", help="solve a problem file and print its certified result")
    sol.add_argument("problem", help="problem file (proto3 JSON), or - for stdin")
    sol.add_argument("--json", action="store_true", help="print the SolveResult as proto3 JSON")
    sol.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    sol.add_argument("--backend", default=None, help="solver backend (default: auto)")
    sol.add_argument("--threads", type=int, default=None)
    sol.add_argument("--seed", type=int, default=None)
    sol.add_argument("--tolerance", type=float, default=None, help="absolute (default 1e-6)")
    sol.add_argument(
        "--row-generation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="solve on an active set of points (default: by problem size)",
    )
    sol.set_defaults(func=_cmd_solve)

    back = sub.add_parser("backends", help="list the installed solver backends")
    back.set_defaults(func=_cmd_backends)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InvalidProblemError as exc:
        for violation in exc.violations:
            print(f"prunecert: error: {violation}", file=sys.stderr)
        return EXIT_USAGE
    except (PruneCertError, ValueError) as exc:
        print(f"prunecert: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
