"""The public Python API: the names `solver` exports are frozen here (httpx style), each resolves,
and importing the package does not load the engine, the solvers or gRPC."""

from __future__ import annotations

import subprocess
import sys

import solver

PUBLIC = {
    "solve",
    "certify",
    "certify_and_compare",
    "available_backends",
    "Problem",
    "Network",
    "Neuron",
    "Activation",
    "PruningMode",
    "BoxGrid",
    "PointSet",
    "Samples",
    "MinError",
    "MinKept",
    "Pareto",
    "Mask",
    "paper_problem",
    "problem_from_json",
    "import_model",
    "export_model",
    "Limits",
    "validate_problem",
    "validate_parameters",
    "SolveParameters",
    "ContinuousMode",
    "Heuristic",
    "SolveResult",
    "SolveStatus",
    "Solution",
    "FrontierPoint",
    "SolveStats",
    "Progress",
    "MaskCertificate",
    "PruneCertError",
    "InvalidProblemError",
    "ProblemTooLargeError",
    "UnrepresentableError",
    "BackendUnavailableError",
    "FieldViolation",
}


def test_the_exported_names_are_frozen():
    assert set(solver.__all__) == PUBLIC
    assert len(solver.__all__) == len(PUBLIC)  # no duplicates


def test_every_exported_name_resolves():
    for name in solver.__all__:
        assert getattr(solver, name) is not None, name


def test_unknown_names_are_attribute_errors():
    try:
        solver.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_the_public_api_solves_and_certifies_the_readme_example():
    from solver import MinError, PruningMode, SolveStatus, certify, paper_problem, solve

    problem = paper_problem(1, 6, 1, PruningMode.NEURONS, MinError())
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL
    assert certify(problem, result.solution.mask).error_upper == result.solution.error


def test_importing_the_package_loads_neither_the_engine_nor_grpc():
    code = (
        "import sys, solver\n"
        "loaded = [m for m in ('solver.engine', 'solver.backends', 'solver.io', 'grpc',"
        " 'ortools', 'dask') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
