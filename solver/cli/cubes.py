"""`prunecert solve --distributed`: one problem split into cubes on a Dask cluster
(solver.engine.cubes, docs/design.md §16), on this machine's local cluster by default, on an
existing one with --dask-scheduler, or on a server's job cluster with --remote (the server then
runs the cube driver, SolveParameters.distributed).

`prunecert solve-distributed` is the same command with --distributed implied (the README has
documented it since the cube engine came): its parser is `solve`'s, built by the same function.

``distributed_flags`` adds --distributed and its companions to `solve`'s parser; ``format_cubes``
is the cubes table of the text output, for local and remote solves alike (both give
solver.io.convert.DistributedFigures).
"""

from __future__ import annotations

import argparse
import threading

from solver.cli.common import EXIT_STATUS_HELP
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import (
    CUBE_RULES,
    DEFAULT_CUBE_RULE,
    DEFAULT_CUBE_THREADS,
    DEFAULT_CUBES,
    DistributedParameters,
    SolveParameters,
)
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.io.convert import DistributedFigures, distributed_figures

# How often the calling thread wakes to redraw the progress line while the cubes run.
TICK_SECONDS = 0.2


def distributed_flags(parser: argparse.ArgumentParser) -> None:
    """--distributed, --cubes, --cube-rule, --workers, --dask-scheduler (defaults None, so that
    a companion given without --distributed is refused rather than ignored)."""
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="split the problem into cubes that fix a few units live or dead and solve them on a "
        "Dask cluster with a shared cutoff (min_error; locally a local cluster, with --remote "
        "the server's job cluster; default: one solve)",
    )
    parser.add_argument(
        "--cubes",
        type=int,
        default=None,
        help=f"with --distributed: root cubes, rounded up to a power of two (default: "
        f"{DEFAULT_CUBES})",
    )
    parser.add_argument(
        "--cube-rule",
        choices=CUBE_RULES,
        default=None,
        help=f"with --distributed: which units to split on (default: {DEFAULT_CUBE_RULE}; kink "
        "needs a neuron target)",
    )
    cube_threads_flag(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --distributed, locally: local cluster workers (default: one per core)",
    )
    parser.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDR",
        help="with --distributed, locally: address of an existing Dask scheduler (default: a "
        "local cluster on loopback)",
    )


def cube_threads_flag(parser: argparse.ArgumentParser) -> None:
    """--cube-threads, for `solve` and `batch submit`."""
    parser.add_argument(
        "--cube-threads",
        type=int,
        default=None,
        metavar="N",
        help=f"with --distributed: solver threads per cube (default: {DEFAULT_CUBE_THREADS}); "
        "0 lets the backend choose (CP-SAT's portfolio, on two cores a lower-bound search "
        "beside the full one: give each cube a machine, e.g. --workers 1 locally)",
    )


def distributed_parameters(args: argparse.Namespace) -> DistributedParameters | None:
    """SolveParameters.distributed from the flags; usage errors for companions that would be
    ignored (without --distributed, or local-only ones with --remote) and a bad --workers."""
    companions = {
        "--cubes": args.cubes,
        "--cube-rule": args.cube_rule,
        "--cube-threads": args.cube_threads,
        "--workers": args.workers,
        "--dask-scheduler": args.dask_scheduler,
    }
    bad = []
    if not args.distributed:
        bad = [
            FieldViolation(flag, "needs --distributed", flag)
            for flag, value in companions.items()
            if value is not None
        ]
        if bad:
            raise InvalidProblemError(bad)
        return None
    if args.remote:
        for flag in ("--workers", "--dask-scheduler"):
            if companions[flag] is not None:
                bad.append(
                    FieldViolation(
                        flag,
                        "local solves only (with --remote the server's job cluster runs "
                        "the cubes); drop it or --remote",
                        flag,
                    )
                )
    if args.workers is not None and args.workers < 1:
        bad.append(FieldViolation("--workers", "must be at least 1", "--workers"))
    if getattr(args, "log_solver", False):
        bad.append(
            FieldViolation(
                "--log-solver",
                "not with --distributed (the cubes' solvers run on the Dask workers)",
                "--log-solver",
            )
        )
    distributed = DistributedParameters(
        cubes=DEFAULT_CUBES if args.cubes is None else args.cubes,
        cube_rule=args.cube_rule or DEFAULT_CUBE_RULE,
        cube_threads=DEFAULT_CUBE_THREADS if args.cube_threads is None else args.cube_threads,
    )
    bad += distributed.violations()
    if bad:
        raise InvalidProblemError(bad)
    return distributed


