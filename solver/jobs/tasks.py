"""What runs on a Dask worker: a chunk of one job's items, each solved or certified with the
engine. Items are sent as (index, problem bytes) or, for families, regenerated in the worker
from the family spec, so a large family never travels through the scheduler."""

from __future__ import annotations

import threading
import time

from prunecert.v1 import jobs_pb2, problem_pb2, solve_pb2
from solver import convert
from solver.engine import certify_and_compare, solve
from solver.model import Problem
from solver.parameters import SolveParameters
from solver.validate import Limits


def cancel_event_name(job_id: str) -> str:
    return f"prunecert-cancel-{job_id}"


def _worker_client():
    """The Dask worker's client, fetched in the task's own thread (where the worker is known);
    None when not running on a Dask worker."""
    try:
        from distributed import get_client, get_worker

        get_worker()
        return get_client()
    except (ImportError, ValueError):
        return None


def _watch_cancel(name: str, client, stop: threading.Event, done: threading.Event) -> None:
    """Set ``stop`` when the job's Dask event is set (checked twice a second). The Event is
    built here with the worker's client: an Event made in another thread cannot be used."""
    from distributed import Event

    event = Event(name, client=client)
    while not done.wait(0.5):
        try:
            if event.is_set():
                stop.set()
                return
        except Exception:  # scheduler gone: the job will be re-run after a restart
            return


def _solve_item(problem: Problem, params: SolveParameters, stop, limits: Limits):
    return convert.result_to_proto(solve(problem, params, stop=stop, limits=limits))


def _certify_item(
    item: jobs_pb2.CertifyItem, compare: bool, params: SolveParameters, stop, limits: Limits
):
    problem = convert.parse_problem(item.problem, limits)
    mask = convert.parse_mask(item.mask, problem)
    cert, optimum = certify_and_compare(
        problem, mask, params, compare_with_optimum=compare, stop=stop, limits=limits
    )
    return convert.certify_result_to_proto(cert, optimum)


def run_items(
    job_id: str,
    kind: str,
    family_bytes: bytes | None,
    items: list[tuple[int, bytes | None]],
    params_bytes: bytes,
    time_limit: float,
    compare: bool,
    limits: Limits,
) -> list[tuple[int, bool, bytes]]:
    """Run the items; returns (index, ok, JobItemResult bytes without the problem) for each
    item finished (items left when the job is cancelled are not returned)."""
    params = convert.parse_parameters(solve_pb2.SolveParameters.FromString(params_bytes))
    params = SolveParameters(**{**params.__dict__, "time_limit_seconds": time_limit})
    family = None
    if family_bytes is not None:
        family = convert.parse_family(jobs_pb2.FamilySpec.FromString(family_bytes))
    stop, done = threading.Event(), threading.Event()
    client = _worker_client()
    if client is not None:
        args = (cancel_event_name(job_id), client, stop, done)
        threading.Thread(target=_watch_cancel, args=args, daemon=True).start()
    out: list[tuple[int, bool, bytes]] = []
    try:
        for index, payload in items:
            if stop.is_set():
                break
            start = time.perf_counter()
            result = jobs_pb2.JobItemResult(index=index)
            try:
                if kind == "certify":
                    item = jobs_pb2.CertifyItem.FromString(payload)
                    result.certify_result.CopyFrom(
                        _certify_item(item, compare, params, stop, limits)
                    )
                else:
                    if family is not None:
                        problem = family.problem(index)
                    else:
                        problem = convert.parse_problem(
                            problem_pb2.Problem.FromString(payload), limits
                        )
                    result.solve_result.CopyFrom(_solve_item(problem, params, stop, limits))
                ok = True
            except Exception as exc:  # one bad item never fails the others
                result.error = f"{type(exc).__name__}: {exc}"
                ok = False
            if (
                stop.is_set()
                and ok
                and kind == "solve"
                and result.solve_result.status == solve_pb2.SOLVE_STATUS_CANCELLED
            ):
                break  # cancelled mid-solve: not a result
            result.seconds = time.perf_counter() - start
            out.append((index, ok, result.SerializeToString()))
    finally:
        done.set()
    return out
