"""SolveParameters.heuristic / continuous / heuristic_start through the engine, the proto
conversion, the CLI (compare) and a real server."""

from __future__ import annotations

import csv
import json
from fractions import Fraction

import numpy as np
import pytest

from solver.cli.app import main
from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, Pareto, PointSet, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.box import continuous_max_error
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.reference import all_masks, table

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def violations(exc: InvalidProblemError) -> list[str]:
    return [v.field for v in exc.violations]


# -- heuristic instead of an exact solve -----------------------------------------------------------


@pytest.mark.parametrize("name", ["magnitude", "greedy_forward", "local_search", "best"])
@pytest.mark.parametrize("mode", [N, W])
def test_a_heuristic_result_is_feasible_exact_and_never_below_the_optimum(name, mode):
    problem = paper_problem(2, 6, 3, mode, points_per_axis=7)
    result = solve(problem, SolveParameters(heuristic=name, time_limit_seconds=2))
    assert result.status == SolveStatus.FEASIBLE
    assert result.objective_bound == 0.0 and result.stats.formulation == "heuristic"
    cert = certify_mask(problem, result.solution.mask)
    assert result.solution.error == cert.error_upper and result.solution.kept == cert.kept
    optimum = solve(problem)
    assert optimum.status == SolveStatus.OPTIMAL
    assert Fraction(result.solution.error) >= Fraction(optimum.objective_bound)


def test_a_heuristic_respects_a_budget_and_reports_a_missed_max_error():
    problem = paper_problem(2, 8, 1, N, objective=MinError(max_kept=2), points_per_axis=7)
    result = solve(problem, SolveParameters(heuristic="greedy_forward"))
    assert result.solution.kept <= 2
    impossible = paper_problem(2, 4, 1, N, objective=MinKept(max_error=1e-9), points_per_axis=5)
    missed = solve(impossible, SolveParameters(heuristic="greedy_forward"))
    assert missed.status == SolveStatus.NO_SOLUTION and "proves nothing" in missed.detail


def test_a_heuristic_pareto_frontier_is_exact_and_uncertified():
    problem = paper_problem(2, 5, 2, N, objective=Pareto(), points_per_axis=5)
    result = solve(problem, SolveParameters(heuristic="greedy_backward"))
    assert result.frontier and all(not p.certified for p in result.frontier)
    for point in result.frontier:
        assert certify_mask(problem, point.mask).error_upper == point.error


@pytest.mark.parametrize(
    "params, field",
    [
        (SolveParameters(heuristic="nope"), "parameters.heuristic"),
        (SolveParameters(heuristic="best", cross_check="auto"), "parameters.cross_check"),
        (SolveParameters(heuristic="best", continuous="optimize"), "parameters.continuous"),
        (SolveParameters(continuous="sometimes"), "parameters.continuous"),
    ],
)
def test_bad_options_name_their_field(params, field):
    with pytest.raises(InvalidProblemError) as err:
        solve(paper_problem(1, 3, 1, N), params)
    assert field in violations(err.value)


# -- continuous ---------------------------------------------------------------------------------


def test_continuous_evaluate_adds_the_exact_box_error_of_the_returned_mask():
    problem = paper_problem(2, 10, 2, W, points_per_axis=9)
    result = solve(problem, SolveParameters(continuous="evaluate"))
    assert result.status == SolveStatus.OPTIMAL and result.continuous is not None
    exact = continuous_max_error(problem, result.solution.mask)
    assert result.continuous.error == exact.error_upper
    assert result.continuous.error >= result.solution.error  # the grid is inside the box
    assert result.continuous.rounds == () and not result.continuous.optimal
    # The worst point is in the box and the error there matches a float evaluation.
    x = np.asarray(result.continuous.worst_point)
    assert np.all(np.abs(x) <= 1.0)


def test_continuous_optimize_brackets_the_box_optimum_against_brute_force():
    # The box optimum is at least the optimum on any set of box points (here a dense grid
    # solved by brute force) and at most the returned mask's exact box error.
    problem = paper_problem(2, 5, 4, N, points_per_axis=5)
    result = solve(problem, SolveParameters(continuous="optimize"))
    assert result.status == SolveStatus.OPTIMAL and result.continuous.optimal
    figures = result.continuous
    assert figures.lower_bound == result.objective_bound
    assert figures.lower_bound <= figures.error <= figures.lower_bound + 1e-6
    assert len(figures.rounds) >= 1
    dense = paper_problem(2, 5, 4, N, points_per_axis=41)
    dense_optimum = table(dense).min_error()
    assert Fraction(figures.error) >= dense_optimum
    # The box is the domain: solution.error is the box error; the grid error is labelled apart.
    assert result.solution.error == figures.error
    assert figures.grid_error == certify_mask(problem, result.solution.mask).error_upper
    # The box optimum over every mask (each mask's exact box error) lies in the bracket.
    box_optimum = min(continuous_max_error(problem, mask).error for mask in all_masks(problem))
    assert Fraction(result.objective_bound) <= box_optimum <= Fraction(result.solution.error)


