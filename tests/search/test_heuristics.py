"""Built-in heuristics: never better than the certified optimum, exact certificates, budgets,
MinKept feasibility, Pareto frontiers, determinism, magnitude on a hand-made network, and the
engine's optimum on a paper instance.

The optimum of tiny problems comes from the independent brute force in tests/reference.py.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import exact
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    MinKept,
    Network,
    Neuron,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import MaskCertificate, certify_mask
from solver.instances.generate import paper_problem
from solver.search import state_space
from solver.search.heuristics import HEURISTICS, best_heuristic, run_heuristic
from tests.support.problems import random_problem
from tests.support.reference import Table, all_masks, exact_error, table

MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]
SEEDS = range(30)


@functools.cache
def tiny(mode: PruningMode, seed: int) -> tuple[Problem, Table, int]:
    """A random problem with d in {1, 2} (n <= 6 neurons mode, n <= 4 weights mode), its
    brute-force table, and a random budget."""
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, mode)
    while problem.network.d > 2:
        problem = random_problem(rng, mode)
    return problem, table(problem), int(rng.integers(0, problem.max_kept_possible() + 1))


def with_objective(problem: Problem, objective) -> Problem:
    return dataclasses.replace(problem, objective=objective)


def check_certificate(problem: Problem, cert: MaskCertificate) -> None:
    """The certificate is the exact one, by solver.exact.certify and by the independent reference."""
    again = certify_mask(problem, cert.mask)
    assert cert.error == again.error == exact_error(problem, cert.mask)
    assert cert.kept == again.kept == cert.mask.kept()
    assert cert.error_upper == exact.round_up(cert.error)


def best_at(tab: Table, kept: int) -> Fraction:
    return min(e for k, e, _ in tab.entries if k == kept)


@pytest.mark.parametrize("mode", MODES)
def test_min_error_never_beats_the_optimum_and_search_reaches_it(mode):
    reached = {name: [] for name in HEURISTICS}
    for seed in SEEDS:
        problem, tab, budget = tiny(mode, seed)
        for max_kept in (None, budget):
            p = with_objective(problem, MinError(max_kept=max_kept))
            optimum = tab.min_error(max_kept)
            for name in HEURISTICS:
                result = run_heuristic(p, name)
                cert = result.certificate
                assert result.name == name and result.feasible and result.frontier == ()
                check_certificate(p, cert)
                assert cert.error >= optimum
                assert max_kept is None or cert.kept <= max_kept
                if problem.network.n <= 4:
                    reached[name].append(cert.error == optimum)
    # Random restarts (32 local searches) reach the optimum on every case this small;
    # a single local search from the best greedy mask on nearly all.
    assert all(reached["random_restarts"])
    assert np.mean(reached["local_search"]) >= 0.9
    assert np.mean(reached["greedy_forward"]) >= 0.8


@pytest.mark.parametrize("mode", MODES)
def test_local_search_from_any_start(mode):
    reached = []
    for seed in SEEDS:
        problem, tab, budget = tiny(mode, seed)
        masks = list(all_masks(problem))
        rng = np.random.default_rng(seed)
        for j in rng.choice(len(masks), size=min(4, len(masks)), replace=False):
            for max_kept in (None, budget):
                p = with_objective(problem, MinError(max_kept=max_kept))
                result = run_heuristic(p, "local_search", start=masks[j])
                check_certificate(p, result.certificate)
                # A start over the budget is repaired first: the budget always holds.
                assert max_kept is None or result.certificate.kept <= max_kept
                assert result.certificate.error >= tab.min_error(max_kept)
                reached.append(result.certificate.error == tab.min_error(max_kept))
    assert np.mean(reached) >= 0.85


@pytest.mark.parametrize("mode", MODES)
def test_min_kept_feasibility(mode):
    for seed in SEEDS:
        problem, tab, budget = tiny(mode, seed)
        reachable = exact.round_up(tab.min_error(budget))  # some mask of <= budget meets it
        targets = [reachable]
        least = tab.min_error()
        if least > 0:
            targets.append(exact.round_down(least / 2))  # no mask meets it
        for max_error in targets:
            p = with_objective(problem, MinKept(max_error=max_error))
            optimum = tab.min_kept(Fraction(max_error))
            for name in HEURISTICS:
                result = run_heuristic(p, name)
                cert = result.certificate
                check_certificate(p, cert)
                assert result.feasible == (cert.error <= Fraction(max_error))
                if optimum is None:
                    assert not result.feasible and cert.error >= least
                elif result.feasible:
                    assert cert.kept >= optimum
                if name == "random_restarts" and problem.network.n <= 4 and optimum is not None:
                    assert result.feasible and cert.kept == optimum


@pytest.mark.parametrize("mode", MODES)
def test_pareto_frontiers(mode):
    for seed in SEEDS:
        problem, tab, budget = tiny(mode, seed)
        for max_kept in (None, budget):
            p = with_objective(problem, Pareto(max_kept=max_kept))
            cap = problem.max_kept_possible() if max_kept is None else max_kept
            for name in HEURISTICS:
                result = run_heuristic(p, name)
                kepts = [c.kept for c in result.frontier]
                assert kepts == sorted(set(kepts)) and kepts[0] == 0 and kepts[-1] <= cap
                for cert in result.frontier:
                    check_certificate(p, cert)
                    assert cert.error >= best_at(tab, cert.kept)
                assert result.feasible
                assert result.certificate in result.frontier
                assert result.certificate.error == min(c.error for c in result.frontier)
                if name == "random_restarts" and problem.network.n <= 4:
                    mine = {c.kept: c.error for c in result.frontier}
                    assert all(mine.get(k) == e for k, e in tab.frontier(max_kept))


@pytest.mark.parametrize("mode", MODES)
def test_best_heuristic_beats_each(mode):
    for seed in range(0, 30, 3):
        problem, _, budget = tiny(mode, seed)
        for objective in (MinError(max_kept=budget), Pareto()):
            p = with_objective(problem, objective)
            best = best_heuristic(p)
            singles = {name: run_heuristic(p, name) for name in HEURISTICS}
            assert best.name in HEURISTICS
            if isinstance(objective, MinError):
                assert best.certificate.error == min(r.certificate.error for r in singles.values())
                assert best.certificate.error == singles[best.name].certificate.error
                continue
            merged = {c.kept: c.error for c in best.frontier}
            for result in singles.values():
                for cert in result.frontier:
                    assert merged[cert.kept] <= cert.error
            assert best.certificate.error == min(merged.values())


def test_deterministic_for_a_seed():
    problem = paper_problem(2, 12, 3, PruningMode.WEIGHTS, points_per_axis=9)
    for name in ("local_search", "random_restarts"):
        a, b = (run_heuristic(problem, name, seed=7, time_limit=60, restarts=6) for _ in range(2))
        assert a.certificate.mask.same_as(b.certificate.mask)
        assert a.certificate.error == b.certificate.error


def test_magnitude_keeps_the_largest_units():
    # Scores |v_i| * ||u_i||: 1, 2, 2 * sqrt(2), 0.3.
    network = Network(
        hidden_weights=np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0]]),
        output_weights=np.array([1.0, 1.0, -2.0, 0.1]),
    )
    problem = Problem(
        network=network,
        target=Neuron(weights=np.array([1.0, 0.0])),
        domain=BoxGrid(-1.0, 1.0, 5),
        pruning=PruningMode.NEURONS,
        objective=MinError(max_kept=2),
    )
    result = run_heuristic(problem, "magnitude")
    assert result.certificate.mask.neurons.tolist() == [False, True, True, False]
    # Without a budget: the best prefix of the order 2, 1, 0, 3 by exact error.
    order = [2, 1, 0, 3]
    prefixes = [np.isin(np.arange(4), order[:k]) for k in range(5)]
    best = min(certify_mask(problem, Mask(neurons=m)).error for m in prefixes)
    assert run_heuristic(with_objective(problem, MinError()), "magnitude").certificate.error == best


def test_magnitude_in_weights_mode():
    # By magnitude: u_01 = -3, v_0 = 2, v_1 = -1, u_00 = 0.5, u_11 = 0.2, u_10 = 0.1.
    network = Network(
        hidden_weights=np.array([[0.5, -3.0], [0.1, 0.2]]),
        output_weights=np.array([2.0, -1.0]),
        hidden_biases=np.array([0.0, 0.5]),
    )
    problem = Problem(
        network=network,
        target=Neuron(weights=np.array([0.0, 1.0])),
        domain=BoxGrid(-1.0, 1.0, 3),
        pruning=PruningMode.WEIGHTS,
    )

    def kept_mask(budget: int) -> Mask:
        p = with_objective(problem, MinError(max_kept=budget))
        return run_heuristic(p, "magnitude").certificate.mask

    # Budget 3: the top 3 (u_01, v_0, v_1) keep 3 weights of live units.
    mask = kept_mask(3)
    assert mask.hidden_weights.tolist() == [[False, True], [False, False]]
    assert mask.output_weights.tolist() == [True, True]
    # Budget 1: u_01 alone belongs to a removed unit; adding v_0 would keep 2.
    assert kept_mask(1).kept() == 0
    assert kept_mask(5).kept() == 5 and kept_mask(6).kept() == 6


def test_unknown_name_and_bad_arguments():
    problem, _, _ = tiny(PruningMode.NEURONS, 0)
    with pytest.raises(ValueError, match="unknown heuristic 'simulated_annealing'.*magnitude"):
        run_heuristic(problem, "simulated_annealing")
    with pytest.raises(ValueError, match="unknown heuristic 'edge_popup'.*random_restarts"):
        best_heuristic(problem, names=["magnitude", "edge_popup"])
    with pytest.raises(ValueError, match="start mask"):
        run_heuristic(problem, "magnitude", start=Mask.full(problem))
    weights = dataclasses.replace(problem, pruning=PruningMode.WEIGHTS)
    with pytest.raises(ValueError, match="weights-mode mask"):
        run_heuristic(weights, "local_search", start=Mask.full(problem))
    with pytest.raises(ValueError, match="time_limit"):
        run_heuristic(problem, "local_search", time_limit=-1.0)


def test_larger_d_and_uncached_columns(monkeypatch):
    """d = 4 enumerates every unit state, d = 5 only one-parameter moves; without the column
    cache the columns are computed on the fly. Both stay exact and find the optimum here."""
    rng = np.random.default_rng(5)
    for d in (4, 5):
        network = Network(
            hidden_weights=rng.uniform(-1, 1, size=(2, d)), output_weights=rng.uniform(-1, 1, 2)
        )
        problem = Problem(
            network=network,
            target=Neuron(weights=rng.uniform(-1, 1, size=d)),
            domain=PointSet(points=rng.uniform(-1, 1, size=(6, d))),
            pruning=PruningMode.WEIGHTS,
        )
        tab = table(problem)
        for cache in (True, False):
            if not cache:
                monkeypatch.setattr(state_space, "_TABLE_MAX_BYTES", 0)
            for name in HEURISTICS:
                result = run_heuristic(problem, name)
                check_certificate(problem, result.certificate)
                assert result.certificate.error >= tab.min_error()
            assert run_heuristic(problem, "random_restarts").certificate.error == tab.min_error()
        monkeypatch.undo()


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(MODES),
    st.sampled_from(["greedy_forward", "greedy_backward", "local_search", "random_restarts"]),
    st.integers(0, 12),
)
def test_any_start_and_budget_give_exact_results(seed, mode, name, budget):
    rng = np.random.default_rng(seed)
    problem = with_objective(random_problem(rng, mode), MinError(max_kept=budget))
    masks = list(all_masks(problem))
    start = masks[int(rng.integers(len(masks)))]
    result = run_heuristic(problem, name, start=start, restarts=4)
    assert result.certificate.kept <= budget
    assert result.certificate.error == certify_mask(problem, result.certificate.mask).error


def test_stop_and_time_limit_are_honoured():
    problem = paper_problem(2, 64, 1, PruningMode.NEURONS)
    stop = threading.Event()
    stop.set()
    for name in HEURISTICS:
        result = run_heuristic(problem, name, stop=stop)
        assert result.seconds < 2.0  # the empty mask (or the prefixes) certified at once
    result = run_heuristic(problem, "random_restarts", time_limit=0.5, restarts=10**6)
    assert result.seconds < 0.5 + 3.0  # one block of swaps and the certification may follow


def test_paper_instance_against_the_engine():
    problem = paper_problem(2, 32, 1, PruningMode.NEURONS)
    optimum = solve(problem)
    assert optimum.status == SolveStatus.OPTIMAL
    limit = 1.0
    for name in HEURISTICS:
        result = run_heuristic(problem, name, time_limit=limit)
        # Generous slack: certification follows the search, and the machine may be shared.
        assert result.seconds < limit + 3.0
        assert result.certificate.error >= Fraction(optimum.objective_bound)
        assert result.certificate.error_upper >= optimum.objective_bound - optimum.tolerance
    best = best_heuristic(problem, time_limit=2 * limit)
    assert best.certificate.error >= Fraction(optimum.objective_bound)


def test_paper_instance_weights_mode_against_the_engine():
    problem = paper_problem(2, 8, 1, PruningMode.WEIGHTS, objective=MinError(max_kept=6))
    optimum = solve(problem)
    assert optimum.status == SolveStatus.OPTIMAL
    for name in HEURISTICS:
        result = run_heuristic(problem, name, time_limit=1.0)
        assert result.certificate.kept <= 6
        assert result.certificate.error >= Fraction(optimum.objective_bound)


def test_output_relu_and_biases_are_modelled():
    """A biased unit with an output ReLU: float search and exact certificate agree."""
    network = Network(
        hidden_weights=np.array([[1.0], [-1.0], [0.5]]),
        output_weights=np.array([1.0, 1.0, -1.0]),
        hidden_biases=np.array([0.25, 0.0, -0.5]),
        output_bias=-0.125,
        output_activation=Activation.RELU,
    )
    problem = Problem(
        network=network,
        target=Neuron(weights=np.array([1.0]), bias=0.25),
        domain=BoxGrid(-1.0, 1.0, 9),
        pruning=PruningMode.WEIGHTS,
    )
    tab = table(problem)
    for name in HEURISTICS:
        result = run_heuristic(problem, name)
        check_certificate(problem, result.certificate)
        assert result.certificate.error >= tab.min_error()
    assert run_heuristic(problem, "local_search").certificate.error == tab.min_error()
