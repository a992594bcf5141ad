"""The one place where problems, parameters and CLI-derived values are checked. The CLI, the
engine and the service all call ``validate_problem`` and ``validate_parameters`` (the CLI also
``validate_generate_arguments``); every complaint names the field (proto path) it is about and,
where one sets it, the CLI flag."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError, ProblemTooLargeError
from solver.core.parameters import (
    CONTINUOUS_MODES,
    HEURISTIC_CHOICES,
    ContinuousMode,
    SolveParameters,
)
from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    MinKept,
    Network,
    Neuron,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)


@dataclass(frozen=True)
class Limits:
    """Size limits; a server may configure its own. Over a limit is ProblemTooLargeError."""

    max_units: int = 1024
    # Realistic inputs (issue 11: up to d = 30); weights mode's patterns are capped below.
    max_input_dim: int = 32
    max_points: int = 200_000
    # Weights mode's pattern model enumerates, per unit, its 2^d hidden masks times the 2^k - 1
    # non-empty sets of output weights (docs/design.md §3): n * 2^d * (2^k - 1) patterns at
    # most. Above this the engine takes the per-weight route (docs/design.md §15), whose own
    # limits are the two below.
    max_weight_candidates: int = 65_536
    # Outputs k of the network (neurons mode's rows grow as k, weights mode's patterns as 2^k).
    max_outputs: int = 64
    # The per-weight route: hidden weights n * d (one binary each, plus one per unit) ...
    max_per_weight_weights: int = 16_384
    # ... and ReLUs n * points (one per (unit, point), each with d exact coefficients; 10^6 at
    # d = 32 is about 32 million exact integers, a few GB, when every point is active).
    max_per_weight_relus: int = 1_000_000


DEFAULT_LIMITS = Limits()
# For reading problems that a server already accepted under its own limits (client side).
NO_LIMITS = Limits(10**15, 10**15, 10**15, 10**15, 10**15, 10**15, 10**15)


def weight_patterns(n: int, d: int, k: int) -> int:
    """The most patterns weights mode enumerates for n units of input dimension d with k outputs
    (docs/design.md §3): every hidden mask times every non-empty set of output weights."""
    return n * 2**d * (2**k - 1)


def per_weight_violations(n: int, d: int, points: int, limits: Limits) -> list[FieldViolation]:
    """What keeps weights mode off the per-weight route (docs/design.md §15): its binaries
    (n * d hidden weights) and ReLUs (n * points) over ``limits``; empty when it fits."""
    bad = []
    if n * d > limits.max_per_weight_weights:
        bad.append(
            FieldViolation(
                "network.hidden_weights",
                f"the per-weight formulation has one binary per hidden weight: n * d = {n * d} "
                f"exceed the limit of {limits.max_per_weight_weights}",
            )
        )
    if n * points > limits.max_per_weight_relus:
        bad.append(
            FieldViolation(
                "domain",
                f"the per-weight formulation has one ReLU per (unit, point): n * points = "
                f"{n * points} exceed the limit of {limits.max_per_weight_relus}; use fewer "
                "points or units",
            )
        )
    return bad


class _Collector:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []
        self.too_large: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def over(self, field: str, description: str) -> None:
        self.too_large.append(FieldViolation(field, description))

    def vector(self, field: str, value, length: int | None, *, allow_empty=False) -> bool:
        arr = np.asarray(value, dtype=float) if value is not None else None
        if arr is None or arr.ndim != 1:
            self.add(field, "expected a list of numbers")
            return False
        if length is not None and arr.size != length:
            self.add(field, f"expected {length} values, got {arr.size}")
            return False
        if arr.size == 0 and not allow_empty:
            self.add(field, "must not be empty")
            return False
        self.finite(field, arr)
        return True

    def matrix(self, field: str, value, rows: int | None, cols: int | None) -> bool:
        arr = np.asarray(value, dtype=float) if value is not None else None
        if arr is None or arr.ndim != 2:
            self.add(field, "expected a matrix")
            return False
        r, c = arr.shape
        if (rows is not None and r != rows) or (cols is not None and c != cols):
            want_r = rows if rows is not None else r
            want_c = cols if cols is not None else c
            self.add(field, f"expected {want_r} x {want_c} values, got {r} x {c}")
            return False
        if r == 0 or c == 0:
            self.add(field, "must not be empty")
            return False
        self.finite(field, arr)
        return True

    def finite(self, field: str, arr) -> None:
        arr = np.asarray(arr, dtype=float)
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr.ravel()))
            self.add(field, f"must be finite (NaN or infinity at flat index {int(bad[0])})")

    def activation(self, field: str, value) -> None:
        if value not in (Activation.IDENTITY, Activation.RELU):
            self.add(field, "must be ACTIVATION_IDENTITY or ACTIVATION_RELU")


def _check_network(c: _Collector, prefix: str, net: Network, d: int | None, limits: Limits) -> bool:
    """Check one network; False when its hidden_weights are unusable (n and d unknown)."""
    if not c.matrix(f"{prefix}.hidden_weights", net.hidden_weights, None, d):
        return False
    n, nd = np.shape(net.hidden_weights)
    if n > limits.max_units:
        c.over(
            f"{prefix}.hidden_weights", f"{n} hidden units exceed the limit of {limits.max_units}"
        )
    if nd > limits.max_input_dim:
        c.over(
            f"{prefix}.hidden_weights",
            f"input dimension {nd} exceeds the limit of {limits.max_input_dim}",
        )
    if np.ndim(net.output_weights) == 2:  # k > 1 outputs
        k = int(np.shape(net.output_weights)[0])
        if k > limits.max_outputs:
            c.over(f"{prefix}.outputs", f"{k} outputs exceed the limit of {limits.max_outputs}")
        c.matrix(f"{prefix}.output_weights", net.output_weights, k, n)
        c.vector(f"{prefix}.output_biases", np.ravel(net.output_bias), k)
    else:
        c.vector(f"{prefix}.output_weights", net.output_weights, n)
        c.finite(f"{prefix}.output_bias", [net.output_bias])
    if net.hidden_biases is not None and np.size(net.hidden_biases) > 0:
        c.vector(f"{prefix}.hidden_biases", net.hidden_biases, n)
    c.activation(f"{prefix}.output_activation", net.output_activation)
    return True


def validate_problem(problem: Problem, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise InvalidProblemError (or ProblemTooLargeError) listing every bad field."""
    c = _Collector()
    net = problem.network
    if not isinstance(net, Network):
        c.add("network", "is required")
        raise InvalidProblemError(c.violations)
    if not _check_network(c, "network", net, None, limits):
        raise InvalidProblemError(c.violations)  # without n and d nothing else can be checked
    n, d, k = net.n, net.d, net.outputs

    target = problem.target
    m: int | None = None
    if isinstance(target, Neuron):
        c.vector("target.neuron.weights", target.weights, d)
        c.finite("target.neuron.bias", [target.bias])
        c.activation("target.neuron.activation", target.activation)
        if k > 1:
            c.add(
                "target.neuron",
                f"a neuron has one output and the network {k}: use a {k}-output network or "
                f"samples with {k} values per point",
            )
    elif isinstance(target, Network):
        if _check_network(c, "target.network", target, d, limits) and target.outputs != k:
            c.add(
                "target.network.outputs",
                f"expected {k} outputs like network, got {target.outputs}",
            )
    elif isinstance(target, Samples):
        if c.matrix("target.samples.points", target.points, None, d):
            m = int(np.shape(target.points)[0])
            if k == 1:
                c.vector("target.samples.values", target.values, m)
            else:
                c.matrix("target.samples.values", target.values, m, k)
    else:
        c.add("target", "is required (one of neuron, network, samples)")

    domain = problem.domain
    if isinstance(target, Samples):
        if domain is not None:
            c.add(
                "domain", "must be unset with a samples target (the samples' points are the domain)"
            )
    elif domain is None:
        c.add("domain", "is required (box_grid or points)")
    elif isinstance(domain, BoxGrid):
        f = "domain.box_grid"
        c.finite(f"{f}.low", [domain.low])
        c.finite(f"{f}.high", [domain.high])
        if np.isfinite(domain.low) and np.isfinite(domain.high):
            if not domain.low < domain.high:
                c.add(f"{f}.high", f"must exceed low ({domain.high} <= {domain.low})")
            elif not np.isfinite(float(domain.high) - float(domain.low)):
                c.add(f, "high - low overflows a double; use a smaller box")
        if domain.points_per_axis < 2:
            c.add(f"{f}.points_per_axis", f"must be at least 2, got {domain.points_per_axis}")
        elif d * math.log2(int(domain.points_per_axis)) > 62:
            # K^d for a huge d is an enormous integer, slow to compute and too long to print.
            k = int(domain.points_per_axis)
            c.over("domain", f"{k}^{d} points exceed the limit of {limits.max_points}")
        else:
            m = int(domain.points_per_axis) ** d
    elif isinstance(domain, PointSet):
        if c.matrix("domain.points", domain.points, None, d):
            m = int(np.shape(domain.points)[0])
    else:
        c.add("domain", "must be a box_grid or points")
    if m is not None and m > limits.max_points:
        c.over("domain", f"{m} points exceed the limit of {limits.max_points}")

    if problem.pruning not in (PruningMode.NEURONS, PruningMode.WEIGHTS):
        c.add("pruning", "must be PRUNING_MODE_NEURONS or PRUNING_MODE_WEIGHTS")
    elif (
        problem.pruning == PruningMode.WEIGHTS
        and weight_patterns(n, d, k) > limits.max_weight_candidates
        and m is not None
    ):
        # Too many patterns to enumerate: only the per-weight route solves it (the engine takes
        # it, solver/backends/__init__.py per_weight_route), so its limits apply instead.
        counted = (
            f"n * 2^d = {n * 2**d} hidden masks"
            if k == 1
            else f"n * 2^d * (2^k - 1) = {weight_patterns(n, d, k)} patterns"
        )
        for violation in per_weight_violations(n, d, m, limits):
            c.over(
                violation.field,
                f"weights mode with {counted} (over the pattern model's limit of "
                f"{limits.max_weight_candidates}) takes the per-weight route, and "
                + violation.description,
            )

    objective = problem.objective
    if isinstance(objective, MinError | Pareto):
        name = "min_error" if isinstance(objective, MinError) else "pareto"
        if objective.max_kept is not None and objective.max_kept < 0:
            c.add(f"objective.{name}.max_kept", "must be >= 0")
    elif isinstance(objective, MinKept):
        if not np.isfinite(objective.max_error):
            c.add("objective.min_kept.max_error", "must be finite")
        elif objective.max_error < 0:
            c.add("objective.min_kept.max_error", f"must be >= 0, got {objective.max_error}")
    else:
        c.add("objective", "is required (one of min_error, min_kept, pareto)")

    if c.violations:
        raise InvalidProblemError(c.violations)
    if c.too_large:
        raise ProblemTooLargeError(c.too_large)


