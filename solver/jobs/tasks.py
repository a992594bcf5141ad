"""What runs on a Dask worker: a chunk of one job's items, each solved or certified with the
engine. Items are sent as (index, problem bytes) or, for families, regenerated in the worker
from the family spec, so a large family never travels through the scheduler."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from fractions import Fraction

import numpy as np

from prunecert.v1 import jobs_pb2, problem_pb2, solve_pb2
from solver import exact
from solver.backends import AUTO
from solver.backends.base import task_for
from solver.backends.mitm import MeetInTheMiddleBackend
from solver.backends.subset_sum import SubsetSumAnswer, SubsetSumSolver
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, Problem
from solver.core.result import Solution, SolveResult, SolveStats, SolveStatus
from solver.core.validate import Limits
from solver.engine import certify_and_compare, solve
from solver.formulation.columns import build_column_model
from solver.instances.families import Family, largest_problems
from solver.io import convert
from solver.jobs.times import set_item_seconds

log = logging.getLogger("prunecert.jobs")


def cancel_event_name(job_id: str) -> str:
    return f"prunecert-cancel-{job_id}"


def _task_context():
    """(worker, task key, client) of the running Dask task, read in the task's own thread
    (where the worker is known); None when not running on a Dask worker."""
    try:
        from distributed import get_client, get_worker

        worker = get_worker()
        return worker, worker.get_current_task(), get_client()
    except (ImportError, ValueError):
        return None


def _watch_task(worker, key, stop: threading.Event, done: threading.Event) -> None:
    """Set ``stop`` when Dask cancels or releases this task (CancelJob cancels its futures).
    Reads the worker's local state only: no call that could block on the scheduler."""
    while not done.wait(0.5):
        task = worker.state.tasks.get(key)
        if task is None or task.state in ("cancelled", "released", "forgotten"):
            stop.set()
            return


def _watch_event(name: str, client, stop: threading.Event, done: threading.Event) -> None:
    """Set ``stop`` when the job's Dask event is set (for tasks not yet cancelled by key). The
    Event is built here with the worker's client: an Event made in another thread cannot be
    used; a call that blocks here does not hold up _watch_task."""
    from distributed import Event

    event = Event(name, client=client)
    while not done.wait(0.5):
        try:
            if event.is_set():
                stop.set()
                return
        except Exception as exc:  # keep watching: a transient scheduler hiccup
            log.debug("cancel watcher: %s", exc)


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


