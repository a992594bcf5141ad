"""Cube and conquer on Dask: one instance split into cubes that fix a few units live or dead,
each solved as a Dask task with the best certified answer so far as a cutoff, and one global
certificate (docs/design.md §16). All three objectives, in both pruning modes.

The split: the first k units of a rule's ranking (solver.engine.cube_split) give 2^k cubes, which
partition the model's choices (each unit is live or dead in every choice; in weights mode a
unit is live when one of its patterns is chosen, the backends' fixed_units). Cubes whose
fixed-live units alone exceed the budget are empty and skipped. A cube stopped by its time slice
with its bound still below the cutoff splits again on the next unit of the ranking (dynamic load
balancing): its two children partition it, and each starts from its bound.

One phase is one such conquest for one goal (solver.engine.cube_task.CubeGoal); a dask.distributed
Variable per phase holds the best certified answer and its choice, which a cube reads when it
starts (cube_task says what each answer proves). Incumbents flow back as cubes finish. A running
min_error cube's watcher reads the Variable again every POLL_SECONDS (``live_cutoffs``): a
better error published since stops its search once its bound reaches that error less the
tolerance, and the cube is closed by it (cube_task.LiveCutoff says why that is sound).

min_error: the cutoff is the best certified error E; every leaf cube (not split) has a bound b_c
with every mask of the cube at exact error >= b_c; the leaves cover all choices, so L = min over
leaves of b_c is a rigorous lower bound on the optimum. A cube closed by a cutoff E' - tolerance
has b_c = E' - tolerance >= E - tolerance for the final best E (E <= E': the best only improves),
so closed cubes never hold L more than the tolerance below E. OPTIMAL only when the returned
mask's exact error (re-certified here) - L <= tolerance.

min_kept (threshold X = max_error): the cutoff is the best certified kept count K of a mask with
exact error <= X. Every leaf has a bound b_c: every mask of the cube with exact error <= X keeps
at least b_c (infinite: the cube has none; a cube that did not run: its inherited bound). The
leaves cover all choices, so L = min over leaves of b_c bounds the fewest kept of any mask within
X; a cube is closed when b_c >= K (no mask of it keeps fewer than the incumbent), and since K
only falls, closed cubes never hold L below the final K. The returned mask is re-certified here
against X; OPTIMAL only when its kept count equals L; INFEASIBLE when every leaf is proven to hold
no mask within X (L infinite, no mask certified, the full network certified above X at the
start).

pareto: the monolithic sweep (solver.engine.objectives.sweep_pareto) with each of its min_error
solves distributed: the unconstrained optimum first, then one distributed min_error per budget
k = 0, 1, ... until the optimum's error is reached; each point's bound is its phase's L.

The journal (``journal``, a CubeJournal; solver.jobs.cubes implements it in the job store, so a
distributed job survives a server crash): every finished cube is recorded with its decisions,
its exact answer and whether it split, and every incumbent published with its mask and exact
error. A run given a journal restores each phase first. Why that is sound:

* A restored cube's bound still holds. It was proven for its decisions (units live or dead, a
  property of masks, not of the model's numbering) on the same problem: a min_error bound b
  says every mask of the cube has exact error >= b, whatever cap the cube was solved under (a
  closed cube's b = U proves every mask of it has e > U; a capped bound b <= U holds for masks
  with e <= U by the relaxation and for the others since e > U >= b). A min_kept bound says
  every mask of the cube within the phase's threshold keeps >= b, and the threshold is part of
  the phase's key. Neither depends on the incumbent when the cube ran, so a restored cube is a
  leaf of the new run as it was of the old one, and L stays the least bound over the leaves.
* Only cubes of the tree being built are restored: a journalled split cube is replaced by its
  two children on the next unit of the ranking, each looked up in turn; an entry whose
  decisions are not in the tree is ignored (its cube, if any, is solved anew). An open leaf
  (stopped by its slice, not split) is solved again, starting from its journalled bound; a
  cube that never finished has no entry and is solved again.
* The incumbent is never trusted: every journalled mask (the incumbents published and each
  cube's best) is re-certified in exact arithmetic on this run's problem before it becomes the
  best. Every cutoff E_c a closed cube was solved under was a published incumbent, so the
  restored best E <= E_c and closed cubes keep the gap within the tolerance, as in one run.

Error first, then kept (parameters.sparsest, on by default; docs/design.md §2): after a min_error
solve, and for each frontier point, a distributed min_kept with the threshold X = the mask's
exact error returns the fewest kept among masks at most as bad, with the count's proof stated in
``detail``; the error claim (bound, status) is unchanged.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from solver import exact
from solver.backends import get_backend
from solver.backends.base import Backend
from solver.core.errors import ClusterUnavailableError, FieldViolation, InvalidProblemError
from solver.core.parameters import DEFAULT_CUBES, DistributedParameters, SolveParameters
from solver.core.problem import Mask, MinError, MinKept, Pareto, Problem, PruningMode
from solver.core.result import Progress, SolveResult, SolveStatus
from solver.core.validate import (
    DEFAULT_LIMITS,
    parameter_violation,
    validate_parameters,
    validate_problem,
    weight_patterns,
)
from solver.engine.cube_split import split_order
from solver.engine.cube_task import (
    CubeAnswer,
    CubeGoal,
    CubeState,
    LiveCutoff,
    min_live_cost,
    solve_cube,
)
from solver.engine.objectives import MinErrorOutcome, ParetoSteps, sweep_pareto
from solver.engine.run import Run, rounded_gap
from solver.engine.sparsest import (
    join_details,
    kept_claim,
    kept_unproven,
    replace_frontier,
)
from solver.engine.starts import start_error, starting_choices
from solver.exact.certify import MaskCertificate
from solver.formulation.deadline import DeadlineReached
from solver.formulation.hints import greedy_forward

log = logging.getLogger("prunecert.cubes")

CUBES_FIELD = "parameters.distributed.cubes"
# A cube's time slice without a time limit; with one, a third of it: a stalled cube then still
# has time to split twice.
DEFAULT_SLICE_SECONDS = 30.0
# A split needs at least this much time left to be worth a new cube's model building.
MIN_SLICE_SECONDS = 2.0
POLL_SECONDS = 0.2  # how often the driver and each cube check for a stop
# How long the driver waits to connect to a job cluster's scheduler (a server connected to it
# moments before, so only a scheduler that has just gone away takes this long).
DASK_CONNECT_SECONDS = 10
# A cube's wait for its phase's Variable, which exists while the phase runs.
VARIABLE_WAIT_SECONDS = 30


@dataclass
class CubeReport:
    """One cube in the result: its decisions, what it proved and what it cost."""

    decisions: dict[int, bool]
    state: str  # CubeState, or "split" (its children carry it), "empty", "cancelled"
    # min_error: rounded down, every mask of the cube has exact error >= it. min_kept: every
    # mask of the cube within the threshold keeps >= it (inf: the cube has none).
    bound: float
    error: float | None  # its best mask's exact error, rounded up
    cutoff: float | None  # min_error: the cap it was solved under, rounded down; min_kept: K
    seconds: float
    cpu_seconds: float
    # The phase it belongs to: "min_error", "min_error kept<=k" (a budget), "min_kept
    # error<=X" (a threshold).
    phase: str = "min_error"
    kept: int | None = None  # its best mask's kept count
    # Closed by a cutoff published while it ran (cube_task.LiveCutoff); ``cutoff`` is that one.
    late_cutoff: bool = False


@dataclass(frozen=True)
class JournalEntry:
    """One journal record of a phase: a finished cube (``decisions`` set, its exact ``answer``
    without the model's candidate indices, whether it ``split``, its best ``mask``) or an
    incumbent published (``decisions`` None, its ``mask`` and exact ``error``)."""

    decisions: dict[int, bool] | None
    answer: CubeAnswer | None = None
    split: bool = False
    mask: Mask | None = None
    error: Fraction | None = None


class CubeJournal(Protocol):
    """Where a distributed solve keeps what it proved (the module docstring: the journal).
    ``phase`` is a key that names the phase and its goal exactly (the same across runs)."""

    def restore(self, phase: str) -> list[JournalEntry]:
        """The phase's entries in the order they were recorded."""
        ...

    def record(self, phase: str, entry: JournalEntry) -> None:
        """Keep ``entry`` (committed before it returns: a crash after it loses nothing)."""
        ...


def _decisions_key(decisions: dict[int, bool]) -> tuple[tuple[int, bool], ...]:
    return tuple(sorted((int(u), bool(v)) for u, v in decisions.items()))


@dataclass
class DistributedResult:
    result: SolveResult
    rule: str
    split_units: list[int]  # the ranking's first units, the root cubes' decisions
    cubes: list[CubeReport] = field(default_factory=list)
    workers: int = 0
    restored: int = 0  # cubes taken from the journal, not solved again

    @property
    def cpu_seconds(self) -> float:
        return sum(cube.cpu_seconds for cube in self.cubes)

    @property
    def closed_late(self) -> int:
        """How many cubes a cutoff published while they ran closed (cube_task.LiveCutoff)."""
        return sum(cube.late_cutoff for cube in self.cubes)


def _cube_on_worker(
    problem, params, fixed, state_name, stop_name, ends_at, goal, live_cutoffs=True
) -> CubeAnswer:
    """The Dask task: read the cutoff, watch the stop Event (and, ``live_cutoffs``, a min_error
    phase's Variable for better errors published while the cube runs: cube_task.LiveCutoff),
    solve the cube. ``ends_at``: the solve's deadline as wall-clock time (time.time(),
    comparable across the cluster's hosts, unlike time.monotonic()), None for none: a cube that
    waited in the queue gets only what is left of it, at most its slice. A task whose worker
    dies is run again by Dask from the start (it holds nothing the Variable does not)."""
    from distributed import Event, Variable, get_client

    if ends_at is not None:
        left = max(0.0, ends_at - time.time())
        params = dataclasses.replace(
            params, time_limit_seconds=min(params.time_limit_seconds or left, left) or 1e-9
        )
    client = get_client()
    variable = Variable(state_name, client=client)
    # A timeout: a cube that starts after its phase ended (the driver raised and deleted the
    # Variable) ends instead of holding its worker.
    shared = variable.get(timeout=VARIABLE_WAIT_SECONDS)
    incumbent = list(shared["choice"]) if shared["choice"] is not None else None
    cutoff = None
    if shared["value"] is not None:
        cutoff = int(shared["value"]) if goal.min_kept else Fraction(shared["value"])
    stop = threading.Event()
    done = threading.Event()
    remote = Event(stop_name, client=client)
    live = None
    if live_cutoffs and not goal.min_kept:
        live = LiveCutoff(Fraction(params.effective_tolerance), stop, cutoff)

    def watch() -> None:
        while not done.is_set():
            try:
                if remote.is_set():
                    stop.set()
                    return
            except Exception:  # the driver has gone: nothing to relay to
                return
            if live is not None:
                try:
                    latest = variable.get(timeout=POLL_SECONDS)["value"]
                except Exception:  # deleted with its phase, or the scheduler is busy: later
                    latest = None
                if latest is not None:
                    live.offer(Fraction(latest))
            done.wait(POLL_SECONDS)

    threading.Thread(target=watch, daemon=True).start()
    try:
        return solve_cube(problem, params, fixed, incumbent, cutoff, stop, goal, live)
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


def solve_cubes_on(scheduler: str, problem: Problem, params: SolveParameters, **options):
    """solve_cubes on the Dask cluster at ``scheduler`` (an address), with the cube count and
    split rule of ``params.distributed``; ``options`` go to solve_cubes. The client is this
    process's default while it lives: distributed.wait, which the driver uses, asks for the
    default client, not the futures'. A scheduler unreachable, or lost during the solve, is a
    ClusterUnavailableError naming it."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=DASK_CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailableError(
            f"the job cluster's Dask scheduler ({scheduler}) cannot be reached: {exc}"
        ) from exc
    try:
        return solve_cubes(
            problem,
            params,
            cubes=params.distributed.cubes,
            rule=params.distributed.cube_rule,
            client=client,
            cube_threads=params.distributed.cube_threads or None,
            **options,
        )
    except Exception as exc:
        # A lost scheduler shows as a CommClosedError (an OSError) or as futures the client
        # cancelled (FuturesCancelledError), often before the client's status says so; Dask's
        # words do not say which cluster went away. Any other error is the solve's own.
        lost = isinstance(exc, OSError | concurrent.futures.CancelledError)
        if not lost and client.status == "running":
            raise
        raise ClusterUnavailableError(
            f"the job cluster's Dask scheduler ({scheduler}) went away during the solve: {exc}"
        ) from exc
    finally:
        client.close()


def cube_backend(params: SolveParameters) -> Backend:
    """The backend a distributed solve's cubes use: one that fixes units exactly
    (BackendOptions.fixed_units); any other is refused naming parameters.backend."""
    backend = get_backend(params.backend)
    if not backend.fixes_units:
        raise InvalidProblemError(
            FieldViolation(
                "parameters.backend",
                f"backend {backend.name!r} cannot solve cubes; use cpsat, scip, highs or cbc",
                "--backend",
            )
        )
    return backend


def validate_distributed(problem: Problem, params: SolveParameters, cubes: int, rule: str) -> None:
    bad = []
    if not isinstance(problem.objective, MinError | MinKept | Pareto):
        bad.append(
            FieldViolation(
                "problem.objective",
                "a distributed solve answers min_error, min_kept and pareto",
                "--distributed",
            )
        )
    for name in ("heuristic", "continuous", "cross_check"):
        if getattr(params, name) is not None:
            bad.append(parameter_violation(f"parameters.{name}", "not with a distributed solve"))
    net = problem.network
    patterns = weight_patterns(net.n, net.d, net.outputs)
    if problem.pruning == PruningMode.WEIGHTS and patterns > DEFAULT_LIMITS.max_weight_candidates:
        # Cubes fix units in the pattern model (BackendOptions.fixed_units); the per-weight
        # route (docs/design.md §15) has no cube support yet.
        bad.append(
            FieldViolation(
                "parameters.distributed",
                f"cubes need weights mode's pattern model, and n * 2^d * (2^k - 1) = {patterns} "
                f"patterns is over its limit of {DEFAULT_LIMITS.max_weight_candidates}; solve "
                "without --distributed (the per-weight formulation)",
                "--distributed",
            )
        )
    bad += DistributedParameters(cubes, rule).violations()  # one place for these checks
    if bad:
        raise InvalidProblemError(bad)


@dataclass
class _Cube:
    fixed: dict[int, bool]
    floor: Fraction | int  # a bound inherited from its parent
    report: CubeReport | None = None
    answer: CubeAnswer | None = None

    def bound(self) -> Fraction | int | float:
        """Its rigorous bound: its own answer's, at least the inherited one."""
        own = self.answer.bound if self.answer is not None else 0
        return max(self.floor, own)


@dataclass
class _Best:
    """The best certified mask of a phase and its model choice (cert None: none yet)."""

    cert: MaskCertificate | None = None
    choice: list[int] | None = None


@dataclass
class _Conquest:
    """One distributed solve's shared state across its phases."""

    run: Run
    params: SolveParameters
    stop: threading.Event | None
    started: float
    order: list[int]
    depth: int
    outcome: DistributedResult
    progress: Callable[[Progress], None] | None
    slice_seconds: float | None
    client: object = None
    own_client: bool = False
    problem_future: object = None
    remote_stop: object = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    phases: int = 0
    live_cutoffs: bool = True  # running cubes hear of better errors (cube_task.LiveCutoff)
    journal: CubeJournal | None = None
    running: dict = field(default_factory=dict)  # the phase's cubes not yet returned
    cube_threads: int | None = 1  # solver threads per cube; None: the backend's own choice

    @property
    def deadline(self) -> float | None:
        limit = self.params.time_limit_seconds
        return None if not limit else self.started + float(limit)

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def report(self, **fields) -> None:
        if self.progress is not None:
            self.progress(Progress(elapsed_seconds=time.monotonic() - self.started, **fields))

    def connect(self, client) -> None:
        """The cluster, its stop Event and the scattered problem, on the first phase."""
        if self.problem_future is not None:
            return
        from distributed import Event

        if client is None:
            client, self.own_client = local_cluster(), True
        self.client = client
        self.outcome.workers = len(client.nthreads())
        self.remote_stop = Event(f"prunecert-stop-{self.token}", client=client)
        self.problem_future = client.scatter(self.run.problem, broadcast=True)
        limit = self.params.time_limit_seconds
        if self.slice_seconds is None:
            self.slice_seconds = (
                DEFAULT_SLICE_SECONDS if not limit else max(MIN_SLICE_SECONDS, float(limit) / 3)
            )

    def close(self) -> None:
        if self.remote_stop is not None:
            try:
                # "finished"/"error": the task returned. A future the client cancelled (it lost
                # the scheduler) may still be running on its worker: it must hear the stop.
                if any(f.status not in ("finished", "error") for f in self.running):
                    self.remote_stop.set()  # a driver that raised: its running cubes stop
                else:
                    # Every cube has returned. distributed keeps a set Event until it is
                    # cleared: clearing frees a stop's Event on a long-lived job cluster.
                    self.remote_stop.clear()
            except Exception:  # the cluster has gone: nothing is left to stop or free
                log.debug("the stop Event could not be set or cleared", exc_info=True)
        if self.own_client:
            cluster = self.client.cluster
            self.client.close()
            cluster.close()

    # -- one phase -------------------------------------------------------------------------
    def conquer(self, goal: CubeGoal, best: _Best, label: str) -> tuple[list[_Cube], _Best]:
        """Solve ``goal`` as cubes from the incumbent ``best``; returns the leaves (each with
        its answer, or none if it never ran) and the best certified mask found."""
        from distributed import Variable

        self.phases += 1
        shared = Variable(f"prunecert-cubes-{self.token}-{self.phases}", client=self.client)
        try:
            return self._conquer(goal, best, label, shared)
        finally:
            try:
                shared.delete()  # a long-lived job cluster would keep it otherwise
            except Exception:  # the cluster has gone: nothing is left to free
                log.debug("the phase's Variable could not be deleted", exc_info=True)

    def _conquer(
        self, goal: CubeGoal, best: _Best, label: str, shared
    ) -> tuple[list[_Cube], _Best]:
        from distributed import wait

        run, tol = self.run, Fraction(self.params.effective_tolerance)
        # The phase's key: its place in the solve and its goal, exactly (the threshold of a
        # min_kept phase as a fraction), so a journal entry is only ever read for its own goal.
        phase = f"{self.phases}|{label}|{goal.max_kept}|{goal.max_error}"
        journal = self.journal

        def value(cert: MaskCertificate | None):
            if cert is None:
                return None
            return cert.kept if goal.min_kept else str(cert.error)

        def publish() -> None:
            shared.set({"value": value(best.cert), "choice": best.choice})
            if journal is not None and best.cert is not None:
                journal.record(
                    phase, JournalEntry(None, mask=best.cert.mask, error=best.cert.error)
                )

        def improves(cert: MaskCertificate) -> bool:
            if not goal.min_kept:
                return cert.error < best.cert.error
            return cert.error <= goal.max_error and (
                best.cert is None or (cert.kept, cert.error) < (best.cert.kept, best.cert.error)
            )

        def beats_cutoff(bound) -> bool:
            """Whether a cube with this bound may still hold a better mask than the best."""
            if best.cert is None:
                return True
            if goal.min_kept:
                return bound < best.cert.kept
            return bound < best.cert.error - tol

        journalled: dict = {}  # decisions -> the cube's last JournalEntry
        if journal is not None:
            for entry in journal.restore(phase):
                if entry.mask is not None:
                    # Re-certified exactly on this run's problem: the journal is not trusted.
                    cert = run.domain.certify(entry.mask)
                    if improves(cert):
                        best = _Best(cert, run.model.choice(cert.mask))
                if entry.decisions is not None and entry.answer is not None:
                    journalled[_decisions_key(entry.decisions)] = entry
        publish()
        leaves: list[_Cube] = []
        running: dict = {}  # future -> _Cube
        self.running = running

        def submit(cube: _Cube) -> None:
            if goal.max_kept is not None and min_live_cost(run.model, cube.fixed) > goal.max_kept:
                cube.report = CubeReport(cube.fixed, "empty", math.inf, None, None, 0.0, 0.0, label)
                return  # no mask meets its decisions within the budget
            deadline = self.deadline
            left = None if deadline is None else deadline - time.monotonic()
            cube_limit = (
                self.slice_seconds if left is None else max(0.0, min(self.slice_seconds, left))
            )
            # One solver thread per cube unless asked: a worker runs one cube at a time on one
            # core, and the cubes' CPU time is then the work they did. cube_threads None gives
            # each cube the backend's own portfolio (on two cores CP-SAT's lower-bound worker,
            # docs/design.md §16), for a cluster of one worker per machine.
            cube_params = dataclasses.replace(
                self.params,
                time_limit_seconds=cube_limit,
                threads=self.params.threads or self.cube_threads,
            )
            ends_at = None if left is None else time.time() + left  # for the workers' clocks
            future = self.client.submit(
                _cube_on_worker,
                self.problem_future,
                cube_params,
                cube.fixed,
                shared.name,
                self.remote_stop.name,
                ends_at,
                goal,
                self.live_cutoffs,
                pure=False,
            )
            running[future] = cube

        def place(cube: _Cube) -> None:
            """Submit ``cube``, or take it from the journal (the module docstring: a closed
            or proven leaf as it was, a split cube as its children, an open leaf solved again
            from its bound)."""
            entry = journalled.pop(_decisions_key(cube.fixed), None)
            if entry is None:
                submit(cube)
                return
            answer = dataclasses.replace(entry.answer, chosen=None)
            free = [u for u in self.order if u not in cube.fixed]
            if answer.state == CubeState.OPEN and not (entry.split and free):
                cube.floor = max(cube.floor, answer.bound)  # proven for its masks: kept
                submit(cube)
                return
            cube.answer = answer
            bound = cube.bound()
            cube.report = _report(cube, answer, bound, label)
            self.outcome.restored += 1
            if answer.state == CubeState.OPEN:  # split in the journalled run: its children
                cube.report.state = "split"
                leaves.remove(cube)
                self.outcome.cubes.append(cube.report)
                for alive in (True, False):
                    child = _Cube({**cube.fixed, free[0]: alive}, bound)
                    leaves.append(child)
                    place(child)

        roots = self.order[: self.depth]
        for values in itertools.product((True, False), repeat=len(roots)):
            cube = _Cube(dict(zip(roots, values, strict=True)), 0)
            leaves.append(cube)
            place(cube)
        while running:
            if self.stopped():
                self.remote_stop.set()
            try:
                # wait() looks up the default client; ours need not be the process's default.
                with self.client.as_current():
                    finished = wait(
                        list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED"
                    )
            except TimeoutError:
                continue
            for future in finished.done:
                cube = running.pop(future)
                answer = future.result()
                cube.answer = answer
                bound = cube.bound()
                cube.report = _report(cube, answer, bound, label)
                if answer.chosen is not None:
                    cert = run.domain.certify(run.model.mask(answer.chosen))  # re-checked here
                    if improves(cert):
                        best = _Best(cert, list(answer.chosen))
                        publish()
                open_ = [c for c in leaves if c.report is None or c.report.state == "open"]
                self.report(
                    kept=None if best.cert is None else best.cert.kept,
                    error=None if best.cert is None else float(best.cert.error),
                    bound=None if goal.min_kept else float(_global_bound(leaves, 0)),
                    message=f"{label}: {len(running)} cubes running, {len(open_)} open",
                )
                deadline = self.deadline
                left = None if deadline is None else deadline - time.monotonic()
                free = [u for u in self.order if u not in cube.fixed]
                if (
                    answer.state == CubeState.OPEN
                    and beats_cutoff(bound)
                    and free
                    and not self.stopped()
                    and (left is None or left > MIN_SLICE_SECONDS)
                ):
                    cube.report.state = "split"
                if journal is not None and not self.stopped():
                    # After the split decision: a crash before it reruns this cube, never
                    # half-records it. A stopped solve's answers are not proofs to keep.
                    mask = None if answer.chosen is None else run.model.mask(answer.chosen)
                    entry = JournalEntry(
                        dict(cube.fixed),
                        dataclasses.replace(answer, chosen=None),
                        cube.report.state == "split",
                        mask,
                        answer.error,
                    )
                    journal.record(phase, entry)
                if cube.report.state == "split":
                    leaves.remove(cube)
                    self.outcome.cubes.append(cube.report)
                    for alive in (True, False):
                        child = _Cube({**cube.fixed, free[0]: alive}, bound)
                        leaves.append(child)
                        submit(child)
        for cube in leaves:
            if cube.report is None:
                cube.report = CubeReport(
                    cube.fixed, "cancelled", float(cube.floor), None, None, 0.0, 0.0, label
                )
            self.outcome.cubes.append(cube.report)
        return leaves, best

    # -- the goals -------------------------------------------------------------------------
    def min_error(
        self, client, max_kept: int | None, hint: list[int] | None = None
    ) -> MinErrorOutcome:
        """A distributed min_error solve with at most ``max_kept`` kept (``hint``: a choice
        within the budget, e.g. the previous frontier point's)."""
        run, tol = self.run, Fraction(self.params.effective_tolerance)
        starts = starting_choices(run, max_kept, search=hint is None)
        if hint is not None:
            starts.append(hint)
        choice = min(starts, key=lambda c: start_error(run, c))
        cert = run.domain.certify(run.model.mask(choice))
        self.report(kept=cert.kept, error=float(cert.error), message="starting mask")
        if cert.error <= tol:
            detail = "a starting mask's exact error is within the tolerance of 0, a lower bound"
            return MinErrorOutcome(SolveStatus.OPTIMAL, cert, choice, Fraction(0), detail)
        self.connect(client)
        label = "min_error" if max_kept is None else f"min_error kept<={max_kept}"
        leaves, best = self.conquer(CubeGoal(max_kept=max_kept), _Best(cert, choice), label)
        cert, choice = best.cert, best.choice
        bound = _global_bound(leaves, cert.error)
        if bound > cert.error:
            detail = "a cube's bound lies above a certified mask's error; its proof is refuted"
            return MinErrorOutcome(SolveStatus.FEASIBLE, cert, choice, Fraction(0), detail)
        if self.stopped():
            return MinErrorOutcome(SolveStatus.CANCELLED, cert, choice, bound, "cancelled")
        if cert.error - bound <= tol:
            return MinErrorOutcome(SolveStatus.OPTIMAL, cert, choice, bound, "")
        detail = "time limit reached before every cube was closed"
        return MinErrorOutcome(SolveStatus.FEASIBLE, cert, choice, bound, detail)

    def min_kept(
        self, client, eps: Fraction, hint: list[int] | None = None
    ) -> tuple[_Best, int | float]:
        """A distributed min_kept solve with threshold ``eps``: the best certified mask within
        it (cert None: none found) and the global kept bound L (math.inf: no mask within eps)."""
        run = self.run
        best = _Best()
        tried = [] if hint is None else [hint]
        tried.append(greedy_forward(run.model, max_error=float(eps), deadline=run.search_deadline))
        for choice in tried:
            cert = run.domain.certify(run.model.mask(choice))
            if cert.error <= eps and (best.cert is None or cert.kept < best.cert.kept):
                best = _Best(cert, list(choice))
        if best.cert is None:
            full = run.domain.certify(Mask.full(run.problem))
            if full.error <= eps:
                best = _Best(full, run.model.choice(full.mask))
        if best.cert is not None and best.cert.kept == 0:
            return best, 0  # every count is >= 0
        self.connect(client)
        leaves, best = self.conquer(
            CubeGoal(max_error=eps), best, f"min_kept error<={exact.round_up(eps):.10g}"
        )
        return best, _global_bound(leaves, math.inf)

    def sparsest(self, client, cert: MaskCertificate, choice: list[int] | None):
        """The fewest kept among masks at most as bad as ``cert`` (the sparsest step, docs/
        design.md §2), distributed: (certificate, choice, the kept claim for ``detail``, whether
        the count is proven the fewest)."""
        limit = cert.error
        if cert.kept == 0:
            return cert, choice, kept_claim(0, limit), True
        if self.run.out_of_time() or self.stopped():
            why = "time limit" if not self.stopped() else "cancelled"
            return cert, choice, kept_unproven(cert.kept, None, limit, why), False
        found, bound = self.min_kept(client, limit, choice)
        if found.cert is not None and (found.cert.kept, found.cert.error) < (cert.kept, cert.error):
            cert, choice = found.cert, found.choice
        if self.stopped():
            return cert, choice, kept_unproven(cert.kept, None, limit, "cancelled"), False
        if bound > cert.kept:  # the mask itself meets the threshold
            why = "a cube's count proof was refuted"
            return cert, choice, kept_unproven(cert.kept, None, limit, why), False
        if bound == cert.kept:
            return cert, choice, kept_claim(cert.kept, limit), True
        reason = "time limit" if self.run.out_of_time() else "the rounding of the model's numbers"
        return cert, choice, kept_unproven(cert.kept, bound, limit, reason), False


def _report(cube: _Cube, answer: CubeAnswer, bound, label: str) -> CubeReport:
    if isinstance(bound, int | float):
        shown = float(bound)
    else:
        shown = exact.round_down(bound) if bound else 0.0
    cutoff = answer.cutoff
    if cutoff is not None and not isinstance(cutoff, int):
        cutoff = exact.round_down(cutoff)
    return CubeReport(
        cube.fixed,
        answer.state,
        shown,
        None if answer.error is None else exact.round_up(answer.error),
        cutoff,
        answer.seconds,
        answer.cpu_seconds,
        label,
        answer.kept,
        answer.late_cutoff,
    )


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
    live_cutoffs: bool = True,
    journal: CubeJournal | None = None,
    cube_threads: int | None = 1,
) -> DistributedResult:
    """Solve ``problem`` (min_error, min_kept or pareto) as cubes on ``client`` (None: a local
    cluster with one worker per core, closed at the end). See the module docstring for the
    certificate of each objective. ``live_cutoffs`` False: cubes read the cutoff only when they
    start (bench/distributed.py measures the difference). ``journal``: where finished cubes and
    incumbents are recorded, and restored from first (the module docstring: the journal).
    ``cube_threads``: solver threads per cube when the parameters name none (None: the
    backend's own portfolio, as a monolithic solve would run)."""
    started = time.monotonic()
    params = parameters or SolveParameters()
    validate_problem(problem, DEFAULT_LIMITS)
    validate_parameters(params)
    validate_distributed(problem, params, cubes, rule)
    if cube_threads is not None and cube_threads < 1:
        raise InvalidProblemError(
            FieldViolation("cube_threads", f"must be at least 1, or None, not {cube_threads}")
        )
    backend = cube_backend(params)
    objective = problem.objective
    try:
        run = Run(problem, params, progress, stop, started=started)
    except DeadlineReached:
        empty = SolveResult(SolveStatus.NO_SOLUTION, detail="time limit reached while building")
        return DistributedResult(empty, rule, [])
    run.use(backend)
    budget = objective.max_kept if isinstance(objective, MinError | Pareto) else None
    order = split_order(rule, run.model, budget)
    depth = min(len(order), max(1, math.ceil(math.log2(cubes))))
    outcome = DistributedResult(SolveResult(SolveStatus.NO_SOLUTION), rule, order[:depth])
    conquest = _Conquest(run, params, stop, started, order, depth, outcome, progress, slice_seconds)
    conquest.live_cutoffs = live_cutoffs
    conquest.journal = journal
    conquest.cube_threads = cube_threads
    try:
        if isinstance(objective, MinError):
            outcome.result = _solve_min_error(conquest, client, objective)
        elif isinstance(objective, MinKept):
            outcome.result = _solve_min_kept(conquest, client, objective)
        else:
            outcome.result = _solve_pareto(conquest, client, objective)
    finally:
        conquest.close()
    run.stats.solver_calls = run.stats.rounds = len(outcome.cubes)
    return outcome