@pytest.mark.parametrize(
    "problem, why",
    [
        (paper_problem(2, 4, 1, N, objective=MinKept(max_error=0.5)), "min_error"),
        (
            paper_problem(2, 4, 1, N).__class__(
                **{
                    **paper_problem(2, 4, 1, N).__dict__,
                    "domain": PointSet(points=np.array([[0.5, 0.5], [1.0, -1.0]])),
                }
            ),
            "domain",
        ),
    ],
)
def test_continuous_optimize_refuses_what_it_cannot_certify(problem, why):
    with pytest.raises(InvalidProblemError) as err:
        solve(problem, SolveParameters(continuous="optimize"))
    assert violations(err.value) == ["parameters.continuous"]
    assert why in str(err.value)


def test_options_survive_the_proto_round_trip():
    params = SolveParameters(continuous="optimize", heuristic_start=False, time_limit_seconds=3)
    assert convert.parse_parameters(convert.parameters_to_proto(params)) == params
    params = SolveParameters(heuristic="local_search", continuous="evaluate")
    assert convert.parse_parameters(convert.parameters_to_proto(params)) == params
    problem = paper_problem(2, 5, 1, N, points_per_axis=5)
    result = solve(problem, SolveParameters(continuous="optimize"))
    back = convert.parse_result(convert.result_to_proto(result))
    assert back.continuous == result.continuous


def test_an_unknown_continuous_number_from_a_newer_client_is_refused():
    from prunecert.v1 import solve_pb2

    msg = solve_pb2.SolveParameters()
    msg.continuous = 7  # proto3 keeps unknown enum numbers
    params = convert.parse_parameters(msg)
    with pytest.raises(InvalidProblemError) as err:
        solve(paper_problem(1, 3, 1, N), params)
    assert violations(err.value) == ["parameters.continuous"]


# -- heuristic start -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [N, W])
def test_heuristic_start_changes_nothing_certified(mode):
    problem = paper_problem(2, 12, 5, mode, points_per_axis=9)
    on = solve(problem, SolveParameters(heuristic_start=True, seed=1, threads=1))
    off = solve(problem, SolveParameters(heuristic_start=False, seed=1, threads=1))
    assert on.status == off.status == SolveStatus.OPTIMAL
    assert abs(on.solution.error - off.solution.error) <= 2e-6


# -- compare ---------------------------------------------------------------------------------------


