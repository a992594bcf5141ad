"""parameters.sparsest (issue 13 item 1): error first, then kept, checked against the brute force
over every mask (tests/support/reference.py) and across backends."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from prunecert.v1 import solve_pb2
from solver.backends import available_backends
from solver.cli.app import main
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, MinError, Pareto, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.engine.objectives import MinErrorOutcome
from solver.engine.run import Run
from solver.engine.sparsest import sparsest_min_error
from solver.formulation.deadline import Deadline
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.problems import random_problem
from tests.support.reference import exact_error, table

MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]
ULP = Fraction(1, 10**15)  # the stated bound is the exact one rounded down to a double


@pytest.mark.parametrize("tolerance", [None, 0.05])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(12))
def test_min_error_returns_the_fewest_kept_at_its_error(mode, seed, tolerance):
    rng = np.random.default_rng(3000 + seed)
    problem = random_problem(rng, mode)
    budget = None if seed % 3 else int(rng.integers(0, problem.max_kept_possible() + 1))
    problem = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    ref = table(problem)
    tol = Fraction(tolerance or 1e-6)
    result = solve(problem, SolveParameters(tolerance=tolerance))
    assert result.status == SolveStatus.OPTIMAL, result.detail
    sol = result.solution
    error = exact_error(problem, sol.mask)
    # The error claim: within the tolerance of the optimum.
    assert Fraction(result.objective_bound) <= ref.min_error(budget) <= error
    assert error - Fraction(result.objective_bound) <= tol + ULP
    if "the kept count is not minimised" in result.detail:  # separable: min_error only
        assert result.stats.backend == "meet-in-the-middle" and sol.kept > 0
        return
    # The kept claim: no mask whose exact error is at most the returned one's keeps fewer.
    assert sol.kept == ref.min_kept(error)
    assert (
        f"kept {sol.kept} is the fewest among masks whose exact error is at most" in result.detail
    )
    if budget is not None:
        assert sol.kept <= budget


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(8))
def test_switched_off_it_is_the_plain_certified_solve(mode, seed):
    rng = np.random.default_rng(3000 + seed)
    problem = dataclasses.replace(random_problem(rng, mode), objective=MinError())
    ref = table(problem)
    off = solve(problem, SolveParameters(sparsest=False, tolerance=0.05))
    on = solve(problem, SolveParameters(tolerance=0.05))
    assert off.status == on.status == SolveStatus.OPTIMAL
    assert "fewest" not in off.detail
    assert off.solution.error - off.objective_bound <= 0.05 + 1e-15
    assert (
        Fraction(off.objective_bound) <= ref.min_error() <= exact_error(problem, off.solution.mask)
    )
    assert on.solution.kept <= off.solution.kept


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(8))
def test_every_pareto_point_keeps_the_fewest_for_its_error(mode, seed):
    rng = np.random.default_rng(4000 + seed)
    problem = random_problem(rng, mode)
    p = dataclasses.replace(problem, objective=Pareto())
    ref = table(p)
    for tolerance in (None, 0.05):
        result = solve(p, SolveParameters(tolerance=tolerance))
        assert result.status == SolveStatus.OPTIMAL, result.detail
        assert "each frontier point keeps the fewest" in result.detail
        got = [(pt.kept, pt.error) for pt in result.frontier]
        assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(got, got[1:], strict=False))
        for pt in result.frontier:
            error = exact_error(p, pt.mask)
            assert pt.mask.kept() == pt.kept and Fraction(pt.error) >= error
            # No mask with fewer kept is as good: the point's count is the least for its error.
            assert ref.min_kept(error) == pt.kept


def test_the_error_never_grows_and_the_count_never_rises():
    # The second step only ever returns a mask at most as bad, with at most as many kept.
    problem = paper_problem(2, 5, 2, PruningMode.WEIGHTS, points_per_axis=5)
    ref = table(problem)
    on = solve(problem, SolveParameters(tolerance=0.05, threads=1, seed=3))
    off = solve(problem, SolveParameters(tolerance=0.05, threads=1, seed=3, sparsest=False))
    assert on.solution.error <= off.solution.error and on.solution.kept <= off.solution.kept
    assert on.solution.kept == ref.min_kept(exact_error(problem, on.solution.mask))


def test_the_issue_instance_keeps_ten_weights_on_every_backend():
    # prunecert generate paper --d 2 --n 16 --seed 1 --pruning weights: cpsat, highs and scip
    # returned masks of the same certified error keeping 16, 18 and 26 weights (issue 13).
    problem = paper_problem(2, 16, 1, PruningMode.WEIGHTS)
    installed = available_backends()
    kept = {}
    for name in ("cpsat", "scip", "highs"):
        if name not in installed:
            continue
        result = solve(problem, SolveParameters(backend=name, threads=1, seed=1))
        assert result.status == SolveStatus.OPTIMAL, result.detail
        assert "kept 10 is the fewest" in result.detail
        kept[name] = result.solution.kept
    assert set(kept.values()) == {10}


def test_out_of_time_keeps_the_certified_mask_and_says_the_count_is_unproven():
    problem = paper_problem(2, 4, 1, PruningMode.WEIGHTS, points_per_axis=5)
    run = Run(problem, SolveParameters(time_limit_seconds=60), None, None)
    cert = run.domain.certify(Mask.full(problem))
    outcome = MinErrorOutcome(SolveStatus.OPTIMAL, cert, None, cert.error, "")
    run.search_deadline = Deadline(run.start)  # the search phases' time has passed
    after = sparsest_min_error(run, outcome)
    assert after.status == SolveStatus.OPTIMAL and after.certificate is cert
    assert "not proven the fewest" in after.detail and "time limit" in after.detail


def test_the_parameter_survives_the_proto_round_trip():
    for value in (None, True, False):
        params = SolveParameters(sparsest=value)
        msg = convert.parameters_to_proto(params)
        assert msg.HasField("sparsest") == (value is not None)
        assert convert.parse_parameters(msg) == params


def test_the_cli_flag_sets_it(tmp_path, capsys):
    problem = paper_problem(2, 6, 1, PruningMode.WEIGHTS, points_per_axis=7)
    path = tmp_path / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    kept = {}
    for flag in ("--sparsest", "--no-sparsest"):
        code = main(["solve", str(path), "--json", flag, "--progress-every", "0"])
        assert code == 0
        out = capsys.readouterr().out
        result = convert.parse_result(convert.parse_json(out, solve_pb2.SolveResult, "result"))
        kept[flag] = result.solution.kept
        assert ("fewest" in out) == (flag == "--sparsest")
    assert kept["--sparsest"] <= kept["--no-sparsest"]
