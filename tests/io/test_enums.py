"""The proto contract: every core enum value is tied to its prunecert.v1 constant, both ways.

The core enums mirror the proto by hand (the core imports no protobuf); these tests fail when
one side gains, loses or renumbers a value without the other.
"""

from __future__ import annotations

import enum

import pytest

from prunecert.v1 import problem_pb2, solve_pb2
from solver.core.parameters import ContinuousMode, Heuristic, SolveParameters
from solver.core.problem import Activation, PruningMode
from solver.core.result import SolveStatus
from solver.io import convert

# (core IntEnum, proto enum descriptor, the proto constants' prefix)
MIRRORED = [
    (Activation, problem_pb2.Activation, "ACTIVATION_"),
    (PruningMode, problem_pb2.PruningMode, "PRUNING_MODE_"),
    (SolveStatus, solve_pb2.SolveStatus, "SOLVE_STATUS_"),
]


@pytest.mark.parametrize("core, proto, prefix", MIRRORED, ids=lambda x: getattr(x, "__name__", ""))
def test_int_enums_mirror_the_proto_by_name_and_number(core: type[enum.IntEnum], proto, prefix):
    proto_values = {name.removeprefix(prefix): number for name, number in proto.items()}
    core_values = {member.name: int(member) for member in core}
    assert core_values == proto_values


def test_continuous_modes_round_trip_through_their_proto_constants():
    # The core has no UNSPECIFIED member: None means "grid only", the proto's 0.
    names = {mode.name for mode in ContinuousMode} | {"UNSPECIFIED"}
    assert names == {n.removeprefix("CONTINUOUS_MODE_") for n in solve_pb2.ContinuousMode.keys()}
    for mode in [None, *ContinuousMode]:
        msg = convert.parameters_to_proto(SolveParameters(continuous=mode))
        expected = "UNSPECIFIED" if mode is None else mode.name
        assert solve_pb2.ContinuousMode.Name(msg.continuous) == f"CONTINUOUS_MODE_{expected}"
        assert convert.parse_parameters(msg).continuous == mode


def test_heuristics_round_trip_as_strings():
    # SolveParameters.heuristic is a string field in solve.proto: the enum's values are the
    # documented strings.
    for heuristic in Heuristic:
        msg = convert.parameters_to_proto(SolveParameters(heuristic=heuristic))
        assert msg.heuristic == heuristic.value
        parsed = convert.parse_parameters(msg).heuristic
        assert parsed is heuristic


def test_string_parameters_become_enum_members():
    params = SolveParameters(continuous="optimize", heuristic="best")
    assert params.continuous is ContinuousMode.OPTIMIZE
    assert params.heuristic is Heuristic.BEST
    # Unknown strings stay as given, for validation to name the field.
    assert SolveParameters(heuristic="nope").heuristic == "nope"