def test_compare_writes_every_heuristic_beside_the_optimum(tmp_path, capsys):
    spec = {
        "family": {
            "generator": "paper",
            "d": [1, 2],
            "n": [4],
            "seeds": [1, 2],
            "pruning": ["PRUNING_MODE_NEURONS", "PRUNING_MODE_WEIGHTS"],
            "objective": {"min_error": {}},
            "points_per_axis": 5,
        }
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "rows.csv"
    assert main(["compare", str(path), "--out", str(out), "--heuristic-time-limit", "0.5"]) == 0
    table = capsys.readouterr().out
    assert "random_restarts" in table and "8 instance(s), 8 with a certified optimum" in table
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * 5
    for row in rows:
        # Every heuristic error is an exact mask error, never below the certified bound.
        assert float(row["error"]) >= float(row["optimum_bound"])
        assert row["optimum_status"] == "OPTIMAL"
        assert (row["matches_optimum"] == "True") == (
            float(row["error"]) <= float(row["optimum_bound"]) + 1e-6
        )
    # On n = 4 random restarts (32 starts, 16 or fewer masks per neurons instance) is exact.
    neurons = [r for r in rows if r["heuristic"] == "random_restarts" and "neurons" in r["instance"]]
    assert all(r["matches_optimum"] == "True" for r in neurons)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--heuristics", "nope"], "invalid choice"),
        (["--time-limit", "0"], "--time-limit"),
    ],
)
def test_compare_bad_arguments(tmp_path, capsys, args, message):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"family": {"generator": "paper", "d": [1], "n": [3], "seeds": [1],
                                           "pruning": ["PRUNING_MODE_NEURONS"]}}))
    try:
        code = main(["compare", str(path), "--out", str(tmp_path / "x.csv"), *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_compare_refuses_a_pareto_spec_and_a_broken_file(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"family": {"generator": "paper", "d": [1], "n": [3], "seeds": [1],
                                           "pruning": ["PRUNING_MODE_NEURONS"],
                                           "objective": {"pareto": {}}}}))
    assert main(["compare", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    assert "objective" in capsys.readouterr().err
    path.write_text("{not json")
    assert main(["compare", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    assert "spec" in capsys.readouterr().err


# -- through a real server -------------------------------------------------------------------------


def test_the_options_work_remotely_and_bad_ones_are_invalid_argument():
    from prunecert_client import Client, ClientError
    from solver.service.server import ServerConfig, create_server

    server = create_server(ServerConfig(port=0, max_concurrent=1))
    try:
        with Client(f"127.0.0.1:{server.port}") as client:
            problem = paper_problem(2, 6, 2, N, points_per_axis=7)
            remote = client.solve(problem, SolveParameters(continuous="optimize"), timeout=60)
            local = solve(problem, SolveParameters(continuous="optimize"))
            assert remote.status == local.status == SolveStatus.OPTIMAL
            assert remote.continuous.error == local.continuous.error
            assert remote.continuous.lower_bound == local.continuous.lower_bound
            heuristic = client.solve(problem, SolveParameters(heuristic="magnitude"), timeout=60)
            assert heuristic.status == SolveStatus.FEASIBLE
            assert heuristic.stats.backend == "heuristic:magnitude"
            on_points = paper_problem(2, 4, 1, N).__class__(
                network=problem.network,
                target=problem.target,
                domain=PointSet(points=np.array([[0.5, 0.5], [1.0, -1.0]])),
                pruning=N,
            )
            for params, field in [
                (SolveParameters(continuous="optimize"), "parameters.continuous"),
                (SolveParameters(heuristic="best", cross_check="auto"), "parameters.cross_check"),
            ]:
                with pytest.raises(ClientError) as err:
                    client.solve(on_points, params, timeout=60)
                assert err.value.code.name == "INVALID_ARGUMENT"
                assert field in [f for f, _ in err.value.violations]
    finally:
        server.stop(0)


def test_optimize_in_high_dimension_is_refused_up_front():
    with pytest.raises(InvalidProblemError) as err:
        solve(paper_problem(5, 60, 1, N), SolveParameters(continuous="optimize"))
    assert violations(err.value) == ["parameters.continuous"]
    assert "candidate points" in str(err.value)


def test_heuristic_min_kept_states_its_gap_in_kept_units_and_a_stop_cancels():
    import threading

    problem = paper_problem(2, 6, 1, N, objective=MinKept(max_error=1.5), points_per_axis=5)
    result = solve(problem, SolveParameters(heuristic="greedy_backward"))
    assert result.status == SolveStatus.FEASIBLE
    assert result.objective_bound == 0 and result.tolerance == result.solution.kept
    stop = threading.Event()
    stop.set()
    cancelled = solve(paper_problem(2, 8, 1, N), SolveParameters(heuristic="local_search"), stop=stop)
    assert cancelled.status == SolveStatus.CANCELLED


def test_certify_comparisons_and_certify_jobs_refuse_the_options():
    from prunecert.v1 import jobs_pb2
    from solver.core.problem import Mask
    from solver.core.validate import DEFAULT_LIMITS
    from solver.engine import certify_and_compare
    from solver.jobs.spec import JobSpec

    problem = paper_problem(2, 4, 1, N, points_per_axis=5)
    with pytest.raises(InvalidProblemError) as err:
        certify_and_compare(problem, Mask.full(problem), SolveParameters(continuous="evaluate"))
    assert violations(err.value) == ["parameters.continuous"]
    # A subset-sum family's domain is a point set, not a box: refused at submission, not per item.
    request = jobs_pb2.SubmitJobRequest()
    request.family.generator = "subset_sum"
    request.family.n[:] = [5]
    request.family.seeds[:] = [1]
    request.family.count = 3
    request.family.low, request.family.high = -0.5, 0.5
    request.parameters.continuous = 1  # CONTINUOUS_MODE_EVALUATE
    with pytest.raises(InvalidProblemError) as err:
        JobSpec(request, DEFAULT_LIMITS)
    assert violations(err.value) == ["parameters.continuous"]


def test_the_python_client_side_conversion_names_a_bad_continuous_mode():
    with pytest.raises(InvalidProblemError) as err:
        convert.parameters_to_proto(SolveParameters(continuous="always"))
    assert violations(err.value) == ["parameters.continuous"]