def _solve_min_error(conquest: _Conquest, client, objective: MinError) -> SolveResult:
    run = conquest.run
    found = conquest.min_error(client, objective.max_kept)
    cert, detail = found.certificate, found.detail
    bound_f = exact.round_down(found.bound)
    if run.params.sparsest is not False and found.status in (
        SolveStatus.OPTIMAL,
        SolveStatus.FEASIBLE,
    ):
        # Fewer kept at the same or a lower error: the error claim stands (docs/design.md §2).
        cert, _, claim, _ = conquest.sparsest(client, cert, found.choice)
        detail = join_details(detail, claim)
    return run.result(found.status, cert, bound_f, rounded_gap(cert.error_upper, bound_f), detail)


def _solve_min_kept(conquest: _Conquest, client, objective: MinKept) -> SolveResult:
    run = conquest.run
    eps = Fraction(objective.max_error)
    best, bound = conquest.min_kept(client, eps)
    cert = best.cert
    if cert is None:
        if conquest.stopped():
            return run.result(SolveStatus.CANCELLED, None, 0.0, 0.0, "cancelled")
        if bound == math.inf:
            detail = f"no mask reaches max_error {objective.max_error:g}, not even the full network"
            return run.result(SolveStatus.INFEASIBLE, None, 0.0, 0.0, detail)
        detail = (
            "time limit reached before a mask within max_error was found"
            if run.out_of_time()
            else "max_error lies within the fixed-point rounding of the least achievable error; "
            "no mask was certified to reach it"
        )
        return run.result(SolveStatus.NO_SOLUTION, None, float(bound), 0.0, detail)
    if bound > cert.kept:
        detail = "a cube's count bound lies above a certified mask's count; its proof is refuted"
        return run.result(SolveStatus.FEASIBLE, cert, 0.0, float(cert.kept), detail)
    if conquest.stopped():
        return run.result(SolveStatus.CANCELLED, cert, float(bound), 0.0, "cancelled")
    if cert.kept == bound:
        return run.result(SolveStatus.OPTIMAL, cert, float(bound), 0.0, "")
    reason = "time limit reached" if run.out_of_time() else "the rounding of the model's numbers"
    detail = f"kept {cert.kept}, proven lower bound {bound} ({reason} before every cube closed)"
    return run.result(SolveStatus.FEASIBLE, cert, float(bound), float(cert.kept - bound), detail)


