"""What a worker process runs: one request in, events and one reply out (as messages).

Runs in the worker (spawned) process; it only sees serialized protos, so the server process
never holds a solve's memory.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from prunecert.v1 import service_pb2
from solver.core.errors import JobsDisabledError
from solver.core.parameters import SolveParameters
from solver.core.result import Progress
from solver.core.validate import Limits
from solver.engine import certify_and_compare, solve
from solver.io import convert

Emit = Callable[[service_pb2.SolveEvent], None]


def _params_with_limit(msg, time_limit: float) -> SolveParameters:
    """The request's parameters with the time limit the server granted."""
    return dataclasses.replace(convert.parse_parameters(msg), time_limit_seconds=time_limit)


def _progress_events(emit: Emit | None) -> Callable[[Progress], None] | None:
    if emit is None:
        return None
    last_bound = [-math.inf]

    def on_progress(progress: Progress) -> None:
        if progress.kept is not None and progress.error is not None:
            emit(
                service_pb2.SolveEvent(
                    elapsed_seconds=progress.elapsed_seconds,
                    incumbent=service_pb2.Incumbent(kept=progress.kept, error=progress.error),
                )
            )
        if progress.bound is not None and progress.bound > last_bound[0]:
            last_bound[0] = progress.bound
            emit(
                service_pb2.SolveEvent(
                    elapsed_seconds=progress.elapsed_seconds, bound=progress.bound
                )
            )
        if progress.message:
            emit(
                service_pb2.SolveEvent(
                    elapsed_seconds=progress.elapsed_seconds, log=progress.message
                )
            )

    return on_progress


def run_solve(
    request: service_pb2.SolveRequest,
    time_limit: float,
    limits: Limits,
    stop,
    emit: Emit | None,
    dask_scheduler: str | None = None,
):
    """One solve; with parameters.distributed, cube and conquer whose cubes run on the Dask
    cluster at ``dask_scheduler`` (the server's job cluster) while this process drives them."""
    problem = convert.parse_problem(request.problem, limits)
    params = _params_with_limit(request.parameters, time_limit)
    if params.distributed is not None:
        return run_distributed(problem, params, dask_scheduler, stop, emit)
    result = solve(problem, params, progress=_progress_events(emit), stop=stop, limits=limits)
    return convert.result_to_proto(result)


def run_distributed(problem, params: SolveParameters, dask_scheduler: str | None, stop, emit):
    """The cube driver (solver.engine.cubes.solve_cubes, docs/design.md §16) in this worker
    process; the cubes are tasks on the job cluster. ``stop`` (a cancel, StopSolve, the server's
    deadline) reaches every cube through the engine's Dask Event within about 0.4 s."""
    from solver.engine.cubes import solve_cubes_on

    if dask_scheduler is None:  # the servicer refuses this before a worker is taken
        raise JobsDisabledError("a distributed solve needs the server's job cluster (--data-dir)")
    outcome = solve_cubes_on(
        dask_scheduler, problem, params, stop=stop, progress=_progress_events(emit)
    )
    return convert.distributed_result_to_proto(outcome)


def run_certify(request: service_pb2.CertifyRequest, time_limit: float, limits: Limits, stop):
    problem = convert.parse_problem(request.problem, limits)
    mask = convert.parse_mask(request.mask, problem)
    cert, optimum = certify_and_compare(
        problem,
        mask,
        _params_with_limit(request.parameters, time_limit),
        compare_with_optimum=request.compare_with_optimum,
        stop=stop,
        limits=limits,
    )
    return convert.certify_result_to_proto(cert, optimum)
