"""Cube and conquer (solver.engine.cubes, docs/design.md §16) on a real Dask LocalCluster with two
workers: the distributed optimum equals the monolithic one and the brute force; each backend that
fixes units honours them; a stop ends every cube; a cutoff published while a cube runs reaches
it, and cubes it closes keep the brute-force optimum."""

from __future__ import annotations

import dataclasses
import itertools
import re
import socket
import threading
import time
import uuid
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import REGISTRY
from solver.backends.base import BackendOptions, MinErrorTask
from solver.core.errors import ClusterUnavailableError, InvalidProblemError
from solver.core.parameters import DistributedParameters, SolveParameters
from solver.core.problem import MinError, MinKept, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.engine.cube_split import SPLIT_RULES, split_order
from solver.engine.cube_task import CubeGoal, CubeState, LiveCutoff, solve_cube
from solver.engine.cubes import _cube_on_worker, local_cluster, solve_cubes, solve_cubes_on
from solver.formulation.columns import build_column_model
from solver.instances.generate import paper_problem
from tests.support.cluster import dask_cluster
from tests.support.reference import all_masks, exact_error, kept

TOL = 1e-6


@pytest.fixture(scope="module")
def client():
    with dask_cluster(2) as client:
        yield client


def _problem(mode: PruningMode, n: int, seed: int, max_kept: int | None = None):
    problem = paper_problem(2, n, seed, mode, points_per_axis=9)
    return dataclasses.replace(problem, objective=MinError(max_kept=max_kept))


def _reference(problem, max_kept=None) -> Fraction:
    return min(
        exact_error(problem, m)
        for m in all_masks(problem)
        if max_kept is None or kept(m) <= max_kept
    )


CASES = [
    (PruningMode.NEURONS, 9, 1, None, "magnitude"),
    (PruningMode.NEURONS, 9, 2, 3, "kink"),
    (PruningMode.NEURONS, 10, 3, None, "lp"),
    (PruningMode.WEIGHTS, 3, 1, None, "magnitude"),
    (PruningMode.WEIGHTS, 3, 2, 4, "lp"),
]


@pytest.mark.parametrize(("mode", "n", "seed", "max_kept", "rule"), CASES)
def test_distributed_optimum_equals_monolithic_and_brute_force(
    client, mode, n, seed, max_kept, rule
):
    problem = _problem(mode, n, seed, max_kept)
    params = SolveParameters(sparsest=False, heuristic_start=False)
    outcome = solve_cubes(problem, params, cubes=4, rule=rule, client=client)
    result = outcome.result
    mono = solve(problem, params)
    best = _reference(problem, max_kept)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert mono.status == SolveStatus.OPTIMAL
    # Certified within the tolerance of the brute force, and the bound never above it.
    assert Fraction(result.objective_bound) <= best
    assert Fraction(result.solution.error) - best <= Fraction(TOL)
    assert abs(result.solution.error - mono.solution.error) <= TOL
    assert exact_error(problem, result.solution.mask) <= Fraction(result.solution.error)
    if max_kept is not None:
        assert kept(result.solution.mask) <= max_kept
    # The leaves cover the choices: unless the start was already optimal, 4 root cubes ran.
    if outcome.cubes:
        assert {tuple(sorted(c.decisions)) for c in outcome.cubes} >= {
            tuple(sorted(outcome.split_units))
        }
        assert all(c.bound <= result.solution.error for c in outcome.cubes if c.state != "empty")


def test_a_cube_without_the_optimum_is_closed_by_the_cutoff(client):
    # Neurons n = 9: every cube reports a bound, and the one holding the optimum a mask.
    problem = _problem(PruningMode.NEURONS, 9, 4)
    params = SolveParameters(sparsest=False, heuristic_start=False)
    outcome = solve_cubes(problem, params, cubes=8, client=client)
    assert outcome.result.status == SolveStatus.OPTIMAL
    assert len(outcome.cubes) >= 8
    states = {c.state for c in outcome.cubes}
    assert states <= {"optimal", "closed", "split"}