def validate_magnitudes(problem: Problem) -> None:
    """Raise InvalidProblemError when the values of a valid problem multiply beyond float64's
    range. Not part of validate_problem: such a problem is well formed (it round-trips through
    JSON exactly) but cannot be solved or certified, so every solve and certificate checks it
    before any arithmetic (solver/exact/certify.py ExactDomain, solver/engine/run.py Run)."""
    c = _Collector()
    _check_magnitudes(c, problem)
    if c.violations:
        raise InvalidProblemError(c.violations)


def _output_reach(net: Network, radius: float) -> float:
    """An upper bound (inf on overflow) on |net(x)| for every x with max |x_j| <= radius, and on
    every pruned network's output: every term counted in absolute value."""
    with np.errstate(over="ignore", invalid="ignore"):
        u = np.abs(np.asarray(net.hidden_weights, dtype=float))
        pre = np.abs(np.asarray(net.biases, dtype=float)) + radius * u.sum(axis=1)
        total = np.abs(net.output_matrix) @ pre + np.abs(net.output_biases)
    return float(np.max(total))


def _check_magnitudes(c: _Collector, problem: Problem) -> None:
    """Refuse values whose products leave float64's range (docs/design.md §2: every figure is
    reported as a double; §8: the float backends hold every column as a double)."""
    target = problem.target
    domain = problem.domain
    if isinstance(target, Samples):
        points = np.asarray(target.points, dtype=float)
    elif isinstance(domain, BoxGrid):
        points = np.array([domain.low, domain.high], dtype=float)
    else:
        points = np.asarray(domain.points, dtype=float)
    radius = float(np.max(np.abs(points))) if points.size else 0.0
    limit = f"must stay below 2^1000 ~ {MAX_OUTPUT_MAGNITUDE:.3g}"
    reach = _output_reach(problem.network, radius)
    if not reach < MAX_OUTPUT_MAGNITUDE:
        c.add(
            "network.output_weights",
            f"output weights times hidden weights, biases and inputs reach {reach:.3g} on the "
            f"domain; every network output {limit} (rescale the network and target)",
        )
    if isinstance(target, Network):
        reach, field = _output_reach(target, radius), "target.network.output_weights"
    elif isinstance(target, Neuron):
        with np.errstate(over="ignore", invalid="ignore"):
            weights = np.abs(np.asarray(target.weights, dtype=float))
            reach = float(radius * weights.sum()) + abs(float(target.bias))
        field = "target.neuron.weights"
    else:
        reach, field = float(np.max(np.abs(target.values))), "target.samples.values"
    if not reach < MAX_OUTPUT_MAGNITUDE:
        c.add(field, f"the target reaches {reach:.3g} on the domain; it {limit}")