def _batch_size(n: int) -> int:
    """Instances per numpy batch: about a dozen (batch, 2^(n - n/2)) double arrays are alive at
    once, so the batch shrinks as n grows (~100 MB at most: 256 up to n = 24, 1 from n = 40)."""
    return max(1, min(SUBSET_SUM_GROUP, 2**20 >> (n - n // 2)))


class _SubsetSumBatch:
    """Subset-sum family items solved by solver.backends.subset_sum, skipping the general engine's
    per-instance set-up (the draws of Family.subset_sum_draw, the certificate semantics of the
    engine's meet in the middle)."""

    def __init__(self, family: Family, tolerance: float):
        self.family = family
        self.tolerance = tolerance
        self.solvers: dict[int, SubsetSumSolver] = {}

    @staticmethod
    def for_family(family: Family | None, params: SolveParameters) -> _SubsetSumBatch | None:
        """The batch when a plain solve of every item would be meet in the middle's answer: the
        backend "auto" with nothing else asked, and the meet-in-the-middle backend accepting
        the family's largest item (its size bounds every item's; the same structure)."""
        plain = (
            family is not None
            and family.generator == "subset_sum"
            and params.backend in AUTO
            and not params.cross_check
            and params.heuristic is None
            and params.continuous is None
        )
        if not plain or not all(
            MeetInTheMiddleBackend.accepts(build_column_model(p), task_for(p))
            for p in largest_problems(family)
        ):
            return None
        return _SubsetSumBatch(family, params.effective_tolerance)

    def solve(self, index: int) -> SolveResult:
        return self.solve_many([index])[0]

    def solve_many(self, indices: list[int]) -> list[SolveResult]:
        """The items' results, solved as one numpy batch per size n; each item's wall time is
        its share of the batch's."""
        start = time.perf_counter()
        by_size: dict[int, list[tuple[int, float, np.ndarray]]] = {}
        for position, index in enumerate(indices):
            draw = self.family.subset_sum_draw(index)
            n = len(draw.candidates)
            by_size.setdefault(n, []).append((position, draw.target, draw.candidates))
        answers = [None] * len(indices)
        for n, group in by_size.items():
            solver = self.solvers.get(n)
            if solver is None:  # built once per size: its bit matrices are the costly part
                solver = self.solvers[n] = SubsetSumSolver(n)
            for first in range(0, len(group), _batch_size(n)):
                part = group[first : first + _batch_size(n)]
                candidates = np.array([g[2] for g in part]).reshape(len(part), n)
                solved = solver.solve_batch(candidates, [g[1] for g in part])
                for (position, _, c), answer in zip(part, solved):
                    answers[position] = (c, answer)
        seconds = (time.perf_counter() - start) / max(1, len(indices))
        return [self._result(c, answer, seconds) for c, answer in answers]

    def _result(
        self, candidates: np.ndarray, answer: SubsetSumAnswer, seconds: float
    ) -> SolveResult:
        keep = answer.keep & (candidates != 0)  # a zero candidate changes nothing: not kept
        tolerance = exact.round_up(Fraction(answer.error_upper) - Fraction(answer.bound))
        optimal = tolerance <= self.tolerance
        kept = int(keep.sum())
        return SolveResult(
            status=SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
            solution=Solution(mask=Mask(neurons=keep), kept=kept, error=answer.error_upper),
            objective_bound=answer.bound,
            tolerance=tolerance,
            stats=SolveStats(
                wall_time_seconds=seconds,
                backend=MeetInTheMiddleBackend.name,
                formulation="subset-sum batch",
                points_used=1,
                points_total=1,
                rounds=1,
                solver_calls=1,
            ),
            detail="" if optimal else "the float search's error bound exceeds the tolerance",
        )


SUBSET_SUM_GROUP = 256  # items per solve_many call: a stop check between


def _run_subset_sum(
    batch: _SubsetSumBatch, indices: list[int], stop: threading.Event
) -> list[tuple[int, bool, bytes]]:
    out: list[tuple[int, bool, bytes]] = []
    for first in range(0, len(indices), SUBSET_SUM_GROUP):
        if stop.is_set():
            break
        group = indices[first : first + SUBSET_SUM_GROUP]
        try:
            results = batch.solve_many(group)
        except Exception as exc:  # never seen; one failure must not take the group's items
            log.warning("subset-sum batch failed, retrying its items one by one: %s", exc)
            results = []
            for index in group:
                try:
                    results.append(batch.solve(index))
                except Exception as item_exc:
                    results.append(f"{type(item_exc).__name__}: {item_exc}")
        for index, solved in zip(group, results):
            item = jobs_pb2.JobItemResult(index=index)
            if isinstance(solved, str):
                item.error = solved
            else:
                item.solve_result.CopyFrom(convert.result_to_proto(solved))
                set_item_seconds(item, solved.stats.wall_time_seconds)
            out.append((index, not isinstance(solved, str), item.SerializeToString()))
    return out


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
    params = dataclasses.replace(params, time_limit_seconds=time_limit)
    family = None
    if family_bytes is not None:
        family = convert.parse_family(jobs_pb2.FamilySpec.FromString(family_bytes))
    stop, done = threading.Event(), threading.Event()
    context = _task_context()
    if context is not None:
        worker, key, client = context
        for target, args in (
            (_watch_task, (worker, key, stop, done)),
            (_watch_event, (cancel_event_name(job_id), client, stop, done)),
        ):
            threading.Thread(target=target, args=args, daemon=True).start()
    batch = _SubsetSumBatch.for_family(family, params) if kind == "solve" else None
    out: list[tuple[int, bool, bytes]] = []
    try:
        if batch is not None:
            return _run_subset_sum(batch, [index for index, _ in items], stop)
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
            set_item_seconds(result, time.perf_counter() - start)
            out.append((index, ok, result.SerializeToString()))
    finally:
        done.set()
    return out