@pytest.mark.parametrize("name", ["cpsat", "scip", "highs", "cbc"])
@pytest.mark.parametrize("mode", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_fixed_units_are_respected_by_each_backend(name, mode):
    cls = REGISTRY[name]
    if not cls.available():
        pytest.skip(f"{name} is not installed")
    n = 7 if mode == PruningMode.NEURONS else 3
    problem = _problem(mode, n, 5)
    model = build_column_model(problem, drop_dominated=True)
    units = split_order("magnitude", model)[:2]
    for fixed in ({units[0]: True, units[1]: False}, {units[0]: False, units[1]: True}):
        outcome = cls().solve(
            model,
            np.arange(model.num_points),
            MinErrorTask(),
            BackendOptions(fixed_units=fixed, tolerance=TOL),
        )
        live = {model.candidates[c].unit for c in outcome.chosen}
        assert all((u in live) == alive for u, alive in fixed.items())
        # The bound is about the cube: at most the cube's brute-force optimum, and the choice
        # is within the tolerance of it.
        in_cube = [
            exact_error(problem, m)
            for m in all_masks(problem)
            if all((_live(m, u)) == alive for u, alive in fixed.items())
        ]
        cube_best = min(in_cube)
        assert outcome.error_bound <= cube_best
        chosen_error = exact_error(problem, model.mask(outcome.chosen))
        assert chosen_error - cube_best <= Fraction(TOL) + _resolution(outcome)


def _live(mask, unit: int) -> bool:
    if mask.neurons is not None:
        return bool(mask.neurons[unit])
    return bool(
        np.asarray(mask.output_weights, dtype=bool)
        .reshape(-1, len(mask.hidden_weights))[:, unit]
        .any()
    )


def _resolution(outcome) -> Fraction:
    # CP-SAT's first level resolves about candidates / scale (docs/design.md §7).
    return Fraction(64, outcome.scale) if outcome.scale else Fraction(0)


def test_meet_in_the_middle_refuses_fixed_units():
    problem = paper_problem(1, 6, 1, PruningMode.NEURONS)
    model = build_column_model(problem, drop_dominated=True)
    backend = REGISTRY["meet-in-the-middle"]()
    unit = model.candidates[0].unit
    with pytest.raises(InvalidProblemError, match="cannot fix units"):
        backend.solve(
            model,
            np.arange(model.num_points),
            MinErrorTask(),
            BackendOptions(fixed_units={unit: True}),
        )


def test_split_rules_rank_every_unit():
    problem = _problem(PruningMode.NEURONS, 9, 1)
    model = build_column_model(problem, drop_dominated=True)
    units = {model.candidates[g[0]].unit for g in model.groups}
    for rule in SPLIT_RULES:
        assert sorted(split_order(rule, model)) == sorted(units)


def test_bad_requests_name_their_field(client):
    # Every objective is accepted (tests/engine/test_cubes_objectives.py); a bad cube count, an
    # unknown rule and a parameter a distributed solve does not take are refused together.
    problem = dataclasses.replace(
        _problem(PruningMode.NEURONS, 6, 1), objective=MinKept(max_error=0.5)
    )
    params = SolveParameters(cross_check="highs")
    with pytest.raises(InvalidProblemError) as caught:
        solve_cubes(problem, params, cubes=1, rule="nope", client=client)
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "parameters.cross_check",
        "parameters.distributed.cubes",
        "parameters.distributed.cube_rule",
    }


def test_a_stop_stops_every_cube(client):
    # Neurons n = 64 takes far longer than this test to prove; the stop comes with the first
    # progress event, before the cubes start, and every cube must end unfinished.
    problem = paper_problem(2, 64, 1, PruningMode.NEURONS)
    stop = threading.Event()
    outcome = solve_cubes(
        problem,
        SolveParameters(sparsest=False, heuristic_start=False),
        cubes=4,
        client=client,
        stop=stop,
        progress=lambda _event: stop.set(),
    )
    assert outcome.result.status == SolveStatus.CANCELLED
    assert outcome.result.solution is not None  # the certified starting mask at least
    assert outcome.cubes
    assert all(c.state in ("open", "cancelled") for c in outcome.cubes)
    # The stop's Event is freed on the scheduler once every cube has returned.
    events = client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.extensions["events"]._events]
    )
    assert not [name for name in events if name.startswith("prunecert-stop-")]


