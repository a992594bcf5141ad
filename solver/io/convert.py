"""The one module that converts between protobuf messages (prunecert.v1) and the core's
dataclasses, and reads/writes their proto3 JSON form (problem files, --json output).

It imports only the core and the generated code at load time, so the client library can use it
without the engine; family specs need solver.instances, imported when one is parsed.

At about 500 lines it is over the project's usual module size on purpose: it is the one place
where the map between every message of the contract and its core value lives (cvxpy keeps its
solver-variable map in one place for the same reason), and splitting it by message would spread
that map over several modules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message

from prunecert.v1 import problem_pb2, solve_pb2
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import (
    CONTINUOUS_MODES,
    DEFAULT_CUBE_RULE,
    DEFAULT_CUBE_THREADS,
    DEFAULT_CUBES,
    ContinuousMode,
    DistributedParameters,
    SolveParameters,
)
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    MinKept,
    Network,
    Neuron,
    Objective,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import (
    ContinuousFigures,
    ContinuousRoundFigures,
    CrossCheck,
    FrontierPoint,
    Solution,
    SolveResult,
    SolveStats,
    SolveStatus,
)
from solver.core.validate import DEFAULT_LIMITS, Limits, parameter_violation, validate_problem

if TYPE_CHECKING:
    from solver.instances.families import Family

# -- problem -----------------------------------------------------------------------------------


def _matrix(msg: problem_pb2.Matrix, field: str, bad: list[FieldViolation]) -> np.ndarray | None:
    rows, cols, values = int(msg.rows), int(msg.cols), list(msg.values)
    if rows * cols != len(values):
        bad.append(FieldViolation(field, f"expected {rows} x {cols} values, got {len(values)}"))
        return None
    return np.asarray(values, dtype=float).reshape(rows, cols)


def _enum(enum_type, value: int):
    try:
        return enum_type(int(value))
    except ValueError:
        return enum_type(0)


def _network(
    msg: problem_pb2.TwoLayerNetwork, field: str, bad: list[FieldViolation]
) -> Network | None:
    weights = _matrix(msg.hidden_weights, f"{field}.hidden_weights", bad)
    if weights is None:
        return None
    biases = np.asarray(msg.hidden_biases, dtype=float) if len(msg.hidden_biases) else None
    k, n = int(msg.outputs), int(weights.shape[0])
    output_weights = np.asarray(msg.output_weights, dtype=float)
    output_bias: float | np.ndarray = float(msg.output_bias)
    if k <= 1:
        if len(msg.output_biases):
            bad.append(
                FieldViolation(
                    f"{field}.output_biases", "must be empty with one output (use output_bias)"
                )
            )
            return None
    else:
        # k > 1 outputs (docs/design.md §1): output_weights row-major k x n, output_biases k.
        if output_weights.size != k * n:
            bad.append(
                FieldViolation(
                    f"{field}.output_weights",
                    f"expected k x n = {k} x {n} values, got {output_weights.size}",
                )
            )
            return None
        if msg.output_bias != 0.0:
            bad.append(
                FieldViolation(
                    f"{field}.output_bias",
                    f"must be 0 with {k} outputs (their biases go in output_biases)",
                )
            )
            return None
        output_weights = output_weights.reshape(k, n)
        output_bias = (
            np.asarray(msg.output_biases, dtype=float) if len(msg.output_biases) else np.zeros(k)
        )
    return Network(
        hidden_weights=weights,
        output_weights=output_weights,
        hidden_biases=biases,
        output_bias=output_bias,
        output_activation=_enum(Activation, msg.output_activation),
    )


def _objective(msg: problem_pb2.Objective) -> Objective | None:
    kind = msg.WhichOneof("kind")
    if kind == "min_error":
        o = msg.min_error
        return MinError(max_kept=int(o.max_kept) if o.HasField("max_kept") else None)
    if kind == "min_kept":
        return MinKept(max_error=float(msg.min_kept.max_error))
    if kind == "pareto":
        o = msg.pareto
        return Pareto(max_kept=int(o.max_kept) if o.HasField("max_kept") else None)
    return None


def parse_problem(msg: problem_pb2.Problem, limits: Limits = DEFAULT_LIMITS) -> Problem:
    """A validated Problem from its message; InvalidProblemError names every bad field."""
    bad: list[FieldViolation] = []
    network = None
    if not msg.HasField("network"):
        bad.append(FieldViolation("network", "is required"))
    else:
        network = _network(msg.network, "network", bad)

    target = None
    kind = msg.target.WhichOneof("kind") if msg.HasField("target") else None
    if kind == "neuron":
        t = msg.target.neuron
        target = Neuron(
            weights=np.asarray(t.weights, dtype=float),
            bias=float(t.bias),
            activation=_enum(Activation, t.activation),
        )
    elif kind == "network":
        target = _network(msg.target.network, "target.network", bad)
    elif kind == "samples":
        # A malformed points matrix still makes a samples target (so no domain is expected).
        points = _matrix(msg.target.samples.points, "target.samples.points", bad)
        values = np.asarray(msg.target.samples.values, dtype=float)
        k = network.outputs if network is not None else 1
        if k > 1 and points is not None:
            # m * k values, row-major m x k (problem.proto Samples).
            m = points.shape[0]
            if values.size == m * k:
                values = values.reshape(m, k)
            else:
                bad.append(
                    FieldViolation(
                        "target.samples.values",
                        f"expected m x k = {m} x {k} values, got {values.size}",
                    )
                )
        target = Samples(points=points, values=values)  # type: ignore[arg-type]

    domain = None
    dkind = msg.domain.WhichOneof("kind") if msg.HasField("domain") else None
    if dkind == "box_grid":
        g = msg.domain.box_grid
        domain = BoxGrid(
            low=float(g.low), high=float(g.high), points_per_axis=int(g.points_per_axis)
        )
    elif dkind == "points":
        points = _matrix(msg.domain.points, "domain.points", bad)
        if points is not None:
            domain = PointSet(points=points)
    elif msg.HasField("domain"):
        bad.append(FieldViolation("domain", "must be a box_grid or points"))

    objective = _objective(msg.objective) if msg.HasField("objective") else None

    problem = Problem(
        network=network,  # type: ignore[arg-type]
        target=target,  # type: ignore[arg-type]
        domain=domain,
        pruning=_enum(PruningMode, msg.pruning),
        objective=objective,  # type: ignore[arg-type]
    )
    if not bad:
        validate_problem(problem, limits)
        return problem
    # A malformed matrix left its part unset: report it with whatever else is wrong, minus
    # the complaints that only echo the missing part.
    try:
        validate_problem(problem, limits)
    except InvalidProblemError as exc:
        bad += [v for v in exc.violations if not any(b.field.startswith(v.field) for b in bad)]
    raise InvalidProblemError(bad)


def _matrix_to_proto(values: np.ndarray, out: problem_pb2.Matrix) -> None:
    arr = np.asarray(values, dtype=float)
    out.rows, out.cols = arr.shape
    out.values[:] = arr.ravel().tolist()


def _network_to_proto(net: Network, out: problem_pb2.TwoLayerNetwork) -> None:
    _matrix_to_proto(net.hidden_weights, out.hidden_weights)
    if net.hidden_biases is not None:
        out.hidden_biases[:] = np.asarray(net.hidden_biases, dtype=float).tolist()
    out.output_weights[:] = np.asarray(net.output_weights, dtype=float).ravel().tolist()
    if net.outputs == 1:
        out.output_bias = float(net.output_bias)  # outputs unset: v1's one-output form
    else:
        out.outputs = net.outputs
        out.output_biases[:] = net.output_biases.tolist()
    out.output_activation = int(net.output_activation)


def problem_to_proto(problem: Problem) -> problem_pb2.Problem:
    msg = problem_pb2.Problem()
    _network_to_proto(problem.network, msg.network)
    target = problem.target
    if isinstance(target, Neuron):
        msg.target.neuron.weights[:] = np.asarray(target.weights, dtype=float).tolist()
        msg.target.neuron.bias = float(target.bias)
        msg.target.neuron.activation = int(target.activation)
    elif isinstance(target, Network):
        _network_to_proto(target, msg.target.network)
    elif isinstance(target, Samples):
        _matrix_to_proto(target.points, msg.target.samples.points)
        msg.target.samples.values[:] = np.asarray(target.values, dtype=float).ravel().tolist()
    if isinstance(problem.domain, BoxGrid):
        g = msg.domain.box_grid
        g.low, g.high, g.points_per_axis = (
            problem.domain.low,
            problem.domain.high,
            problem.domain.points_per_axis,
        )
    elif isinstance(problem.domain, PointSet):
        _matrix_to_proto(problem.domain.points, msg.domain.points)
    msg.pruning = int(problem.pruning)
    objective = problem.objective
    if isinstance(objective, MinError):
        msg.objective.min_error.SetInParent()
        if objective.max_kept is not None:
            msg.objective.min_error.max_kept = objective.max_kept
    elif isinstance(objective, MinKept):
        msg.objective.min_kept.max_error = objective.max_error
    elif isinstance(objective, Pareto):
        msg.objective.pareto.SetInParent()
        if objective.max_kept is not None:
            msg.objective.pareto.max_kept = objective.max_kept
    return msg


# -- families -------------------------------------------------------------------------------------


def parse_family(msg) -> Family:
    """A validated Family from a prunecert.v1.FamilySpec."""
    from solver.instances.families import Family, validate_family

    objective = None
    if msg.HasField("objective"):
        objective = _objective(msg.objective)
    family = Family(
        generator=msg.generator,
        d=tuple(int(v) for v in msg.d),
        n=tuple(int(v) for v in msg.n),
        seeds=tuple(int(v) for v in msg.seeds),
        pruning=tuple(_enum(PruningMode, v) for v in msg.pruning),
        objective=objective,
        points_per_axis=int(msg.points_per_axis),
        count=int(msg.count),
        low=float(msg.low),
        high=float(msg.high),
    )
    validate_family(family)
    return family


# -- masks, parameters, results ------------------------------------------------------------------


def mask_to_proto(mask: Mask) -> solve_pb2.Mask:
    msg = solve_pb2.Mask()
    if mask.neurons is not None:
        msg.neurons[:] = [bool(b) for b in np.asarray(mask.neurons).ravel()]
    else:
        output = np.asarray(mask.output_weights)
        msg.hidden_weights[:] = [bool(b) for b in np.asarray(mask.hidden_weights).ravel()]
        msg.output_weights[:] = [bool(b) for b in output.ravel()]
        if output.ndim == 2:  # k > 1 outputs: k x n flags, row-major
            msg.outputs = output.shape[0]
    return msg


def parse_mask(msg: solve_pb2.Mask, problem: Problem, field: str = "mask") -> Mask:
    """A mask for ``problem``; its shape must match the pruning mode and network."""
    n, d = problem.network.n, problem.network.d
    bad: list[FieldViolation] = []
    if problem.pruning == PruningMode.NEURONS:
        if len(msg.neurons) != n:
            bad.append(
                FieldViolation(f"{field}.neurons", f"expected {n} values, got {len(msg.neurons)}")
            )
        if len(msg.hidden_weights) or len(msg.output_weights):
            bad.append(FieldViolation(field, "neurons mode takes only mask.neurons"))
        if bad:
            raise InvalidProblemError(bad)
        return Mask(neurons=np.asarray(msg.neurons, dtype=bool))
    if len(msg.hidden_weights) != n * d:
        bad.append(
            FieldViolation(
                f"{field}.hidden_weights", f"expected {n * d} values, got {len(msg.hidden_weights)}"
            )
        )
    k = problem.network.outputs
    # The message says its k (Mask.outputs: 0 or 1 for one output), as a result's mask is read
    # without its problem (_mask_from_message): both readers take k from the same field.
    if max(1, msg.outputs) != k:
        bad.append(
            FieldViolation(f"{field}.outputs", f"expected {k} (the network's), got {msg.outputs}")
        )
    if len(msg.output_weights) != k * n:
        expected = f"{n} values" if k == 1 else f"k x n = {k} x {n} values"
        bad.append(
            FieldViolation(
                f"{field}.output_weights", f"expected {expected}, got {len(msg.output_weights)}"
            )
        )
    if len(msg.neurons):
        bad.append(
            FieldViolation(
                f"{field}.neurons", "weights mode takes hidden_weights and output_weights"
            )
        )
    if bad:
        raise InvalidProblemError(bad)
    output = np.asarray(msg.output_weights, dtype=bool)
    return Mask(
        hidden_weights=np.asarray(msg.hidden_weights, dtype=bool).reshape(n, d),
        output_weights=output if k == 1 else output.reshape(k, n),
    )


def parameters_to_proto(params: SolveParameters) -> solve_pb2.SolveParameters:
    msg = solve_pb2.SolveParameters(
        time_limit_seconds=params.time_limit_seconds or 0.0,
        backend=params.backend or "",
        threads=params.threads or 0,
        seed=params.seed or 0,
        tolerance=params.tolerance or 0.0,
        cross_check=params.cross_check or "",
    )
    if params.row_generation is not None:
        msg.row_generation = params.row_generation
    if params.drop_dominated_points is not None:
        msg.drop_dominated_points = params.drop_dominated_points
    if params.continuous not in _CONTINUOUS_TO_PROTO:
        modes = ", ".join(CONTINUOUS_MODES)
        raise InvalidProblemError(
            [parameter_violation("parameters.continuous", f"must be one of {modes}")]
        )
    msg.continuous = _CONTINUOUS_TO_PROTO[params.continuous]
    msg.heuristic = params.heuristic or ""
    if params.heuristic_start is not None:
        msg.heuristic_start = params.heuristic_start
    if params.sparsest is not None:
        msg.sparsest = params.sparsest
    if params.distributed is not None:
        msg.distributed.cubes = params.distributed.cubes
        msg.distributed.cube_rule = params.distributed.cube_rule
        if params.distributed.cube_threads != DEFAULT_CUBE_THREADS:
            msg.distributed.cube_threads = params.distributed.cube_threads
    return msg


_CONTINUOUS_TO_PROTO = {
    None: solve_pb2.CONTINUOUS_MODE_UNSPECIFIED,
    ContinuousMode.EVALUATE: solve_pb2.CONTINUOUS_MODE_EVALUATE,
    ContinuousMode.OPTIMIZE: solve_pb2.CONTINUOUS_MODE_OPTIMIZE,
}
_CONTINUOUS_FROM_PROTO = {v: k for k, v in _CONTINUOUS_TO_PROTO.items()}


def parse_parameters(msg: solve_pb2.SolveParameters) -> SolveParameters:
    return SolveParameters(
        time_limit_seconds=msg.time_limit_seconds or None,
        backend=msg.backend or None,
        threads=msg.threads or None,
        seed=msg.seed if msg.seed else None,
        tolerance=msg.tolerance or None,
        row_generation=msg.row_generation if msg.HasField("row_generation") else None,
        drop_dominated_points=(
            msg.drop_dominated_points if msg.HasField("drop_dominated_points") else None
        ),
        cross_check=msg.cross_check or None,
        # An unknown enum number (a newer client) is refused by validation, not dropped.
        continuous=_CONTINUOUS_FROM_PROTO.get(msg.continuous, f"unknown ({msg.continuous})"),
        heuristic=msg.heuristic or None,
        heuristic_start=msg.heuristic_start if msg.HasField("heuristic_start") else None,
        sparsest=msg.sparsest if msg.HasField("sparsest") else None,
        distributed=_distributed(msg),
    )


def _distributed(msg: solve_pb2.SolveParameters) -> DistributedParameters | None:
    """SolveParameters.distributed: unset is None (one solve); 0 cubes and an empty rule are the
    defaults, as for the other fields; anything else is kept for validation to name."""
    if not msg.HasField("distributed"):
        return None
    return DistributedParameters(
        cubes=msg.distributed.cubes or DEFAULT_CUBES,
        cube_rule=msg.distributed.cube_rule or DEFAULT_CUBE_RULE,
        cube_threads=(
            msg.distributed.cube_threads
            if msg.distributed.HasField("cube_threads")
            else DEFAULT_CUBE_THREADS
        ),
    )


def result_to_proto(result: SolveResult) -> solve_pb2.SolveResult:
    msg = solve_pb2.SolveResult(
        status=int(result.status),
        objective_bound=result.objective_bound,
        tolerance=result.tolerance,
        detail=result.detail,
    )
    if result.solution is not None:
        msg.solution.mask.CopyFrom(mask_to_proto(result.solution.mask))
        msg.solution.kept = result.solution.kept
        msg.solution.error = result.solution.error
    for point in result.frontier:
        msg.frontier.add(
            kept=point.kept,
            error=point.error,
            mask=mask_to_proto(point.mask),
            error_bound=point.error_bound,
            certified=point.certified,
        )
    if result.cross_check is not None:
        c = result.cross_check
        msg.cross_check.backend = c.backend
        msg.cross_check.status = int(c.status)
        if c.solution is not None:
            msg.cross_check.solution.mask.CopyFrom(mask_to_proto(c.solution.mask))
            msg.cross_check.solution.kept = c.solution.kept
            msg.cross_check.solution.error = c.solution.error
        msg.cross_check.objective_bound = c.objective_bound
        msg.cross_check.agrees = c.agrees
        msg.cross_check.detail = c.detail
    if result.continuous is not None:
        f = result.continuous
        msg.continuous.error = f.error
        msg.continuous.worst_point[:] = f.worst_point
        msg.continuous.lower_bound = f.lower_bound
        msg.continuous.optimal = f.optimal
        msg.continuous.detail = f.detail
        if f.grid_error is not None:
            msg.continuous.grid_error = f.grid_error
        for r in f.rounds:
            msg.continuous.rounds.add(
                points=r.points,
                lower_bound=r.lower_bound,
                upper_bound=r.upper_bound,
                seconds=r.seconds,
            )
    # SolveStats mirrors its message field for field.
    # A shallow field copy: dataclasses.asdict deep-copies, which the subset-sum batches measured.
    stats = {f.name: getattr(result.stats, f.name) for f in dataclasses.fields(result.stats)}
    msg.stats.CopyFrom(solve_pb2.SolveStats(**stats))
    return msg


# -- a distributed solve's cubes -------------------------------------------------------------------
# The core's SolveResult has no place for them: a distributed result is the engine's
# DistributedResult (solver.engine.cubes) in process, and SolveResult.distributed on the wire. These
# figures are that message's values, readable without the engine (the client, the CLI's remote
# path); ``distributed_figures`` takes them from an engine result.


@dataclass(frozen=True)
class CubeFigures:
    """One cube: its decisions (unit -> live), its state, its bound (see solve.proto
    CubeReport: an error or, in a min_kept phase, a kept count), its best mask's exact error
    (rounded up) and kept count, and its cost."""

    decisions: dict[int, bool]
    state: str
    bound: float
    error: float | None
    cutoff: float | None
    seconds: float
    cpu_seconds: float
    phase: str = "min_error"
    kept: int | None = None
    late_cutoff: bool = False  # closed while it ran by a cutoff published after it started


@dataclass(frozen=True)
class DistributedFigures:
    """A distributed solve's cubes (solve.proto DistributedRun)."""

    rule: str
    split_units: tuple[int, ...]
    workers: int
    cubes: tuple[CubeFigures, ...]
    cpu_seconds: float


