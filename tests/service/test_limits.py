"""Time limits, cancellation and instances the fixed-point model cannot represent."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from solver.core.errors import UnrepresentableError
from solver.core.parameters import SolveParameters
from solver.core.problem import BoxGrid, MinError, Network, Neuron, Problem, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem


def hard_problem():
    # Builds in well under a second but takes far longer than 3 s to prove optimal on 2 cores:
    # a 3 s limit or stop lands in the search, past building, where the solve has a certified
    # mask to return (docs/design.md §14), even on a loaded machine.
    return paper_problem(2, 48, 3, PruningMode.WEIGHTS, MinError(), points_per_axis=21)


def test_time_limit_returns_a_certified_feasible_solution():
    start = time.monotonic()
    result = solve(hard_problem(), SolveParameters(time_limit_seconds=3.0))
    assert time.monotonic() - start < 30
    assert result.status == SolveStatus.FEASIBLE
    assert "time limit" in result.detail
    assert result.solution is not None
    assert result.objective_bound <= result.solution.error
    assert result.tolerance >= result.solution.error - result.objective_bound


def test_stop_event_cancels():
    stop = threading.Event()
    timer = threading.Timer(3.0, stop.set)
    timer.start()
    result = solve(hard_problem(), stop=stop)
    timer.cancel()
    assert result.status == SolveStatus.CANCELLED
    assert result.solution is not None  # the best mask so far, still certified
    assert result.objective_bound <= result.solution.error


def large_values_problem():
    rng = np.random.default_rng(0)
    return Problem(
        network=Network(
            hidden_weights=rng.uniform(-1, 1, (4, 2)) * 1e4,
            output_weights=rng.uniform(-1, 1, 4) * 1e3,
        ),
        target=Neuron(weights=np.ones(2)),
        domain=BoxGrid(-1.0, 1.0, 5),
        pruning=PruningMode.NEURONS,
    )


def test_unrepresentable_instance_is_refused():
    with pytest.raises(UnrepresentableError, match="tolerance"):
        solve(large_values_problem())
    # With a tolerance the scaling can resolve, the same instance is solved and certified.
    result = solve(large_values_problem(), SolveParameters(tolerance=0.1))
    assert result.status == SolveStatus.OPTIMAL
    assert result.tolerance <= 0.1


def test_cli_refuses_unrepresentable_instance(tmp_path):
    from solver.io import convert

    path = tmp_path / "big.json"
    path.write_text(convert.to_json(convert.problem_to_proto(large_values_problem())))
    proc = subprocess.run(
        [sys.executable, "-m", "solver.cli", "solve", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("prunecert: error: the network's values are too large")
    assert "Traceback" not in proc.stderr