# parameters.threads at most this. CP-SAT rejects num_workers above 10,000 as an invalid model and
# the proto field is an int32 (2^31 fails to convert); a solve is one process on one machine, and
# 1,024 threads is beyond any machine it runs on, while more threads than cores only slows a solve.
MAX_THREADS = 1024
# Every output of the network and the target on the domain must stay below this in absolute
# value: exact certificates round errors to doubles, and the float backends' models hold
# column values as doubles. Bounds leave room for a sum of two such values and for scaling.
MAX_OUTPUT_MAGNITUDE = 2.0**1000

# The `prunecert solve` flag that sets each parameter (solver/cli), so that a complaint about a
# parameter can name the flag the user typed. drop_dominated_points has no flag.
PARAMETER_FLAGS: dict[str, str] = {
    "parameters.time_limit_seconds": "--time-limit",
    "parameters.backend": "--backend",
    "parameters.threads": "--threads",
    "parameters.seed": "--seed",
    "parameters.tolerance": "--tolerance",
    "parameters.row_generation": "--row-generation",
    "parameters.cross_check": "--cross-check",
    "parameters.continuous": "--continuous",
    "parameters.heuristic": "--heuristic",
    "parameters.heuristic_start": "--heuristic-start",
    "parameters.sparsest": "--sparsest",
}