def test_weights_mode_over_the_pattern_limit_is_refused_before_any_cluster():
    # d = 16, n = 2: 131,072 patterns, over the pattern model's limit; the per-weight route has
    # no cubes, so a distributed solve is refused naming --distributed (no cluster is started:
    # client=None would start one after validation).
    problem = paper_problem(16, 2, 1, PruningMode.WEIGHTS, points_per_axis=2)
    with pytest.raises(InvalidProblemError) as info:
        solve_cubes(problem, SolveParameters(time_limit_seconds=5))
    [violation] = info.value.violations
    assert violation.field == "parameters.distributed" and violation.flag == "--distributed"
    assert "131072 patterns" in violation.description


def _in_cube(mask, fixed) -> bool:
    return all(_live(mask, u) == alive for u, alive in fixed.items())


@pytest.mark.parametrize(
    ("mode", "n", "seed"),
    [(PruningMode.NEURONS, 8, 1), (PruningMode.NEURONS, 8, 5), (PruningMode.WEIGHTS, 3, 1)],
)
def test_cubes_closed_by_a_later_cutoff_keep_the_brute_force_optimum(mode, n, seed):
    # In process, the real CP-SAT: each root cube starts without a cutoff, and the best error E
    # (the brute force's, as if another cube had just published it) reaches its LiveCutoff as
    # it starts; a cube whose search reports a bound >= E - tol stops there and is closed by E
    # (solver/engine/cube_task.py). Every bound stays below the cube's brute-force optimum, and
    # the leaves' least bound still proves E optimal within the tolerance.
    problem = _problem(mode, n, seed)
    params = SolveParameters(sparsest=False, heuristic_start=False, threads=1)
    model = build_column_model(problem, drop_dominated=True)
    units = split_order("magnitude", model)[:2]
    masks = [(m, exact_error(problem, m)) for m in all_masks(problem)]
    best = min(e for _, e in masks)
    tol = Fraction(params.effective_tolerance)
    bounds, late = [], 0
    for values in itertools.product((True, False), repeat=len(units)):
        fixed = dict(zip(units, values, strict=True))
        stop = threading.Event()
        live = LiveCutoff(tol, stop, None)
        live.offer(best)
        answer = solve_cube(problem, params, fixed, None, None, stop, None, live)
        cube_best = min(e for m, e in masks if _in_cube(m, fixed))
        assert answer.bound <= cube_best  # rigorous, whatever stopped the search
        if answer.chosen is not None:
            assert _in_cube(model.mask(answer.chosen), fixed)
            assert answer.error == exact_error(problem, model.mask(answer.chosen))
        if answer.late_cutoff:
            late += 1
            assert answer.state == CubeState.CLOSED
            assert answer.cutoff == best - tol <= answer.bound
        else:
            assert answer.state == CubeState.OPTIMAL
        bounds.append(answer.bound)
    assert late >= 1  # some cube stopped mid-run: the case under test
    assert min(bounds) <= best and best - min(bounds) <= tol


def test_a_cutoff_published_while_a_cube_runs_reaches_it(client):
    # The watcher path on the cluster: the cube (neurons n = 64, which takes far longer than
    # this test to solve) starts with no incumbent; once it runs, the phase's Variable gets a
    # better error, and the cube's watcher hands it to the search, which stops and closes the
    # cube. The published error is 0: the single-threaded search reports no bound above ~1e-8
    # before its proof, so only a cutoff at 0 (U = -tol) is reached mid-run at a known moment;
    # the claim it makes (every mask of the cube errs by >= its bound >= -tol) is still the
    # rigorous one.
    from distributed import Event, Variable

    problem = paper_problem(2, 64, 1, PruningMode.NEURONS)
    model = build_column_model(problem, drop_dominated=True)
    fixed = {split_order("magnitude", model)[0]: True}
    params = SolveParameters(sparsest=False, heuristic_start=False, threads=1)
    params = dataclasses.replace(params, time_limit_seconds=120)
    token = uuid.uuid4().hex
    shared = Variable(f"test-live-{token}", client=client)
    shared.set({"value": None, "choice": None})
    stop = Event(f"test-stop-{token}", client=client)
    future = client.submit(
        _cube_on_worker,
        problem,
        params,
        fixed,
        shared.name,
        stop.name,
        None,
        CubeGoal(),
        True,
        pure=False,
    )
    try:
        ends = time.monotonic() + 60
        while not any(client.processing().values()) and time.monotonic() < ends:
            time.sleep(0.05)
        time.sleep(1.0)  # past its first read of the Variable
        assert not future.done()
        shared.set({"value": "0", "choice": None})
        answer = future.result(timeout=90)
    finally:
        stop.set()
        shared.delete()
    tol = Fraction(params.effective_tolerance)
    assert answer.late_cutoff and answer.state == CubeState.CLOSED
    assert answer.cutoff == -tol <= answer.bound
    if answer.chosen is not None:
        assert answer.bound <= exact_error(problem, model.mask(answer.chosen))


