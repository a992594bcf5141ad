"""A distributed solve on the wire: its parameters (solve.proto DistributedParameters) and its
cubes (DistributedRun), every field surviving the round trip, from an engine result to the
message and back; the CLI's listing says which cubes a late cutoff closed."""

from __future__ import annotations

import math

import pytest

from prunecert.v1 import solve_pb2
from solver.cli.cubes import format_cubes
from solver.core.parameters import DistributedParameters, SolveParameters
from solver.core.result import SolveResult, SolveStatus
from solver.engine.cubes import CubeReport, DistributedResult
from solver.io import convert

CUBES = [
    CubeReport({3: True, 7: False}, "optimal", 0.125, 0.25, 0.5, 1.5, 1.25, kept=4),
    CubeReport({3: False, 7: True}, "closed", 0.49, None, 0.49, 0.3, 0.2, late_cutoff=True),
    CubeReport({3: True}, "split", 0.0, None, None, 20.0, 19.5),
    CubeReport({3: False, 7: False}, "empty", math.inf, None, 5.0, 0.0, 0.0, "min_kept error<=0.5"),
]


def test_every_cube_field_survives_the_round_trip():
    outcome = DistributedResult(SolveResult(SolveStatus.FEASIBLE), "kink", [3, 7])
    outcome.cubes = list(CUBES)
    outcome.workers = 2
    figures = convert.distributed_figures(outcome)
    msg = solve_pb2.SolveResult()
    convert.distributed_to_proto(figures, msg.distributed)
    back = convert.parse_distributed(solve_pb2.SolveResult.FromString(msg.SerializeToString()))
    assert back == figures
    assert [c.late_cutoff for c in back.cubes] == [False, True, False, False]
    assert back.cubes[0].kept == 4 and back.cubes[1].error is None
    assert back.cubes[3].bound == math.inf and back.cubes[3].phase == "min_kept error<=0.5"
    assert back.rule == "kink" and back.split_units == (3, 7) and back.workers == 2


def test_the_listing_marks_the_cubes_a_late_cutoff_closed():
    outcome = DistributedResult(SolveResult(SolveStatus.FEASIBLE), "magnitude", [3, 7])
    outcome.cubes = list(CUBES)
    lines = format_cubes(convert.distributed_figures(outcome)).splitlines()
    assert [line for line in lines if "(late cutoff)" in line] == [lines[2]]
    assert "3- 7+" in lines[2] and "closed" in lines[2]


@pytest.mark.parametrize("threads", [0, 1, 3, 64])
def test_the_distributed_parameters_survive_the_round_trip(threads):
    params = SolveParameters(distributed=DistributedParameters(16, "kink", threads))
    msg = convert.parameters_to_proto(params)
    back = convert.parse_parameters(solve_pb2.SolveParameters.FromString(msg.SerializeToString()))
    assert back.distributed == params.distributed
    # Unset means one thread per cube: older clients keep their behaviour.
    assert msg.distributed.HasField("cube_threads") == (threads != 1)
