"""The error tree: each class carries its gRPC status (by name, core never imports grpc), and
subclasses inherit it; violations name the field and, where one sets it, the CLI flag."""

from __future__ import annotations

import argparse
import math

import grpc
import pytest

from solver.core import errors
from solver.core.errors import (
    BackendUnavailableError,
    ClusterUnavailableError,
    ConfigurationError,
    FieldViolation,
    InvalidProblemError,
    JobNotFoundError,
    JobsDisabledError,
    PoolBusyError,
    ProblemTooLargeError,
    PruneCertError,
    UnauthenticatedError,
    UnrepresentableError,
    WorkerCrashedError,
    status_name,
    violations_of,
)
from solver.core.parameters import SolveParameters
from solver.core.validate import (
    PARAMETER_FLAGS,
    parameter_violation,
    validate_generate_arguments,
    validate_parameters,
)

# The statuses the service has always answered with (the old name table, status.py).
EXPECTED_STATUS = {
    PruneCertError: "INTERNAL",
    InvalidProblemError: "INVALID_ARGUMENT",
    ProblemTooLargeError: "RESOURCE_EXHAUSTED",
    ConfigurationError: "INVALID_ARGUMENT",
    UnrepresentableError: "INVALID_ARGUMENT",
    BackendUnavailableError: "NOT_FOUND",
    JobNotFoundError: "NOT_FOUND",
    JobsDisabledError: "FAILED_PRECONDITION",
    PoolBusyError: "RESOURCE_EXHAUSTED",
    WorkerCrashedError: "ABORTED",
    ClusterUnavailableError: "UNAVAILABLE",
    UnauthenticatedError: "UNAUTHENTICATED",
}


def subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *subclasses(sub)]
    return out


def make(cls: type[PruneCertError], message: str = "boom") -> PruneCertError:
    if issubclass(cls, InvalidProblemError):
        return cls(FieldViolation("field", message))
    return cls(message)


TREE = [c for c in [PruneCertError, *subclasses(PruneCertError)] if c.__module__ == errors.__name__]


def test_the_tree_is_the_documented_one():
    assert set(TREE) == set(EXPECTED_STATUS)
    drawn = {}  # class name -> the status beside it in the module docstring's tree
    for line in errors.__doc__.splitlines():
        words = line.replace("│", " ").replace("├──", " ").replace("└──", " ").split()
        if len(words) >= 2 and words[0] in errors.__dict__:
            drawn[words[0]] = words[1]
    assert drawn == {cls.__name__: status for cls, status in EXPECTED_STATUS.items()}


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_every_error_names_a_grpc_status_code(cls):
    assert cls.grpc_status in grpc.StatusCode.__members__
    assert status_name(make(cls)) == cls.grpc_status == EXPECTED_STATUS[cls]


@pytest.mark.parametrize("parent", TREE, ids=lambda c: c.__name__)
def test_a_subclass_keeps_its_parents_status_under_any_name(parent):
    # Mapping by class name (the old scheme) sent every unknown name to INTERNAL.
    renamed = type("SomethingNobodyMapped", (parent,), {})
    assert status_name(make(renamed)) == EXPECTED_STATUS[parent]


def test_a_subclass_can_set_its_own_status():
    class Overloaded(PruneCertError):
        grpc_status = "UNAVAILABLE"

    class StillOverloaded(Overloaded):
        pass

    assert status_name(StillOverloaded("x")) == "UNAVAILABLE"
    assert status_name(PruneCertError("x")) == "INTERNAL"


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("k"), RuntimeError("r")])
def test_anything_outside_the_tree_is_internal(exc):
    assert status_name(exc) == "INTERNAL"
    assert violations_of(exc) == []


def test_an_attribute_named_grpc_status_outside_the_tree_is_ignored():
    class Foreign(Exception):
        grpc_status = "NOT_FOUND"

    assert status_name(Foreign()) == "INTERNAL"


def test_violations_of():
    bad = [FieldViolation("a", "x"), FieldViolation("b", "y", "--b")]
    assert violations_of(InvalidProblemError(bad)) == bad
    assert violations_of(ProblemTooLargeError(bad[0])) == bad[:1]
    assert violations_of(UnrepresentableError("too large")) == []


# -- field violations ---------------------------------------------------------------------------


