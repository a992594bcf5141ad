"""What a worker process runs: one request in, events and one reply out (as messages).

Runs in the worker (spawned) process; it only sees serialized protos, so the server process
never holds a solve's memory.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from prunecert.v1 import service_pb2
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
    request: service_pb2.SolveRequest, time_limit: float, limits: Limits, stop, emit: Emit | None
):
    problem = convert.parse_problem(request.problem, limits)
    params = _params_with_limit(request.parameters, time_limit)
    result = solve(problem, params, progress=_progress_events(emit), stop=stop, limits=limits)
    return convert.result_to_proto(result)


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
