"""Every installed backend against the brute force, all backends against each other, and the
safety machinery of the floating-point backends (solver/backends/floatmip.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import REGISTRY, available_backends, floatmip, general_backends, get_backend
from solver.backends.base import (
    BackendOptions,
    BackendStatus,
    MinErrorTask,
    MinKeptTask,
    task_for,
)
from solver.core.errors import BackendUnavailableError, UnrepresentableError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    MinError,
    MinKept,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.formulation.columns import build_column_model
from solver.instances.generate import paper_problem
from tests.support.problems import random_problem
from tests.support.reference import exact_error, table

TOL = Fraction(1, 10**6)
# The backends that are not special-purpose: the general (MIP) ones, which accept every complete
# model and task, and the per-weight backend, which accepts weights mode only (each test asks
# ``accepts``). Meet in the middle, the special-purpose one, is tested on its separable problems
# in test_separable.py.
BACKENDS = [name for name, cls in REGISTRY.items() if not cls.special_purpose]
MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]


def require(backend: str) -> None:
    if backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed")


def accepts(backend: str, problem: Problem) -> bool:
    """Whether ``backend`` takes ``problem``'s first task on the model solve() builds for it
    (the lazy column model for a backend with a formulation of its own)."""
    cls = REGISTRY[backend]
    lazy = problem.pruning == PruningMode.WEIGHTS and not cls.solves_columns()
    return cls.accepts(build_column_model(problem, lazy=lazy), task_for(problem))


def require_accepts(backend: str, problem: Problem) -> None:
    require(backend)
    if not accepts(backend, problem):
        pytest.skip(f"backend {backend} does not accept this problem")


def installed() -> list[str]:
    return [name for name in available_backends() if name in BACKENDS]


# -- each backend against the brute force -------------------------------------------------------


def check_min_error(problem, ref, backend, max_kept=None, **params):
    problem = dataclasses.replace(problem, objective=MinError(max_kept=max_kept))
    result = solve(problem, SolveParameters(backend=backend, **params))
    assert result.status == SolveStatus.OPTIMAL, result.detail
    opt = ref.min_error(max_kept)
    true_error = exact_error(problem, result.solution.mask)
    assert true_error <= Fraction(result.solution.error) <= true_error + Fraction(1, 10**15)
    assert true_error - opt <= TOL
    assert Fraction(result.objective_bound) <= opt
    if max_kept is not None:
        assert result.solution.kept <= max_kept
    return result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(30))
def test_backend_matches_brute_force(backend, seed):
    rng = np.random.default_rng(7000 + seed)
    problem = random_problem(rng, MODES[seed % 2])
    require_accepts(backend, problem)
    ref = table(problem)
    check_min_error(problem, ref, backend)
    budget = int(rng.integers(0, problem.max_kept_possible() + 1))
    check_min_error(problem, ref, backend, max_kept=budget)

    errors = sorted({e for _, e, _ in ref.entries})
    choices = [(a + b) / 2 for a, b in zip(errors, errors[1:], strict=False)] + [errors[-1] + 1]
    max_error = float(choices[int(rng.integers(0, len(choices)))])
    p = dataclasses.replace(problem, objective=MinKept(max_error=max_error))
    result = solve(p, SolveParameters(backend=backend))
    want = ref.min_kept(Fraction(max_error))
    assert want is not None
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert result.solution.kept == want
    assert result.objective_bound == want
    assert exact_error(p, result.solution.mask) <= Fraction(max_error)


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_kept_infeasible_below_the_best_error(backend):
    from tests.support.catalogue import _relu_output

    problem = dataclasses.replace(_relu_output(), objective=MinKept(max_error=0.5))
    require_accepts(backend, problem)
    result = solve(problem, SolveParameters(backend=backend))
    assert result.status == SolveStatus.INFEASIBLE
    assert result.solution is None


# -- all backends against each other ------------------------------------------------------------

SWEEP_CHUNKS = 10
SWEEP_PER_CHUNK = 30  # 300 problems in all


@pytest.mark.parametrize("chunk", range(SWEEP_CHUNKS))
def test_backends_agree(chunk):
    """Certified errors agree within the tolerance, and no backend's bound exceeds any
    backend's certified error (each bound is checked against every other solver's answer)."""
    names = installed()
    if len(names) < 2:
        pytest.skip("fewer than two backends are installed")
    for seed in range(chunk * SWEEP_PER_CHUNK, (chunk + 1) * SWEEP_PER_CHUNK):
        rng = np.random.default_rng(90000 + seed)
        problem = random_problem(rng, MODES[seed % 2])
        budget = None if rng.random() < 0.5 else int(rng.integers(0, problem.max_kept_possible()))
        problem = dataclasses.replace(problem, objective=MinError(max_kept=budget))
        rowgen = bool(rng.random() < 0.3)
        results = {
            name: solve(problem, SolveParameters(backend=name, row_generation=rowgen))
            for name in names
            if accepts(name, problem)
        }
        for name, result in results.items():
            assert result.status == SolveStatus.OPTIMAL, (seed, name, result.detail)
        errors = {name: Fraction(r.solution.error) for name, r in results.items()}
        assert max(errors.values()) - min(errors.values()) <= TOL, (seed, errors)
        for name, result in results.items():
            assert Fraction(result.objective_bound) <= min(errors.values()), (seed, name)


@pytest.mark.parametrize("chunk", range(3))
def test_backends_agree_on_min_kept(chunk):
    names = installed()
    if len(names) < 2:
        pytest.skip("fewer than two backends are installed")
    for seed in range(chunk * 20, (chunk + 1) * 20):
        rng = np.random.default_rng(95000 + seed)
        problem = random_problem(rng, MODES[seed % 2])
        full = solve(problem, SolveParameters(backend=names[0]))
        max_error = float(full.solution.error) * float(rng.uniform(1.0, 3.0)) + 1e-3
        p = dataclasses.replace(problem, objective=MinKept(max_error=max_error))
        kept = {}
        for name in (name for name in names if accepts(name, p)):
            result = solve(p, SolveParameters(backend=name))
            assert result.status == SolveStatus.OPTIMAL, (seed, name, result.detail)
            assert exact_error(p, result.solution.mask) <= Fraction(max_error)
            kept[name] = result.solution.kept
        assert len(set(kept.values())) == 1, (seed, kept)


# -- registry, limits, cancellation -------------------------------------------------------------


def test_unknown_backend_is_rejected():
    problem = paper_problem(1, 3, 0, PruningMode.NEURONS)
    with pytest.raises(BackendUnavailableError, match="unknown backend"):
        solve(problem, SolveParameters(backend="gurobi-by-mail"))
    with pytest.raises(BackendUnavailableError):
        get_backend("nope")


def test_registry_order_and_flags():
    assert BACKENDS[0] == "cpsat"  # "auto" keeps choosing CP-SAT
    assert set(BACKENDS) == {"cpsat", "scip", "highs", "cbc", "perweight-cpsat"}
    # The per-weight backend comes after the general ones and is not one of them.
    assert BACKENDS[-1] == "perweight-cpsat"
    assert "perweight-cpsat" not in general_backends()
    assert REGISTRY["cbc"].supports_early_stop is False
    for name in ("cpsat", "scip", "highs"):
        assert REGISTRY[name].supports_early_stop is True
    for name, version in available_backends().items():
        assert version and "unavailable" not in version, name


def test_core_imports_without_solver_libraries():
    code = (
        "import sys\n"
        "for m in ('ortools', 'pulp', 'highspy'): sys.modules[m] = None\n"
        "import solver.engine.dispatch\n"
        "from solver.backends import available_backends\n"
        "assert list(available_backends()) == ['meet-in-the-middle'], available_backends()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_limit_returns_a_certified_solution(backend):
    require(backend)
    problem = paper_problem(2, 24, 1, PruningMode.WEIGHTS)
    limit = 1.0
    start = time.monotonic()
    result = solve(problem, SolveParameters(backend=backend, time_limit_seconds=limit))
    elapsed = time.monotonic() - start
    assert result.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL), result.detail
    true_error = exact_error(problem, result.solution.mask)
    assert true_error <= Fraction(result.solution.error) <= true_error + Fraction(1, 10**15)
    assert Fraction(result.objective_bound) <= true_error
    assert elapsed < limit + 30  # stops (the limit covers the solver, not the certificate)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_event(backend):
    require(backend)
    problem = paper_problem(2, 24, 1, PruningMode.WEIGHTS)
    stop = threading.Event()
    if REGISTRY[backend].supports_early_stop:
        timer = threading.Timer(0.3, stop.set)
        timer.start()
    else:
        stop.set()  # a backend that cannot stop mid-solve must not start one
    start = time.monotonic()
    try:
        result = solve(problem, SolveParameters(backend=backend, time_limit_seconds=60), stop=stop)
    finally:
        stop.set()
    assert result.status == SolveStatus.CANCELLED
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("delay", [0.02, 0.2])
@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_during_model_building_is_not_lost(backend, delay):
    # A stop that arrives before the backend's search starts (here while a weights n = 48 model
    # is built, ~0.5 s) must still end the solve: CP-SAT once forgot it and ran to its time
    # limit, which made job cancellation miss running items.
    require(backend)
    if not REGISTRY[backend].supports_early_stop:
        pytest.skip(f"{backend} cannot stop a solve in progress")
    problem = paper_problem(2, 48, 1, PruningMode.WEIGHTS)
    stop = threading.Event()
    timer = threading.Timer(delay, stop.set)
    start = time.monotonic()
    timer.start()
    try:
        params = SolveParameters(backend=backend, time_limit_seconds=120, heuristic_start=False)
        result = solve(problem, params, stop=stop)
    finally:
        stop.set()
    assert result.status == SolveStatus.CANCELLED
    assert time.monotonic() - start < 60  # without the fix: the 120 s limit


# -- near-ties: where floating-point tolerances bite (docs/design.md §2, §8) -----------------------


def _subset_sum_optimum(weights: np.ndarray, target: float) -> Fraction:
    """min over subsets |sum - target|, exactly, by meet in the middle."""
    import bisect

    from solver import exact as exact_arith

    values = exact_arith.from_floats(np.concatenate([weights, [target]]))
    ints = [int(v) for v in values.ints.tolist()]
    items, goal = ints[:-1], ints[-1]

    def sums(part):
        out = [0]
        for v in part:
            out += [s + v for s in out]
        return out

    left, right = sums(items[: len(items) // 2]), sorted(sums(items[len(items) // 2 :]))
    best = None
    for s in left:
        i = bisect.bisect_left(right, goal - s)
        for j in (i - 1, i):
            if 0 <= j < len(right):
                e = abs(s + right[j] - goal)
                best = e if best is None else min(best, e)
    return Fraction(best) * Fraction(2) ** values.exp


def _subset_sum_instance(n: int, seed: int) -> tuple[Problem, Fraction]:
    """A 1-D subset sum as a min-error problem (weights U[0, 1]) and its exact optimum."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0, 1, n)
    target = float(rng.uniform(0, n / 4))
    problem = Problem(
        network=Network(
            hidden_weights=np.ones((n, 1)),
            output_weights=weights,
            output_activation=Activation.IDENTITY,
        ),
        target=Samples(points=np.array([[1.0]]), values=np.array([target])),
        domain=None,
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )
    return problem, _subset_sum_optimum(weights, target)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [3])
