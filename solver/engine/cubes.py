"""Cube and conquer on Dask: one min_error instance split into cubes that fix a few units live or
dead, each solved as a Dask task with the best certified error so far as a cutoff, and one
global certificate (docs/design.md §16).

The split: the first k units of a rule's ranking (solver.engine.cube_split) give 2^k cubes, which
partition the model's choices (each unit is live or dead in every choice). Cubes whose fixed-live
units alone exceed the budget are empty and skipped. A cube stopped by its time slice with its
bound still below the cutoff splits again on the next unit of the ranking (dynamic load
balancing): its two children partition it, and each starts from its bound.

The cutoff: a dask.distributed Variable holds the best certified error E and its choice; a cube
reads it when it starts and solves under error <= E - tolerance (solver.engine.cube_task says
what each answer proves). Incumbents flow back as cubes finish and lower the Variable.

The certificate: every leaf cube (not split) has a bound b_c with every mask of the cube at
exact error >= b_c; the leaves cover all choices, so L = min over leaves of b_c is a rigorous
lower bound on the optimum. A cube closed by a cutoff E' - tolerance has b_c = E' - tolerance
>= E - tolerance for the final best E (E <= E': the best only improves), so closed cubes never
hold L more than the tolerance below E. The returned mask is re-certified here; OPTIMAL only
when its exact error - L <= tolerance.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction

from solver import exact
from solver.backends import get_backend
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, Problem
from solver.core.result import Progress, Solution, SolveResult, SolveStatus
from solver.core.validate import (
    DEFAULT_LIMITS,
    parameter_violation,
    validate_parameters,
    validate_problem,
)
from solver.engine.cube_split import SPLIT_RULES, split_order
from solver.engine.cube_task import CubeAnswer, CubeState, min_live_cost, solve_cube
from solver.engine.run import Run, rounded_gap
from solver.engine.starts import start_error, starting_choices
from solver.formulation.deadline import DeadlineReached

DEFAULT_CUBES = 8
CUBES_FIELD = "parameters.distributed.cubes"
# A cube's time slice without a time limit; with one, a third of it: a stalled cube then still
# has time to split twice.
DEFAULT_SLICE_SECONDS = 30.0
# A split needs at least this much time left to be worth a new cube's model building.
MIN_SLICE_SECONDS = 2.0
POLL_SECONDS = 0.2  # how often the driver and each cube check for a stop


@dataclass
class CubeReport:
    """One cube in the result: its decisions, what it proved and what it cost."""

    decisions: dict[int, bool]
    state: str  # CubeState, or "split" (its children carry it), "empty", "cancelled"
    bound: float  # rounded down; every mask of the cube has exact error >= it
    error: float | None  # its best mask's exact error, rounded up
    cutoff: float | None  # the cap it was solved under, rounded down
    seconds: float
    cpu_seconds: float


@dataclass
class DistributedResult:
    result: SolveResult
    rule: str
    split_units: list[int]  # the ranking's first units, the root cubes' decisions
    cubes: list[CubeReport] = field(default_factory=list)
    workers: int = 0

    @property
    def cpu_seconds(self) -> float:
        return sum(cube.cpu_seconds for cube in self.cubes)


def _cube_on_worker(problem, params, fixed, state_name, stop_name, ends_at) -> CubeAnswer:
    """The Dask task: read the cutoff, watch the stop Event, solve the cube. ``ends_at``: the
    solve's deadline as wall-clock time (time.time(), comparable across the cluster's hosts,
    unlike time.monotonic()), None for none: a cube that waited in the queue gets only what
    is left of it, at most its slice."""
    from distributed import Event, Variable, get_client

    if ends_at is not None:
        left = max(0.0, ends_at - time.time())
        params = dataclasses.replace(
            params, time_limit_seconds=min(params.time_limit_seconds or left, left) or 1e-9
        )
    client = get_client()
    shared = Variable(state_name, client=client).get()
    incumbent = list(shared["choice"]) if shared["choice"] is not None else None
    cutoff = Fraction(shared["error"]) if shared["error"] is not None else None
    stop = threading.Event()
    done = threading.Event()
    remote = Event(stop_name, client=client)

    def watch() -> None:
        while not done.is_set():
            try:
                if remote.is_set():
                    stop.set()
                    return
            except Exception:  # the driver has gone: nothing to relay to
                return
            done.wait(POLL_SECONDS)

    threading.Thread(target=watch, daemon=True).start()
    try:
        return solve_cube(problem, params, fixed, incumbent, cutoff, stop)
    finally:
        done.set()


def local_cluster(workers: int | None = None):
    """A dask.distributed Client on a LocalCluster with the job manager's settings
    (solver/jobs/manager.py): every socket on loopback, no dashboard, one thread per worker."""
    import os

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address=None,
        scheduler_kwargs={"dashboard": False},
    )
    return Client(cluster)


def validate_distributed(problem: Problem, params: SolveParameters, cubes: int, rule: str) -> None:
    bad = []
    if not isinstance(problem.objective, MinError):
        bad.append(
            FieldViolation(
                "problem.objective", "a distributed solve answers min_error only", "--distributed"
            )
        )
    for name in ("heuristic", "continuous", "cross_check"):
        if getattr(params, name) is not None:
            bad.append(parameter_violation(f"parameters.{name}", "not with a distributed solve"))
    if not 2 <= cubes <= 1024:
        bad.append(FieldViolation(CUBES_FIELD, "must be between 2 and 1024", "--cubes"))
    if rule not in SPLIT_RULES:
        bad.append(
            FieldViolation(
                "parameters.distributed.cube_rule",
                f"unknown rule {rule!r}; known: {', '.join(SPLIT_RULES)}",
                "--cube-rule",
            )
        )
    if bad:
        raise InvalidProblemError(bad)


@dataclass
class _Cube:
    fixed: dict[int, bool]
    floor: Fraction  # a bound inherited from its parent
    report: CubeReport | None = None
    answer: CubeAnswer | None = None


def solve_cubes(
    problem: Problem,
    parameters: SolveParameters | None = None,
    *,
    cubes: int = DEFAULT_CUBES,
    rule: str = "magnitude",
    client=None,
    stop: threading.Event | None = None,
    progress=None,
    slice_seconds: float | None = None,
) -> DistributedResult:
    """Solve ``problem`` (min_error) as cubes on ``client`` (None: a local cluster with one
    worker per core, closed at the end). See the module docstring for the certificate."""
    started = time.monotonic()
    params = parameters or SolveParameters()
    validate_problem(problem, DEFAULT_LIMITS)
    validate_parameters(params)
    validate_distributed(problem, params, cubes, rule)
    backend = get_backend(params.backend)
    if not backend.fixes_units:
        raise InvalidProblemError(
            parameter_violation(
                "parameters.backend",
                f"backend {backend.name!r} cannot solve cubes; use cpsat, scip, highs or cbc",
            )
        )
    objective = problem.objective
    assert isinstance(objective, MinError)
    tol = Fraction(params.effective_tolerance)
    limit = params.time_limit_seconds or None
    deadline = None if limit is None else started + float(limit)
    ends_at = None if limit is None else time.time() + float(limit)  # for the workers' clocks

    def report(**fields) -> None:
        if progress is not None:
            progress(Progress(elapsed_seconds=time.monotonic() - started, **fields))

    try:
        run = Run(problem, params, progress, stop, started=started)
    except DeadlineReached:
        empty = SolveResult(SolveStatus.NO_SOLUTION, detail="time limit reached while building")
        return DistributedResult(empty, rule, [])
    run.use(backend)
    stats = run.stats
    # The incumbent: the best starting mask, certified exactly.
    starts = starting_choices(run, objective.max_kept)
    best_choice = min(starts, key=lambda c: start_error(run, c))
    best_cert = run.domain.certify(run.model.mask(best_choice))
    report(kept=best_cert.kept, error=float(best_cert.error), message="starting mask")
    order = split_order(rule, run.model, objective.max_kept)
    depth = min(len(order), max(1, math.ceil(math.log2(cubes))))
    roots = order[:depth]
    outcome = DistributedResult(SolveResult(SolveStatus.NO_SOLUTION), rule, roots)
    if best_cert.error <= tol or not order:
        # Every error is >= 0 (or nothing to split: the start is the only choice).
        status = SolveStatus.OPTIMAL if best_cert.error <= tol else SolveStatus.FEASIBLE
        outcome.result = _result(run, status, best_cert, Fraction(0), "no cube was needed")
        return outcome

    own_client = client is None
    if own_client:
        client = local_cluster()
    try:
        from distributed import Event, Variable

        outcome.workers = len(client.nthreads())
        token = uuid.uuid4().hex
        shared = Variable(f"prunecert-cubes-{token}", client=client)
        remote_stop = Event(f"prunecert-stop-{token}", client=client)

        def publish() -> None:
            shared.set({"error": str(best_cert.error), "choice": list(best_choice)})

        publish()
        problem_future = client.scatter(problem, broadcast=True)
        if slice_seconds is None:
            slice_seconds = (
                DEFAULT_SLICE_SECONDS if limit is None else max(MIN_SLICE_SECONDS, float(limit) / 3)
            )
        leaves: list[_Cube] = []
        running: dict = {}  # future -> _Cube

        def submit(cube: _Cube) -> None:
            if objective.max_kept is not None and (
                min_live_cost(run.model, cube.fixed) > objective.max_kept
            ):
                cube.report = CubeReport(cube.fixed, "empty", math.inf, None, None, 0.0, 0.0)
                return  # no mask meets its decisions within the budget
            left = None if deadline is None else deadline - time.monotonic()
            cube_limit = slice_seconds if left is None else max(0.0, min(slice_seconds, left))
            # One solver thread per cube unless asked: a worker runs one cube at a time on one
            # core, and the cubes' CPU time is then the work they did.
            cube_params = dataclasses.replace(
                params, time_limit_seconds=cube_limit, threads=params.threads or 1
            )
            future = client.submit(
                _cube_on_worker,
                problem_future,
                cube_params,
                cube.fixed,
                shared.name,
                remote_stop.name,
                ends_at,
                pure=False,
            )
            running[future] = cube

        for values in itertools.product((True, False), repeat=depth):
            cube = _Cube(dict(zip(roots, values, strict=True)), Fraction(0))
            leaves.append(cube)
            submit(cube)
        from distributed import wait

        while running:
            if stop is not None and stop.is_set():
                remote_stop.set()
            try:
                finished = wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in finished.done:
                cube = running.pop(future)
                answer = future.result()
                cube.answer = answer
                bound = max(cube.floor, answer.bound)
                cube.report = CubeReport(
                    cube.fixed,
                    answer.state,
                    exact.round_down(bound) if bound else 0.0,
                    None if answer.error is None else exact.round_up(answer.error),
                    None if answer.cutoff is None else exact.round_down(answer.cutoff),
                    answer.seconds,
                    answer.cpu_seconds,
                )
                if answer.chosen is not None and answer.error < best_cert.error:
                    cert = run.domain.certify(run.model.mask(answer.chosen))  # re-checked here
                    if cert.error < best_cert.error:
                        best_cert, best_choice = cert, list(answer.chosen)
                        publish()
                open_ = [c for c in leaves if c.report is None or c.report.state == "open"]
                report(
                    kept=best_cert.kept,
                    error=float(best_cert.error),
                    bound=float(_global_bound(leaves, best_cert.error)),
                    message=f"{len(running)} cubes running, {len(open_)} open",
                )
                left = None if deadline is None else deadline - time.monotonic()
                free = [u for u in order if u not in cube.fixed]
                if (
                    answer.state == CubeState.OPEN
                    and bound < best_cert.error - tol
                    and free
                    and not (stop is not None and stop.is_set())
                    and (left is None or left > MIN_SLICE_SECONDS)
                ):
                    cube.report.state = "split"
                    leaves.remove(cube)
                    outcome.cubes.append(cube.report)
                    for alive in (True, False):
                        child = _Cube({**cube.fixed, free[0]: alive}, bound)
                        leaves.append(child)
                        submit(child)
        for cube in leaves:
            if cube.report is None:
                cube.report = CubeReport(cube.fixed, "cancelled", 0.0, None, None, 0.0, 0.0)
            outcome.cubes.append(cube.report)
        remote_stop.set()
        shared.delete()
    finally:
        if own_client:
            cluster = client.cluster
            client.close()
            cluster.close()

    # The global certificate, from exact Fractions (CubeReport holds the rounded figures).
    bound = _global_bound(leaves, best_cert.error)
    stats.solver_calls = len(outcome.cubes)
    stats.rounds = len(outcome.cubes)
    if bound > best_cert.error:
        detail = "a cube's bound lies above a certified mask's error; its proof is refuted"
        outcome.result = _result(run, SolveStatus.FEASIBLE, best_cert, Fraction(0), detail)
    elif stop is not None and stop.is_set():
        outcome.result = _result(run, SolveStatus.CANCELLED, best_cert, bound, "cancelled")
    elif best_cert.error - bound <= tol:
        outcome.result = _result(run, SolveStatus.OPTIMAL, best_cert, bound, "")
    else:
        detail = "time limit reached before every cube was closed"
        outcome.result = _result(run, SolveStatus.FEASIBLE, best_cert, bound, detail)
    return outcome


def _global_bound(leaves: list[_Cube], best_error: Fraction) -> Fraction:
    """min over the leaf cubes of their bounds (an unfinished cube: its inherited floor; an
    empty one: none), at most the best certified error (every bound is about masks of one cube;
    a cube's bound above the best error is a refutation the caller checks)."""
    bounds = []
    for cube in leaves:
        if cube.report is not None and cube.report.state == "empty":
            continue
        own = cube.answer.bound if cube.answer is not None else Fraction(0)
        bounds.append(max(cube.floor, own))
    return min(bounds, default=best_error)


def _result(run: Run, status, cert, bound: Fraction, detail: str) -> SolveResult:
    bound_f = exact.round_down(bound)
    run.stats.wall_time_seconds = run.elapsed()
    return SolveResult(
        status=status,
        solution=Solution(mask=cert.mask, kept=cert.kept, error=cert.error_upper),
        objective_bound=bound_f,
        tolerance=rounded_gap(cert.error_upper, bound_f),
        stats=run.stats,
        detail=detail,
    )