def distributed_figures(outcome) -> DistributedFigures:
    """The figures of an engine DistributedResult (read by attribute: io does not load the
    engine at import, see the module docstring)."""
    return DistributedFigures(
        rule=outcome.rule,
        split_units=tuple(int(u) for u in outcome.split_units),
        workers=int(outcome.workers),
        cubes=tuple(
            CubeFigures(
                decisions={int(u): bool(live) for u, live in cube.decisions.items()},
                state=str(cube.state),
                bound=float(cube.bound),
                error=None if cube.error is None else float(cube.error),
                cutoff=None if cube.cutoff is None else float(cube.cutoff),
                seconds=float(cube.seconds),
                cpu_seconds=float(cube.cpu_seconds),
                phase=str(getattr(cube, "phase", "min_error")),
                kept=None if getattr(cube, "kept", None) is None else int(cube.kept),
                late_cutoff=bool(getattr(cube, "late_cutoff", False)),
            )
            for cube in outcome.cubes
        ),
        cpu_seconds=float(outcome.cpu_seconds),
    )


def distributed_result_to_proto(outcome) -> solve_pb2.SolveResult:
    """An engine DistributedResult as one SolveResult message: its result, with ``distributed``
    listing the cubes."""
    msg = result_to_proto(outcome.result)
    distributed_to_proto(distributed_figures(outcome), msg.distributed)
    return msg