def test_subset_sum_bound_never_exceeds_the_truth(backend, seed):
    """1-D subset sum, n = 21: optima of 1e-7..1e-5 sit where a solver's default tolerances
    (integrality 1e-7 times the row activity) would certify a wrong optimum."""
    problem, truth = _subset_sum_instance(21, seed)
    require_accepts(backend, problem)
    result = solve(problem, SolveParameters(backend=backend, time_limit_seconds=60))
    assert Fraction(result.objective_bound) <= truth
    assert truth <= Fraction(result.solution.error)
    if result.status == SolveStatus.OPTIMAL:
        assert Fraction(result.solution.error) - truth <= TOL


# -- the safety machinery of the float backends ------------------------------------------------

FLOAT_BACKENDS = [name for name in BACKENDS if name in ("scip", "highs", "cbc")]


def _large_values_problem() -> Problem:
    return Problem(
        network=Network(
            hidden_weights=np.array([[1.0], [1.0], [1.0]]),
            output_weights=np.array([3.0e4, 1.5e4, 7.0e3]),
            output_activation=Activation.IDENTITY,
        ),
        # Optimum 0.5 (1.5e4 + 7e3): above the tolerance, so the backend has to prove it (a
        # start within the tolerance of 0 would be OPTIMAL without a backend call).
        target=Neuron(weights=np.array([22000.5]), activation=Activation.IDENTITY),
        domain=PointSet(points=np.array([[1.0]])),
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_margin_above_tolerance_is_unrepresentable(backend):
    require(backend)
    problem = _large_values_problem()
    with pytest.raises(UnrepresentableError, match="safety margin"):
        solve(problem, SolveParameters(backend=backend))
    result = solve(problem, SolveParameters(backend=backend, tolerance=1e-2))
    assert result.status == SolveStatus.OPTIMAL
    assert result.solution.error == 0.5
    assert 0.5 - 1e-2 <= result.objective_bound <= 0.5


def test_margin_formula():
    tol = floatmip.Tolerances(coefficient=1e-12, feasibility=1e-9, integrality=1e-8, gap=1e-9)
    a, h, dropped = Fraction(10), Fraction(25), Fraction(3, 10**9)
    expected = (
        Fraction(1e-12) * a
        + Fraction(1e-8) * (h + a)
        + (4 * Fraction(1e-9) + Fraction(1e-9)) * (1 + a)
        + dropped
    )
    margin = tol.margin(a, h, dropped)
    assert expected <= margin <= expected * (1 + Fraction(1, 10**12))


def _subset_sum_model():
    problem = Problem(
        network=Network(
            hidden_weights=np.ones((3, 1)),
            output_weights=np.array([0.5, 0.375, 0.25]),
            output_activation=Activation.IDENTITY,
        ),
        target=Neuron(weights=np.array([0.6]), activation=Activation.IDENTITY),
        domain=PointSet(points=np.array([[1.0]])),
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )
    model = build_column_model(problem)
    return model, np.arange(model.num_points)


def _values(mip, chosen, t=None):
    values = [1.0 if c in chosen else 0.0 for c in range(mip.num_candidates)]
    if mip.t is not None:
        values.append(t)
    return values + [0.0] * (mip.num_vars - len(values))


def test_a_bound_above_an_exact_error_is_not_trusted():
    model, rows = _subset_sum_model()
    task, options = MinErrorTask(), BackendOptions(tolerance=1e-6)
    tol = floatmip.Tolerances()
    mip = floatmip.build(model, rows, task, options, tol, "test")
    # Choosing 0.375 + 0.25 errs by exactly 0.025 (the optimum); a solver claiming the
    # bound 0.03 is wrong by more than the margin.
    chosen = [1, 2]
    exact = Fraction(5, 8) - Fraction(0.6)
    raw = floatmip.RawResult(BackendStatus.OPTIMAL, _values(mip, chosen, 0.025), 0.03, 0.025)
    outcome = floatmip.finish(mip, model, rows, task, options, raw, tol)
    assert outcome.status == BackendStatus.FEASIBLE
    assert outcome.error_bound == 0
    assert outcome.chosen == chosen
    # An honest claim is lowered by the margin, no more.
    raw = floatmip.RawResult(BackendStatus.OPTIMAL, _values(mip, chosen, 0.025), 0.025, 0.025)
    outcome = floatmip.finish(mip, model, rows, task, options, raw, tol)
    assert outcome.status == BackendStatus.OPTIMAL
    assert outcome.error_bound == Fraction(0.025) - mip.margin
    assert outcome.error_bound <= exact


def test_values_outside_the_model_are_not_trusted():
    model, rows = _subset_sum_model()
    task, options = MinErrorTask(), BackendOptions(tolerance=1e-6)
    tol = floatmip.Tolerances()
    mip = floatmip.build(model, rows, task, options, tol, "test")
    # t = 0 with a choice that errs by 0.1: violates a row.
    raw = floatmip.RawResult(BackendStatus.OPTIMAL, _values(mip, [0], 0.0), 0.0, 0.0)
    outcome = floatmip.finish(mip, model, rows, task, options, raw, tol)
    assert outcome.status == BackendStatus.NO_SOLUTION
    assert outcome.chosen is None
    assert outcome.error_bound == 0
    # Feasible values whose objective is not the reported one: no bound, not optimal.
    raw = floatmip.RawResult(BackendStatus.OPTIMAL, _values(mip, [1, 2], 0.5), 0.0, 0.0)
    outcome = floatmip.finish(mip, model, rows, task, options, raw, tol)
    assert outcome.status == BackendStatus.FEASIBLE
    assert outcome.chosen == [1, 2]
    assert outcome.error_bound == 0


def test_min_kept_relaxation_and_restriction_bracket_max_error():
    model, rows = _subset_sum_model()
    tol = floatmip.Tolerances()
    options = BackendOptions(tolerance=1e-6)
    eps = Fraction(1, 40)
    relaxed = floatmip.build(model, rows, MinKeptTask(eps), options, tol, "test")
    restricted = floatmip.build(model, rows, MinKeptTask(eps, restrict=True), options, tol, "test")
    y = Fraction(0.6)
    for mip, sign in ((relaxed, 1), (restricted, -1)):
        # Every choice within max_error meets the relaxation's rows with the margin to spare;
        # every choice meeting the restriction's rows is within max_error by the margin.
        (upper,) = [r for r in mip.rows if r.coef[0] > 0 and len(r.index) == 3]
        (lower,) = [r for r in mip.rows if r.coef[0] < 0 and len(r.index) == 3]
        for row, offset in ((upper, y), (lower, -y)):
            slack = sign * (Fraction(row.rhs) - (offset + eps))
            assert mip.margin <= slack <= mip.margin + Fraction(1, 2**50)


def test_cbc_log_bounds_are_lowered_by_their_printed_precision():
    from solver.backends.cbc import _cbc_logged_bound, _cbc_logged_objective

    log = "Objective value:                0.00000528\nLower bound:                    0.123\n"
    assert _cbc_logged_bound(log) == Fraction(123, 1000) - Fraction(1, 2000)
    assert _cbc_logged_bound("Lower bound: 1.5e-05\n") == Fraction(15, 10**6) - Fraction(
        1, 2 * 10**6
    )
    assert _cbc_logged_bound("Result - Optimal solution found\n") is None
    assert _cbc_logged_objective(log) == 5.28e-6


def test_cpsat_lower_bound_worker_keeps_the_bracket_around_the_truth(monkeypatch):
    """Neurons-mode min-error models of more than 32 candidates on a machine of at most 2 usable cores
    run CP-SAT's objective_lb_search beside its default worker: its bound stays below the
    independent meet-in-the-middle optimum (1-D subset sum, n = 36)."""
    from ortools.sat.python import cp_model

    from solver.backends import cpsat

    monkeypatch.setattr(cpsat, "usable_cores", lambda: 2)
    seen = []
    original = cp_model.CpSolver.solve

    def spy(self, model, callback=None):
        seen.append(list(self.parameters.subsolvers))
        return original(self, model, callback)

    monkeypatch.setattr(cp_model.CpSolver, "solve", spy)
    problem, truth = _subset_sum_instance(36, 5)
    # sparsest=False: the min_kept step after it is not a min-error model (no bound worker).
    params = SolveParameters(backend="cpsat", time_limit_seconds=60, sparsest=False)
    result = solve(problem, params)
    assert seen and all("objective_lb_search" in s for s in seen)
    assert Fraction(result.objective_bound) <= truth <= Fraction(result.solution.error)
    if result.status == SolveStatus.OPTIMAL:
        assert Fraction(result.solution.error) - truth <= TOL