def test_start_only_cutoffs_still_give_the_brute_force_optimum(client):
    # live_cutoffs False: cubes read the cutoff only when they start (the "before" of
    # bench/distributed.py); the answer is the same.
    problem = _problem(PruningMode.NEURONS, 8, 2)
    params = SolveParameters(sparsest=False, heuristic_start=False)
    outcome = solve_cubes(problem, params, cubes=4, client=client, live_cutoffs=False)
    best = _reference(problem)
    assert outcome.result.status == SolveStatus.OPTIMAL, outcome.result.detail
    assert Fraction(outcome.result.objective_bound) <= best
    assert Fraction(outcome.result.solution.error) - best <= Fraction(TOL)
    assert outcome.closed_late == 0


def test_cubes_with_the_backends_own_portfolio_reach_the_monolithic_optimum(client):
    # cube_threads None: each cube runs CP-SAT's own choice (on two cores, for neurons over 32
    # candidates, the full search beside a lower-bound worker, as the monolithic solve does).
    problem = paper_problem(2, 40, 3, PruningMode.NEURONS, points_per_axis=9)
    params = SolveParameters(sparsest=False, heuristic_start=False, time_limit_seconds=120)
    outcome = solve_cubes(problem, params, cubes=4, client=client, cube_threads=None)
    mono = solve(problem, params)
    assert mono.status == SolveStatus.OPTIMAL
    assert outcome.result.status == SolveStatus.OPTIMAL, outcome.result.detail
    assert abs(outcome.result.solution.error - mono.solution.error) <= TOL
    assert outcome.result.objective_bound <= mono.solution.error
    mask = outcome.result.solution.mask
    assert exact_error(problem, mask) <= Fraction(outcome.result.solution.error)


def test_a_scheduler_lost_mid_solve_is_a_cluster_error_naming_it():
    # Its own cluster, closed 3 s into a solve of neurons n = 64 (cubes of about 10 s): Dask's
    # own error (CommClosedError, FuturesCancelledError) becomes one that names the scheduler,
    # UNAVAILABLE over gRPC.
    problem = paper_problem(2, 64, 1, PruningMode.NEURONS)
    params = SolveParameters(
        sparsest=False,
        heuristic_start=False,
        time_limit_seconds=60,
        distributed=DistributedParameters(4, "magnitude"),
    )
    watcher = local_cluster(2)  # closed once, by the timer (distributed fails a second close)
    address = watcher.scheduler.address
    closing = threading.Timer(3.0, watcher.cluster.close)
    closing.start()
    began = time.monotonic()
    try:
        with pytest.raises(ClusterUnavailableError, match=re.escape(address)) as caught:
            solve_cubes_on(address, problem, params)
    finally:
        closing.join()
        watcher.close()
    assert "went away during the solve" in str(caught.value)
    assert time.monotonic() - began < 45


def test_an_unreachable_scheduler_is_a_cluster_error_naming_it():
    problem = _problem(PruningMode.NEURONS, 8, 1)
    params = SolveParameters(distributed=DistributedParameters(4, "magnitude"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    with pytest.raises(ClusterUnavailableError, match="cannot be reached") as caught:
        solve_cubes_on(address, problem, params)
    assert address in str(caught.value)