def distributed_to_proto(figures: DistributedFigures, run: solve_pb2.DistributedRun) -> None:
    """Fill ``run`` (a SolveResult's ``distributed``) with ``figures``."""
    run.cube_rule = figures.rule
    run.split_units[:] = figures.split_units
    run.workers = figures.workers
    run.cpu_seconds = figures.cpu_seconds
    for cube in figures.cubes:
        out = run.cubes.add(
            state=cube.state,
            bound=cube.bound,
            seconds=cube.seconds,
            cpu_seconds=cube.cpu_seconds,
            phase=cube.phase,
            late_cutoff=cube.late_cutoff,
        )
        for unit, live in cube.decisions.items():
            out.decisions.add(unit=unit, live=live)
        if cube.error is not None:
            out.error = cube.error
        if cube.cutoff is not None:
            out.cutoff = cube.cutoff
        if cube.kept is not None:
            out.kept = cube.kept


def parse_distributed(msg: solve_pb2.SolveResult) -> DistributedFigures | None:
    """SolveResult.distributed's figures; None when the result is not a distributed solve's."""
    if not msg.HasField("distributed"):
        return None
    run = msg.distributed
    return DistributedFigures(
        rule=run.cube_rule,
        split_units=tuple(run.split_units),
        workers=run.workers,
        cubes=tuple(
            CubeFigures(
                decisions={d.unit: d.live for d in c.decisions},
                state=c.state,
                bound=c.bound,
                error=c.error if c.HasField("error") else None,
                cutoff=c.cutoff if c.HasField("cutoff") else None,
                seconds=c.seconds,
                cpu_seconds=c.cpu_seconds,
                phase=c.phase or "min_error",
                kept=c.kept if c.HasField("kept") else None,
                late_cutoff=c.late_cutoff,
            )
            for c in run.cubes
        ),
        cpu_seconds=run.cpu_seconds,
    )