def test_field_violation_prints_field_and_description_only():
    assert str(FieldViolation("parameters.tolerance", "must be >= 0")) == (
        "parameters.tolerance: must be >= 0"
    )
    with_flag = FieldViolation("parameters.tolerance", "must be >= 0", "--tolerance")
    assert str(with_flag) == "parameters.tolerance: must be >= 0"
    assert with_flag.flag == "--tolerance"
    assert FieldViolation("f", "d").flag is None


def test_invalid_problem_error_message_is_unchanged_by_flags():
    exc = InvalidProblemError(
        [
            FieldViolation("parameters.threads", "must be >= 0", "--threads"),
            FieldViolation("x", "y"),
        ]
    )
    assert str(exc) == "parameters.threads: must be >= 0; x: y"


@pytest.mark.parametrize(
    "params, field, flag",
    [
        (SolveParameters(time_limit_seconds=-1), "parameters.time_limit_seconds", "--time-limit"),
        (SolveParameters(tolerance=math.nan), "parameters.tolerance", "--tolerance"),
        (SolveParameters(threads=-1), "parameters.threads", "--threads"),
        (SolveParameters(seed=2**31), "parameters.seed", "--seed"),
        (SolveParameters(continuous="sometimes"), "parameters.continuous", "--continuous"),
        (SolveParameters(heuristic="guess"), "parameters.heuristic", "--heuristic"),
        (
            SolveParameters(heuristic="magnitude", cross_check="auto"),
            "parameters.cross_check",
            "--cross-check",
        ),
        (
            SolveParameters(heuristic="magnitude", continuous="optimize"),
            "parameters.continuous",
            "--continuous",
        ),
    ],
)
def test_parameter_violations_name_the_cli_flag(params, field, flag):
    with pytest.raises(InvalidProblemError) as info:
        validate_parameters(params)
    assert [(v.field, v.flag) for v in info.value.violations] == [(field, flag)]


def test_parameter_flags_are_flags_of_prunecert_solve():
    from solver.cli.app import build_parser

    # argparse has no public way to list a sub-command's options.
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    solve = commands.choices["solve"]
    options = {option for action in solve._actions for option in action.option_strings}
    for field, flag in PARAMETER_FLAGS.items():
        assert field.startswith("parameters.")
        assert flag in options, (field, flag)


def test_parameter_violation_without_a_flag():
    assert parameter_violation("parameters.drop_dominated_points", "x").flag is None
    assert parameter_violation("parameters.seed", "x") == FieldViolation(
        "parameters.seed", "x", "--seed"
    )


# -- generate arguments ---------------------------------------------------------------------------

GOOD = {"d": 2, "n": 4, "points_per_axis": None, "max_kept": None, "objective": "min_error"}


def generate_violations(**changes) -> list[FieldViolation]:
    args = {**GOOD, "max_error": None, **changes}
    with pytest.raises(InvalidProblemError) as info:
        validate_generate_arguments(**args)
    assert type(info.value) is InvalidProblemError
    return info.value.violations


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"points_per_axis": 2, "max_kept": 0},
        {"objective": "min_kept", "max_error": 0.0},
        {"objective": "pareto", "max_kept": 3},
        {"objective": "min_error", "max_error": math.nan},  # only min_kept reads it
    ],
)
def test_good_generate_arguments(args):
    validate_generate_arguments(**{**GOOD, "max_error": None, **args})


@pytest.mark.parametrize(
    "changes, text",
    [
        ({"d": 0}, "--d: must be at least 1, got 0"),
        ({"n": -2}, "--n: must be at least 1, got -2"),
        ({"points_per_axis": 1}, "--points-per-axis: must be at least 2, got 1"),
        ({"max_kept": -1}, "--max-kept: must be >= 0, got -1"),
        ({"objective": "min_kept"}, "--max-error: is required with --objective min_kept"),
        (
            {"objective": "min_kept", "max_error": math.inf},
            "--max-error: must be a finite number >= 0, got inf",
        ),
        (
            {"objective": "min_kept", "max_error": -0.5},
            "--max-error: must be a finite number >= 0, got -0.5",
        ),
    ],
)
def test_bad_generate_argument_names_its_flag(changes, text):
    [violation] = generate_violations(**changes)
    assert str(violation) == text
    assert violation.flag == violation.field  # the value is the flag itself


def test_every_bad_generate_argument_is_listed():
    violations = generate_violations(d=0, n=0, points_per_axis=0, max_kept=-1, objective="min_kept")
    assert [v.field for v in violations] == [
        "--d",
        "--n",
        "--points-per-axis",
        "--max-kept",
        "--max-error",
    ]
