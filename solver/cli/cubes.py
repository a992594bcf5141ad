"""`prunecert solve-distributed`: one min_error problem split into cubes on a Dask cluster
(solver.engine.cubes, docs/design.md §16), on this machine's local cluster by default.

``distributed_flags`` adds --distributed's companions (--cubes, --cube-rule, --dask-scheduler)
to a parser, so that `prunecert solve --distributed` can share them.
"""

from __future__ import annotations

import argparse
import sys
import threading

from solver.cli.common import EXIT_STATUS_HELP, EXIT_USAGE, error_line, exit_code, read_text
from solver.core.parameters import SolveParameters
from solver.core.result import SolveStatus
from solver.core.validate import validate_parameters
from solver.engine.cube_split import SPLIT_RULES
from solver.engine.cubes import DEFAULT_CUBES, DistributedResult, local_cluster, solve_cubes
from solver.io import convert
from solver.io.report import format_result


def distributed_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cubes",
        type=int,
        default=DEFAULT_CUBES,
        help=f"how many cubes to split into, rounded up to a power of two (default: {DEFAULT_CUBES})",
    )
    parser.add_argument(
        "--cube-rule",
        choices=SPLIT_RULES,
        default="magnitude",
        help="which units to split on (default: magnitude; kink needs a neuron target)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local cluster workers (default: one per core)",
    )
    parser.add_argument(
        "--dask-scheduler",
        default=None,
        help="address of an existing Dask scheduler (default: a local cluster on loopback)",
    )


def format_cubes(outcome: DistributedResult) -> str:
    lines = [
        f"cubes: {len(outcome.cubes)} (rule {outcome.rule}, split on units "
        f"{', '.join(map(str, outcome.split_units))}; {outcome.workers} workers; "
        f"cube CPU {outcome.cpu_seconds:.1f} s)"
    ]
    for cube in outcome.cubes:
        decisions = " ".join(f"{u}{'+' if alive else '-'}" for u, alive in cube.decisions.items())
        error = "-" if cube.error is None else f"{cube.error:.10g}"
        lines.append(
            f"  [{decisions}] {cube.state:<9} bound {cube.bound:.10g}  error {error}  "
            f"{cube.seconds:.2f} s"
        )
    return "\n".join(lines)


def run_distributed(args: argparse.Namespace) -> int:
    problem = convert.problem_from_json(read_text(args.problem))
    params = SolveParameters(
        time_limit_seconds=args.time_limit,
        backend=args.backend,
        threads=args.threads,
        seed=args.seed,
        tolerance=args.tolerance,
    )
    validate_parameters(params)
    if args.workers is not None and args.workers < 1:
        print(error_line("--workers", "must be at least 1"), file=sys.stderr)
        return EXIT_USAGE
    if args.dask_scheduler:
        from distributed import Client

        client = Client(args.dask_scheduler)
    else:
        client = local_cluster(args.workers)
    stop = threading.Event()
    try:
        outcome = solve_cubes(
            problem, params, cubes=args.cubes, rule=args.cube_rule, client=client, stop=stop
        )
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not args.dask_scheduler:
            cluster.close()
    result = outcome.result
    if args.json:
        print(convert.to_json(convert.result_to_proto(result)))
    else:
        print(format_result(problem, result))
        print(format_cubes(outcome))
    if args.require_optimal and result.status != SolveStatus.OPTIMAL:
        why = f": {result.detail}" if result.detail else ""
        message = f"the result is {result.status.name}, not OPTIMAL{why}"
        print(error_line("--require-optimal", message), file=sys.stderr)
    return exit_code(result.status)


def add_parser(subparsers) -> None:
    cmd = subparsers.add_parser(
        "solve-distributed",
        help="solve one min_error problem as cubes on a Dask cluster",
        description="Split one min_error problem into cubes that fix a few units live or dead, "
        "solve them on a Dask cluster with a shared cutoff, and print one certified result.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("problem", help="problem file (proto3 JSON), or - for stdin")
    cmd.add_argument(
        "--json", action="store_true", help="print the SolveResult as proto3 JSON (default: text)"
    )
    cmd.add_argument(
        "--time-limit", type=float, default=None, help="seconds for the whole solve (default: none)"
    )
    cmd.add_argument("--backend", default=None, help="cpsat (default), scip, highs or cbc")
    cmd.add_argument(
        "--threads", type=int, default=None, help="solver threads per cube (default: 1)"
    )
    cmd.add_argument(
        "--seed", type=int, default=None, help="solver random seed (default: the solver's)"
    )
    cmd.add_argument(
        "--tolerance", type=float, default=None, help="absolute tolerance (default: 1e-6)"
    )
    cmd.add_argument(
        "--require-optimal",
        action="store_true",
        help="say why on stderr unless OPTIMAL (default: off)",
    )
    distributed_flags(cmd)
    cmd.set_defaults(func=run_distributed)