def _mask_from_message(msg: solve_pb2.Mask) -> Mask:
    if len(msg.neurons):
        return Mask(neurons=np.asarray(msg.neurons, dtype=bool))
    k = max(1, msg.outputs)
    n = len(msg.output_weights) // k
    d = len(msg.hidden_weights) // n if n else 0
    output = np.asarray(msg.output_weights, dtype=bool)
    return Mask(
        hidden_weights=np.asarray(msg.hidden_weights, dtype=bool).reshape(n, d),
        output_weights=output if k == 1 else output.reshape(k, n),
    )


def parse_result(msg: solve_pb2.SolveResult) -> SolveResult:
    solution = None
    if msg.HasField("solution"):
        solution = Solution(
            mask=_mask_from_message(msg.solution.mask),
            kept=msg.solution.kept,
            error=msg.solution.error,
        )
    frontier = [
        FrontierPoint(
            kept=p.kept,
            error=p.error,
            mask=_mask_from_message(p.mask),
            error_bound=p.error_bound,
            certified=p.certified,
        )
        for p in msg.frontier
    ]
    stats = SolveStats(
        **{f.name: getattr(msg.stats, f.name) for f in dataclasses.fields(SolveStats)}
    )
    cross_check = None
    if msg.HasField("cross_check"):
        c = msg.cross_check
        other = None
        if c.HasField("solution"):
            other = Solution(
                mask=_mask_from_message(c.solution.mask),
                kept=c.solution.kept,
                error=c.solution.error,
            )
        cross_check = CrossCheck(
            backend=c.backend,
            status=SolveStatus(c.status),
            solution=other,
            objective_bound=c.objective_bound,
            agrees=c.agrees,
            detail=c.detail,
        )
    continuous = None
    if msg.HasField("continuous"):
        f = msg.continuous
        continuous = ContinuousFigures(
            error=f.error,
            worst_point=tuple(f.worst_point),
            lower_bound=f.lower_bound,
            optimal=f.optimal,
            rounds=tuple(
                ContinuousRoundFigures(r.points, r.lower_bound, r.upper_bound, r.seconds)
                for r in f.rounds
            ),
            detail=f.detail,
            grid_error=f.grid_error if f.HasField("grid_error") else None,
        )
    return SolveResult(
        continuous=continuous,
        cross_check=cross_check,
        status=SolveStatus(msg.status),
        solution=solution,
        objective_bound=msg.objective_bound,
        tolerance=msg.tolerance,
        frontier=frontier,
        stats=stats,
        detail=msg.detail,
    )