def parameter_violation(field: str, description: str) -> FieldViolation:
    """A violation of ``field`` (a ``parameters.*`` path) naming the CLI flag that sets it."""
    return FieldViolation(field, description, PARAMETER_FLAGS.get(field))


def validate_parameters(params: SolveParameters) -> None:
    """The checks on parameters alone (those that depend on the problem are the engine's)."""
    bad = []
    if params.time_limit_seconds is not None and not (
        math.isfinite(params.time_limit_seconds) and params.time_limit_seconds >= 0
    ):
        bad.append(
            parameter_violation("parameters.time_limit_seconds", "must be a finite number >= 0")
        )
    if params.tolerance is not None and not (
        math.isfinite(params.tolerance) and params.tolerance >= 0
    ):
        bad.append(parameter_violation("parameters.tolerance", "must be a finite number >= 0"))
    if params.threads is not None and (
        isinstance(params.threads, bool)
        or not isinstance(params.threads, int | np.integer)
        or not 0 <= params.threads <= MAX_THREADS
    ):
        bad.append(
            parameter_violation(
                "parameters.threads", f"must be an integer in [0, {MAX_THREADS}] (0: the default)"
            )
        )
    if params.seed is not None and not 0 <= params.seed < 2**31:
        # Solvers take a signed 32-bit seed.
        bad.append(parameter_violation("parameters.seed", "must be in [0, 2^31)"))
    if params.continuous is not None and params.continuous not in CONTINUOUS_MODES:
        bad.append(
            parameter_violation(
                "parameters.continuous", f"must be one of {', '.join(CONTINUOUS_MODES)}"
            )
        )
    if params.heuristic is not None:
        if params.heuristic not in HEURISTIC_CHOICES:
            choices = ", ".join(HEURISTIC_CHOICES)
            bad.append(parameter_violation("parameters.heuristic", f"must be one of {choices}"))
        if params.cross_check:
            bad.append(parameter_violation("parameters.cross_check", "not with a heuristic"))
        if params.continuous == ContinuousMode.OPTIMIZE:
            bad.append(parameter_violation("parameters.continuous", "optimize is an exact solve"))
    if bad:
        raise InvalidProblemError(bad)


def objective_argument_violations(
    points_per_axis: int | None, max_kept: int | None, objective: str, max_error: float | None
) -> list[FieldViolation]:
    """The checks on the grid and objective flags that `prunecert generate` and `prunecert
    import` share, before a problem exists: each violation's field is its flag.
    ``objective`` is the objective's oneof name (min_error, min_kept, pareto)."""
    bad = []

    def flag(name: str, description: str) -> None:
        bad.append(FieldViolation(name, description, name))

    if points_per_axis is not None and points_per_axis < 2:
        flag("--points-per-axis", f"must be at least 2, got {points_per_axis}")
    if max_kept is not None and max_kept < 0:
        flag("--max-kept", f"must be >= 0, got {max_kept}")
    if objective == "min_kept":
        if max_error is None:
            flag("--max-error", "is required with --objective min_kept")
        elif not (math.isfinite(max_error) and max_error >= 0):
            flag("--max-error", f"must be a finite number >= 0, got {max_error}")
    return bad


def validate_generate_arguments(
    d: int,
    n: int,
    points_per_axis: int | None,
    max_kept: int | None,
    objective: str,
    max_error: float | None,
) -> None:
    """The checks on the arguments of ``prunecert generate paper`` before a problem exists.

    These values are the flags themselves (no problem field holds them yet), so each violation's
    field is its flag. ``points_per_axis`` None is the generator's default.
    """
    bad = [
        FieldViolation(name, f"must be at least 1, got {value}", name)
        for name, value in (("--d", d), ("--n", n))
        if value < 1
    ]
    bad += objective_argument_violations(points_per_axis, max_kept, objective, max_error)
    if bad:
        raise InvalidProblemError(bad)