def _solve_pareto(conquest: _Conquest, client, objective: Pareto) -> SolveResult:
    """solver.engine.objectives.sweep_pareto with each min_error (and each sparsest step)
    distributed."""

    def sparsest_best(best: MinErrorOutcome) -> MinErrorOutcome:
        cert, choice, _, _ = conquest.sparsest(client, best.certificate, best.choice)
        return dataclasses.replace(best, certificate=cert, choice=choice)

    steps = ParetoSteps(
        min_error=lambda budget, hint: conquest.min_error(client, budget, hint),
        sparsest_best=sparsest_best,
        sparsest_frontier=lambda frontier, choices, solved: _sparsest_frontier(
            conquest, client, frontier, choices, solved
        ),
        stopped=conquest.stopped,
    )
    return sweep_pareto(conquest.run, objective, steps)


def _sparsest_frontier(conquest: _Conquest, client, frontier, choices, solved) -> str:
    """solver.engine.sparsest.sparsest_frontier with each min_kept distributed: each point
    replaced by the fewest kept among masks at most as bad (its error bound stays valid: fewer
    kept cannot beat the point's budget)."""
    unproven = []
    points = list(frontier)
    for i, point in enumerate(points):
        if point.kept == 0:
            continue
        cert = conquest.run.domain.certify(point.mask)
        cert, _, _, proven = conquest.sparsest(client, cert, choices.get(id(point.mask)))
        if cert.kept < point.kept:
            solved.append(cert)
            points[i] = dataclasses.replace(
                point, kept=cert.kept, error=cert.error_upper, mask=cert.mask
            )
        if not proven:
            unproven.append(f"kept {points[i].kept}")
    return replace_frontier(frontier, points, unproven)


def _global_bound(leaves: list[_Cube], default):
    """min over the leaf cubes of their bounds (an unfinished cube: its inherited floor; an
    empty one: none); ``default`` when every leaf is empty. A bound above the best certified
    answer is a refutation the caller checks."""
    bounds = [
        cube.bound() for cube in leaves if cube.report is None or cube.report.state != "empty"
    ]
    return min(bounds, default=default)
