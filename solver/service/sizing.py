"""Cheap checks and a memory estimate for a problem message, before anything is built
(issue 15, item 5).

Everything here reads lengths and scalars of the message only: it never converts the repeated
fields (a 10^7-value matrix becomes hundreds of MB of Python objects when converted, and holds
the GIL, so health stalled for seconds). What it refuses is RESOURCE_EXHAUSTED naming the field,
as the full validation (solver.core.validate) would, only sooner.

The memory estimate is the exact column model's (docs/design.md §3): one exact integer per
(point, candidate), kept as Python objects plus the backend's copy of the model. Measured at
about 100 bytes per entry (neurons mode, n = 128 to 1,024, up to 19,881 points: 2.06 GB for
n = 1,024 on 19,881 points); BYTES_PER_ENTRY keeps a margin above that. Weights mode on the
per-weight route (docs/design.md §15: "auto" above solver.backends.PATTERNS_THRESHOLD patterns,
or where the patterns are over their limit) enumerates no patterns: per point, the lazy column
model holds about one column per unit and the per-weight model d + 2 exact integers per unit
(its coefficients and bounds), counted as n (d + k + 2) candidates at the same bytes per entry
(an estimate by count, not measured).
"""

from __future__ import annotations

import math

from prunecert.v1 import problem_pb2
from solver.backends import per_weight_route
from solver.core.errors import FieldViolation, ProblemTooLargeError
from solver.core.problem import PruningMode
from solver.core.validate import DEFAULT_LIMITS, Limits

BYTES_PER_ENTRY = 128
# The solver process's own footprint (interpreter, OR-Tools, numpy) before any model.
BASE_BYTES = 256 * 1024 * 1024
# Up to this many repeated values, the full validation runs on the RPC thread (milliseconds);
# a larger request is validated by the worker that solves it, off the RPC thread.
FULL_CHECK_VALUES = 100_000

_WEIGHTS = problem_pb2.PRUNING_MODE_WEIGHTS


def _matrix_sizes(msg: problem_pb2.Matrix, field: str, max_rows: int, max_cols: int) -> list:
    bad = []
    if msg.rows > max_rows:
        bad.append(FieldViolation(field, f"{msg.rows} rows exceed the limit of {max_rows}"))
    if msg.cols > max_cols:
        bad.append(FieldViolation(field, f"{msg.cols} columns exceed the limit of {max_cols}"))
    if len(msg.values) > max_rows * max_cols:
        bad.append(
            FieldViolation(
                field, f"{len(msg.values)} values exceed the limit of {max_rows * max_cols}"
            )
        )
    return bad


def _vector_size(values, field: str, limit: int) -> list:
    if len(values) > limit:
        return [FieldViolation(field, f"{len(values)} values exceed the limit of {limit}")]
    return []


def _network_sizes(msg: problem_pb2.TwoLayerNetwork, field: str, limits: Limits) -> list:
    return (
        _matrix_sizes(
            msg.hidden_weights, f"{field}.hidden_weights", limits.max_units, limits.max_input_dim
        )
        + _vector_size(msg.hidden_biases, f"{field}.hidden_biases", limits.max_units)
        # k x n with k outputs (Network.outputs; the full validation checks the shape)
        + _vector_size(
            msg.output_weights, f"{field}.output_weights", limits.max_units * limits.max_outputs
        )
        + _vector_size(msg.output_biases, f"{field}.output_biases", limits.max_outputs)
    )


def precheck(msg: problem_pb2.Problem, limits: Limits) -> None:
    """ProblemTooLargeError (RESOURCE_EXHAUSTED) naming every field over a size limit, from
    the message's lengths alone."""
    bad = _network_sizes(msg.network, "network", limits)
    kind = msg.target.WhichOneof("kind")
    if kind == "network":
        bad += _network_sizes(msg.target.network, "target.network", limits)
    elif kind == "neuron":
        bad += _vector_size(
            msg.target.neuron.weights, "target.neuron.weights", limits.max_input_dim
        )
    elif kind == "samples":
        samples = msg.target.samples
        bad += _matrix_sizes(
            samples.points, "target.samples.points", limits.max_points, limits.max_input_dim
        )
        bad += _vector_size(
            samples.values, "target.samples.values", limits.max_points * limits.max_outputs
        )
    if msg.domain.WhichOneof("kind") == "points":
        bad += _matrix_sizes(
            msg.domain.points, "domain.points", limits.max_points, limits.max_input_dim
        )
    if bad:
        raise ProblemTooLargeError(bad)