# How long to try reaching --dask-scheduler before saying it cannot be reached.
SCHEDULER_CONNECT_SECONDS = 10


def solve_distributed_locally(
    problem: Problem, params: SolveParameters, args: argparse.Namespace, line
) -> tuple[SolveResult, DistributedFigures]:
    """The cube engine on a local cluster (--workers) or the scheduler at --dask-scheduler,
    ``line`` fed by its progress. It runs in a thread and the calling thread waits on an Event
    (as solver.engine.solve_interruptibly does): the first Ctrl-C stops every cube and the
    CANCELLED result, with the best certified mask, is returned; a second one leaves at once."""
    from solver.engine.cubes import cube_backend, local_cluster, solve_cubes, validate_distributed

    distributed = params.distributed
    assert distributed is not None
    # Before any cluster starts (a local one takes seconds): what can be refused now is.
    cube_backend(params)
    validate_distributed(problem, params, distributed.cubes, distributed.cube_rule)
    if args.dask_scheduler:
        from distributed import Client

        try:
            client = Client(args.dask_scheduler, timeout=SCHEDULER_CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise InvalidProblemError(
                FieldViolation(
                    "--dask-scheduler",
                    f"the Dask scheduler at {args.dask_scheduler} cannot be reached: {exc}",
                    "--dask-scheduler",
                )
            ) from exc
    else:
        client = local_cluster(args.workers)
    stop, finished = threading.Event(), threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["outcome"] = solve_cubes(
                problem,
                params,
                cubes=distributed.cubes,
                rule=distributed.cube_rule,
                client=client,
                cube_threads=distributed.cube_threads or None,
                stop=stop,
                progress=line.on_progress,
            )
        except BaseException as exc:  # re-raised in the calling thread
            box["error"] = exc
        finally:
            finished.set()

    try:
        threading.Thread(target=work, daemon=True).start()
        try:
            while not finished.wait(TICK_SECONDS):
                line.show()
        except KeyboardInterrupt:
            stop.set()
            while not finished.wait(TICK_SECONDS):
                pass
    finally:
        line.close()
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not args.dask_scheduler:
            cluster.close()
    if "error" in box:
        raise box["error"]
    outcome = box["outcome"]
    return outcome.result, distributed_figures(outcome)


def format_cubes(figures: DistributedFigures) -> str:
    lines = [
        f"cubes: {len(figures.cubes)} (rule {figures.rule}, split on units "
        f"{', '.join(map(str, figures.split_units))}; {figures.workers} workers; "
        f"cube CPU {figures.cpu_seconds:.1f} s)"
    ]
    for cube in figures.cubes:
        decisions = " ".join(f"{u}{'+' if alive else '-'}" for u, alive in cube.decisions.items())
        error = "-" if cube.error is None else f"{cube.error:.10g}"
        kept = "" if cube.kept is None else f"  kept {cube.kept}"
        # A min_kept phase's bound is a kept count: the phase says which (solve.proto CubeReport).
        phase = "" if cube.phase == "min_error" else f"({cube.phase}) "
        late = "  (late cutoff)" if cube.late_cutoff else ""
        lines.append(
            f"  {phase}[{decisions}] {cube.state:<9} bound {cube.bound:.10g}  error {error}"
            f"{kept}  {cube.seconds:.2f} s{late}"
        )
    return "\n".join(lines)


def add_parser(subparsers) -> None:
    from solver.cli import solve  # solve imports this module

    cmd = subparsers.add_parser(
        "solve-distributed",
        help="`prunecert solve --distributed`: one min_error problem as cubes on a Dask cluster",
        description="The same as `prunecert solve --distributed`: split one min_error problem "
        "into cubes that fix a few units live or dead, solve them on a Dask cluster with a shared "
        "cutoff, and print one certified result with every cube.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve.solve_arguments(cmd)
    cmd.set_defaults(func=solve.run_solve, distributed=True)