# -- JSON ------------------------------------------------------------------------------------------


def to_json(msg: Message) -> str:
    """Proto3 JSON (lowerCamel keys, enum names)."""
    return json_format.MessageToJson(msg, indent=2)


def parse_json(text: str, message_type: type[Message], what: str = "problem") -> Message:
    """Parse proto3 JSON (snake_case or lowerCamel keys) or raise InvalidProblemError."""
    msg = message_type()
    try:
        json_format.Parse(text, msg)
    except json_format.ParseError as exc:
        raise InvalidProblemError(
            FieldViolation(what, f"not valid {message_type.DESCRIPTOR.name} JSON: {exc}")
        ) from exc
    return msg


def problem_from_json(text: str, limits: Limits = DEFAULT_LIMITS) -> Problem:
    return parse_problem(parse_json(text, problem_pb2.Problem), limits)  # type: ignore[arg-type]


def certify_result_to_proto(cert, optimum: SolveResult | None) -> solve_pb2.CertifyResult:
    """A CertifyResult from a mask certificate and the optional optimum at its budget."""
    reply = solve_pb2.CertifyResult(kept=cert.kept, error=cert.error_upper)
    if optimum is not None:
        reply.optimum.CopyFrom(result_to_proto(optimum))
        if optimum.solution is not None and optimum.status != SolveStatus.CANCELLED:
            best = optimum.solution.error
            reply.gap = max(0.0, cert.error_upper - best)
            reply.ratio = cert.error_upper / best if best > 0 else 0.0
    return reply