def repeated_values(msg: problem_pb2.Problem) -> int:
    """How many repeated numbers the message holds (what converting it costs)."""
    count = 0
    for net in (msg.network, msg.target.network):
        count += len(net.hidden_weights.values) + len(net.hidden_biases)
        count += len(net.output_weights) + len(net.output_biases)
    count += len(msg.target.neuron.weights)
    count += len(msg.target.samples.points.values) + len(msg.target.samples.values)
    return count + len(msg.domain.points.values)


def model_entries(
    msg: problem_pb2.Problem, limits: Limits = DEFAULT_LIMITS, pattern_route: bool = False
) -> tuple[int, int]:
    """(rows, candidates) of the column model, as the message declares them: rows are points x
    outputs (points alone for one output); in weights mode on the per-weight route (decided as
    "auto" decides it, under ``limits``), the per-weight model's integers per row instead of the
    patterns (module docstring). ``pattern_route``: the solve builds the pattern model wherever
    it is within its limit (an explicit pattern backend, a cross-check, cubes). Call it after
    ``precheck``, so every count is bounded."""
    n, d = msg.network.hidden_weights.rows, msg.network.hidden_weights.cols
    if msg.target.WhichOneof("kind") == "samples":
        points = msg.target.samples.points.rows
    elif msg.domain.WhichOneof("kind") == "points":
        points = msg.domain.points.rows
    elif msg.domain.WhichOneof("kind") == "box_grid":
        k = msg.domain.box_grid.points_per_axis
        # K^d only when it is small enough to compute quickly; the full validation refuses
        # larger grids under max_points anyway.
        points = k**d if k < 2 or d * math.log2(k) <= 62 else 2**62
    else:
        points = 0
    k = max(1, min(msg.network.outputs, 62))
    # Rows are (point, output) pairs; weights-mode patterns are hidden masks x non-empty output
    # sets (docs/design.md §3).
    if msg.pruning != _WEIGHTS:
        return points * k, n
    if d > 62:
        return points * k, n * (d + k + 2)
    patterns = n * 2**d * (2**k - 1)
    fits = patterns <= limits.max_weight_candidates
    per_weight = per_weight_route(n, d, k, PruningMode.WEIGHTS, limits)
    if per_weight and fits:
        # The engine leaves the per-weight route for the pattern model when asked to, or when
        # the route's own limits refuse it (solver.engine.dispatch.weights_route).
        over = n * d > limits.max_per_weight_weights or n * points > limits.max_per_weight_relus
        per_weight = not (pattern_route or over)
    if per_weight or not fits:
        return points * k, n * (d + k + 2)
    return points * k, patterns


def estimated_bytes(msg: problem_pb2.Problem, limits: Limits = DEFAULT_LIMITS) -> int:
    points, candidates = model_entries(msg, limits)
    return BASE_BYTES + points * candidates * BYTES_PER_ENTRY


def check_memory(
    msg: problem_pb2.Problem,
    budget: int,
    limits: Limits = DEFAULT_LIMITS,
    pattern_route: bool = False,
) -> None:
    """ProblemTooLargeError naming the domain when the model would not fit ``budget`` bytes.
    ``limits``: the server's (the pattern model's limit decides the weights-mode route);
    ``pattern_route``: as model_entries."""
    points, candidates = model_entries(msg, limits, pattern_route)
    need = BASE_BYTES + points * candidates * BYTES_PER_ENTRY
    if need <= budget:
        return
    raise ProblemTooLargeError(
        FieldViolation(
            "domain",
            f"the model would take about {_size(need)} ({points} points x {candidates} "
            f"candidates x {BYTES_PER_ENTRY} bytes, plus {_size(BASE_BYTES)}), over this "
            f"server's worker memory budget of {_size(budget)}; use fewer points or units",
        )
    )


def check_problem(msg: problem_pb2.Problem, limits: Limits, budget: int) -> None:
    """``precheck`` then ``check_memory``: everything refused before conversion."""
    precheck(msg, limits)
    check_memory(msg, budget, limits)


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")
