"""Bad input is rejected with one clear message naming the field.

Every test starts from a valid problem (the paper setting, n=4, d=2), corrupts exactly one thing
and checks the raised InvalidProblemError (or ProblemTooLargeError): its type, the violation's
field (the proto path) and a fragment of its description.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prunecert.v1 import problem_pb2, solve_pb2
from solver.core.errors import FieldViolation, InvalidProblemError, ProblemTooLargeError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    MinKept,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.validate import (
    DEFAULT_LIMITS,
    Limits,
    validate_magnitudes,
    validate_parameters,
    validate_problem,
)
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.io import convert

N, D = 4, 2  # the base problem's size
K = 41  # its default points per axis (d <= 2)

BAD_FLOATS = [math.nan, math.inf, -math.inf]
BAD_FLOAT_IDS = ["nan", "inf", "-inf"]


# -- helpers -------------------------------------------------------------------------------------


def base_problem(pruning: PruningMode = PruningMode.NEURONS, objective=None) -> Problem:
    return paper_problem(D, N, 1, pruning, objective)


def base_msg(pruning: PruningMode = PruningMode.NEURONS, objective=None) -> problem_pb2.Problem:
    return convert.problem_to_proto(base_problem(pruning, objective))


def with_target_network(msg: problem_pb2.Problem) -> problem_pb2.Problem:
    """The base problem with a biased identity-output network of the same d as its target."""
    target = Network(
        hidden_weights=np.arange(6, dtype=float).reshape(3, D) / 10,
        output_weights=np.array([0.5, -0.25, 1.0]),
        hidden_biases=np.array([0.1, 0.2, -0.3]),
        output_bias=0.125,
        output_activation=Activation.IDENTITY,
    )
    convert._network_to_proto(target, msg.target.network)
    return msg


def with_samples(msg: problem_pb2.Problem, m: int = 3) -> problem_pb2.Problem:
    """The base problem with a samples target (m points) and no domain."""
    msg.ClearField("domain")
    msg.target.samples.points.rows = m
    msg.target.samples.points.cols = D
    msg.target.samples.points.values[:] = np.linspace(-1, 1, m * D).tolist()
    msg.target.samples.values[:] = np.linspace(0, 1, m).tolist()
    return msg


def with_point_domain(msg: problem_pb2.Problem, m: int = 3) -> problem_pb2.Problem:
    msg.domain.points.rows = m
    msg.domain.points.cols = D
    msg.domain.points.values[:] = np.linspace(-1, 1, m * D).tolist()
    return msg


def with_min_kept(msg: problem_pb2.Problem, max_error: float = 0.5) -> problem_pb2.Problem:
    msg.objective.min_kept.max_error = max_error
    return msg


def rejected(
    msg: problem_pb2.Problem,
    limits: Limits = DEFAULT_LIMITS,
    error: type[InvalidProblemError] = InvalidProblemError,
) -> FieldViolation:
    """The single violation ``msg`` is rejected with; the exception must be exactly ``error``."""
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg, limits)
    exc = info.value
    assert type(exc) is error, f"expected {error.__name__}, got {type(exc).__name__}: {exc}"
    assert len(exc.violations) == 1, f"expected one violation, got {exc.violations}"
    violation = exc.violations[0]
    assert isinstance(violation, FieldViolation)
    # The exception's own message names the field too (it is what a log line shows).
    assert str(exc) == str(violation)
    return violation


def rejected_json(text: str, limits: Limits = DEFAULT_LIMITS) -> FieldViolation:
    with pytest.raises(InvalidProblemError) as info:
        convert.problem_from_json(text, limits)
    assert type(info.value) is InvalidProblemError
    assert len(info.value.violations) == 1, info.value.violations
    return info.value.violations[0]


def base_json() -> dict:
    return json.loads(convert.to_json(base_msg()))


# -- the valid baseline --------------------------------------------------------------------------


def test_base_problem_is_valid():
    for pruning in (PruningMode.NEURONS, PruningMode.WEIGHTS):
        problem = convert.parse_problem(base_msg(pruning))
        assert problem.network.n == N and problem.network.d == D
        assert problem.pruning == pruning
    # The variants the corruptions below start from are valid too.
    convert.parse_problem(with_target_network(base_msg()))
    convert.parse_problem(with_samples(base_msg()))
    convert.parse_problem(with_point_domain(base_msg()))
    convert.parse_problem(with_min_kept(base_msg()))
    convert.parse_problem(with_min_kept(base_msg(), 0.0))


# -- NaN and infinity ----------------------------------------------------------------------------


def _set_hidden_weight(m, v):
    m.network.hidden_weights.values[5] = v


def _set_output_weight(m, v):
    m.network.output_weights[2] = v


def _set_hidden_bias(m, v):
    m.network.hidden_biases[:] = [0.0, 0.0, 0.0, v]


def _set_output_bias(m, v):
    m.network.output_bias = v


def _set_neuron_weight(m, v):
    m.target.neuron.weights[1] = v


def _set_neuron_bias(m, v):
    m.target.neuron.bias = v


def _set_target_net_hidden_weight(m, v):
    with_target_network(m).target.network.hidden_weights.values[4] = v


def _set_target_net_output_weight(m, v):
    with_target_network(m).target.network.output_weights[0] = v


def _set_target_net_bias(m, v):
    with_target_network(m).target.network.hidden_biases[1] = v


def _set_target_net_output_bias(m, v):
    with_target_network(m).target.network.output_bias = v


def _set_domain_point(m, v):
    with_point_domain(m).domain.points.values[3] = v


def _set_box_low(m, v):
    m.domain.box_grid.low = v


def _set_box_high(m, v):
    m.domain.box_grid.high = v


def _set_samples_point(m, v):
    with_samples(m).target.samples.points.values[2] = v


def _set_samples_value(m, v):
    with_samples(m).target.samples.values[1] = v


NON_FINITE_CASES = [
    (_set_hidden_weight, "network.hidden_weights", "flat index 5"),
    (_set_output_weight, "network.output_weights", "flat index 2"),
    (_set_hidden_bias, "network.hidden_biases", "flat index 3"),
    (_set_output_bias, "network.output_bias", "flat index 0"),
    (_set_neuron_weight, "target.neuron.weights", "flat index 1"),
    (_set_neuron_bias, "target.neuron.bias", "flat index 0"),
    (_set_target_net_hidden_weight, "target.network.hidden_weights", "flat index 4"),
    (_set_target_net_output_weight, "target.network.output_weights", "flat index 0"),
    (_set_target_net_bias, "target.network.hidden_biases", "flat index 1"),
    (_set_target_net_output_bias, "target.network.output_bias", "flat index 0"),
    (_set_domain_point, "domain.points", "flat index 3"),
    (_set_box_low, "domain.box_grid.low", "flat index 0"),
    (_set_box_high, "domain.box_grid.high", "flat index 0"),
    (_set_samples_point, "target.samples.points", "flat index 2"),
    (_set_samples_value, "target.samples.values", "flat index 1"),
]


@pytest.mark.parametrize("bad", BAD_FLOATS, ids=BAD_FLOAT_IDS)
@pytest.mark.parametrize(
    "corrupt, field, where", NON_FINITE_CASES, ids=[c[1] for c in NON_FINITE_CASES]
)
def test_non_finite_value_names_the_field(corrupt, field, where, bad):
    msg = base_msg()
    corrupt(msg, bad)
    violation = rejected(msg)
    assert violation.field == field
    assert "must be finite" in violation.description
    assert where in violation.description


@pytest.mark.parametrize("bad", BAD_FLOATS, ids=BAD_FLOAT_IDS)
def test_non_finite_max_error(bad):
    violation = rejected(with_min_kept(base_msg(), bad))
    assert violation.field == "objective.min_kept.max_error"
    assert violation.description == "must be finite"


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_values_are_parsed_then_rejected(token):
    """proto3 JSON spells non-finite doubles as strings; they parse, then fail validation."""
    doc = base_json()
    doc["network"]["outputWeights"][1] = token
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "network.output_weights"
    assert "must be finite" in violation.description


# -- shapes --------------------------------------------------------------------------------------


def test_hidden_weights_size_mismatch_exact_message():
    msg = base_msg()
    msg.network.hidden_weights.rows = 12
    msg.network.hidden_weights.cols = 2
    msg.network.hidden_weights.values[:] = [0.5] * 23
    violation = rejected(msg)
    assert violation.field == "network.hidden_weights"
    assert str(violation) == "network.hidden_weights: expected 12 x 2 values, got 23"


def test_hidden_weights_one_value_too_many():
    msg = base_msg()
    msg.network.hidden_weights.values.append(0.0)
    violation = rejected(msg)
    assert str(violation) == f"network.hidden_weights: expected {N} x {D} values, got {N * D + 1}"


def test_hidden_weights_values_missing():
    msg = base_msg()
    del msg.network.hidden_weights.values[:]
    assert str(rejected(msg)) == f"network.hidden_weights: expected {N} x {D} values, got 0"


@pytest.mark.parametrize("rows, cols", [(0, 0), (0, D), (N, 0)])
def test_empty_hidden_weights(rows, cols):
    msg = base_msg()
    msg.network.hidden_weights.rows = rows
    msg.network.hidden_weights.cols = cols
    del msg.network.hidden_weights.values[:]
    violation = rejected(msg)
    assert violation.field == "network.hidden_weights"
    assert violation.description == "must not be empty"


@pytest.mark.parametrize("length", [N - 1, N + 1, 0])
def test_output_weights_length_mismatch(length):
    msg = base_msg()
    msg.network.output_weights[:] = [0.5] * length
    violation = rejected(msg)
    assert violation.field == "network.output_weights"
    assert violation.description == f"expected {N} values, got {length}"


@pytest.mark.parametrize("length", [N - 1, N + 1])
def test_hidden_biases_length_mismatch(length):
    msg = base_msg()
    msg.network.hidden_biases[:] = [0.25] * length
    violation = rejected(msg)
    assert violation.field == "network.hidden_biases"
    assert violation.description == f"expected {N} values, got {length}"


def test_hidden_biases_empty_means_bias_free():
    problem = convert.parse_problem(base_msg())
    assert problem.network.hidden_biases is None
    msg = base_msg()
    msg.network.hidden_biases[:] = [0.25] * N
    problem = convert.parse_problem(msg)
    np.testing.assert_array_equal(problem.network.biases, [0.25] * N)


@pytest.mark.parametrize("length", [D - 1, D + 1])
def test_target_neuron_weights_wrong_dimension(length):
    msg = base_msg()
    msg.target.neuron.weights[:] = [0.5] * length
    violation = rejected(msg)
    assert violation.field == "target.neuron.weights"
    assert violation.description == f"expected {D} values, got {length}"


def test_target_network_wrong_dimension():
    msg = with_target_network(base_msg())
    net = msg.target.network.hidden_weights
    net.cols = D + 1
    net.values[:] = [0.1] * (net.rows * net.cols)
    violation = rejected(msg)
    assert violation.field == "target.network.hidden_weights"
    assert violation.description == f"expected 3 x {D} values, got 3 x {D + 1}"


def test_target_network_matrix_size_mismatch():
    msg = with_target_network(base_msg())
    msg.target.network.hidden_weights.values.append(1.0)
    violation = rejected(msg)
    want = f"target.network.hidden_weights: expected 3 x {D} values, got {3 * D + 1}"
    assert str(violation) == want


def test_target_network_output_weights_length_mismatch():
    msg = with_target_network(base_msg())
    msg.target.network.output_weights.append(1.0)
    violation = rejected(msg)
    assert violation.field == "target.network.output_weights"
    assert violation.description == "expected 3 values, got 4"


def test_target_network_unspecified_activation():
    msg = with_target_network(base_msg())
    msg.target.network.output_activation = problem_pb2.ACTIVATION_UNSPECIFIED
    violation = rejected(msg)
    assert violation.field == "target.network.output_activation"
    assert "ACTIVATION_IDENTITY or ACTIVATION_RELU" in violation.description


@pytest.mark.parametrize("length", [2, 4])
def test_samples_values_length_mismatch(length):
    msg = with_samples(base_msg(), m=3)
    msg.target.samples.values[:] = [0.0] * length
    violation = rejected(msg)
    assert violation.field == "target.samples.values"
    assert violation.description == f"expected 3 values, got {length}"


def test_samples_points_wrong_dimension():
    msg = with_samples(base_msg(), m=2)
    msg.target.samples.points.cols = D + 1
    msg.target.samples.points.values[:] = [0.0] * (2 * (D + 1))
    violation = rejected(msg)
    assert violation.field == "target.samples.points"
    assert violation.description == f"expected 2 x {D} values, got 2 x {D + 1}"


def test_samples_points_size_mismatch():
    msg = with_samples(base_msg(), m=3)
    msg.target.samples.points.values.append(0.0)
    assert str(rejected(msg)) == f"target.samples.points: expected 3 x {D} values, got {3 * D + 1}"


def test_samples_points_empty():
    msg = with_samples(base_msg(), m=3)
    msg.target.samples.points.rows = 0
    del msg.target.samples.points.values[:]
    del msg.target.samples.values[:]
    violation = rejected(msg)
    assert violation.field == "target.samples.points"
    assert violation.description == "must not be empty"


def test_domain_points_wrong_dimension():
    msg = with_point_domain(base_msg(), m=2)
    msg.domain.points.cols = 1
    msg.domain.points.values[:] = [0.0, 1.0]
    violation = rejected(msg)
    assert violation.field == "domain.points"
    assert violation.description == f"expected 2 x {D} values, got 2 x 1"


def test_domain_points_size_mismatch():
    msg = with_point_domain(base_msg(), m=3)
    del msg.domain.points.values[-1]
    assert str(rejected(msg)) == f"domain.points: expected 3 x {D} values, got {3 * D - 1}"


# -- missing parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part, description",
    [
        ("network", "is required"),
        ("target", "is required (one of neuron, network, samples)"),
        ("domain", "is required (box_grid or points)"),
        ("objective", "is required (one of min_error, min_kept, pareto)"),
    ],
)
def test_missing_part(part, description):
    msg = base_msg()
    msg.ClearField(part)
    violation = rejected(msg)
    assert violation.field == part
    assert violation.description == description


@pytest.mark.parametrize(
    "part, field, fragment",
    [
        ("target", "target", "is required"),
        ("domain", "domain", "must be a box_grid or points"),
        ("objective", "objective", "is required"),
    ],
)
def test_empty_oneof_in_json(part, field, fragment):
    """``"target": {}`` sets the message but none of its kinds."""
    doc = base_json()
    doc[part] = {}
    violation = rejected_json(json.dumps(doc))
    assert violation.field == field
    assert fragment in violation.description


def test_empty_network_in_json():
    doc = base_json()
    doc["network"] = {}
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "network.hidden_weights"
    assert violation.description == "must not be empty"


# -- enums ---------------------------------------------------------------------------------------

UNSET_OR_UNKNOWN = ["unspecified", "unknown"]


@pytest.mark.parametrize("value", [problem_pb2.ACTIVATION_UNSPECIFIED, 7], ids=UNSET_OR_UNKNOWN)
def test_network_output_activation_required(value):
    msg = base_msg()
    msg.network.output_activation = value
    violation = rejected(msg)
    assert violation.field == "network.output_activation"
    assert violation.description == "must be ACTIVATION_IDENTITY or ACTIVATION_RELU"


@pytest.mark.parametrize("value", [problem_pb2.ACTIVATION_UNSPECIFIED, 9], ids=UNSET_OR_UNKNOWN)
def test_target_neuron_activation_required(value):
    msg = base_msg()
    msg.target.neuron.activation = value
    violation = rejected(msg)
    assert violation.field == "target.neuron.activation"
    assert violation.description == "must be ACTIVATION_IDENTITY or ACTIVATION_RELU"


@pytest.mark.parametrize("value", [problem_pb2.PRUNING_MODE_UNSPECIFIED, 3], ids=UNSET_OR_UNKNOWN)
def test_pruning_mode_required(value):
    msg = base_msg()
    msg.pruning = value
    violation = rejected(msg)
    assert violation.field == "pruning"
    assert violation.description == "must be PRUNING_MODE_NEURONS or PRUNING_MODE_WEIGHTS"


def test_unknown_enum_name_in_json():
    doc = base_json()
    doc["pruning"] = "PRUNING_MODE_BOTH"
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "problem"
    assert "PRUNING_MODE_BOTH" in violation.description


# -- objective and domain values -----------------------------------------------------------------


@pytest.mark.parametrize("max_error", [-0.5, -1e-300])
def test_negative_max_error(max_error):
    violation = rejected(with_min_kept(base_msg(), max_error))
    assert violation.field == "objective.min_kept.max_error"
    assert violation.description == f"must be >= 0, got {max_error}"


@pytest.mark.parametrize("k", [0, 1])
def test_points_per_axis_below_two(k):
    msg = base_msg()
    msg.domain.box_grid.points_per_axis = k
    violation = rejected(msg)
    assert violation.field == "domain.box_grid.points_per_axis"
    assert violation.description == f"must be at least 2, got {k}"


def test_points_per_axis_two_is_enough():
    msg = base_msg()
    msg.domain.box_grid.points_per_axis = 2
    assert convert.parse_problem(msg).points().shape == (4, D)


@pytest.mark.parametrize("low, high", [(1.0, 1.0), (0.5, -0.5), (0.0, 0.0)])
def test_low_not_below_high(low, high):
    msg = base_msg()
    msg.domain.box_grid.low = low
    msg.domain.box_grid.high = high
    violation = rejected(msg)
    assert violation.field == "domain.box_grid.high"
    assert "must exceed low" in violation.description
    assert f"({high} <= {low})" in violation.description


@pytest.mark.parametrize("domain", ["box_grid", "points"])
def test_domain_with_samples_target(domain):
    msg = with_samples(base_msg())
    if domain == "box_grid":
        msg.domain.box_grid.CopyFrom(problem_pb2.BoxGrid(low=-1, high=1, points_per_axis=3))
    else:
        with_point_domain(msg)
    violation = rejected(msg)
    assert violation.field == "domain"
    assert "must be unset with a samples target" in violation.description


# -- size limits ---------------------------------------------------------------------------------


def test_too_many_units():
    violation = rejected(base_msg(), Limits(max_units=N - 1), ProblemTooLargeError)
    assert violation.field == "network.hidden_weights"
    assert violation.description == f"{N} hidden units exceed the limit of {N - 1}"
    convert.parse_problem(base_msg(), Limits(max_units=N))  # at the limit is fine


def test_too_many_target_units():
    msg = with_target_network(base_msg())  # a 3-unit target under a 4-unit network
    msg.network.hidden_weights.rows = 2
    msg.network.hidden_weights.values[:] = list(msg.network.hidden_weights.values)[: 2 * D]
    msg.network.output_weights[:] = [0.5, -0.5]
    violation = rejected(msg, Limits(max_units=2), ProblemTooLargeError)
    assert violation.field == "target.network.hidden_weights"
    assert "3 hidden units exceed the limit of 2" in violation.description


def test_input_dimension_over_limit():
    # The default limit is 32 (issue 11: realistic inputs up to d = 30); 2^33 grid points are
    # allowed here so that only the dimension is over.
    msg = convert.problem_to_proto(paper_problem(33, 1, 1, PruningMode.NEURONS, points_per_axis=2))
    violation = rejected(msg, Limits(max_points=1 << 40), ProblemTooLargeError)
    assert violation.field == "network.hidden_weights"
    assert violation.description == "input dimension 33 exceeds the limit of 32"
    convert.parse_problem(msg, Limits(max_points=1 << 40, max_input_dim=33))


def test_too_many_grid_points():
    violation = rejected(base_msg(), Limits(max_points=K**D - 1), ProblemTooLargeError)
    assert violation.field == "domain"
    assert violation.description == f"{K**D} points exceed the limit of {K**D - 1}"
    convert.parse_problem(base_msg(), Limits(max_points=K**D))


def test_too_many_explicit_points():
    msg = with_point_domain(base_msg(), m=5)
    violation = rejected(msg, Limits(max_points=4), ProblemTooLargeError)
    assert violation.field == "domain"
    assert "5 points exceed the limit of 4" in violation.description


def test_too_many_samples():
    msg = with_samples(base_msg(), m=5)
    violation = rejected(msg, Limits(max_points=4), ProblemTooLargeError)
    assert violation.field == "domain"
    assert "5 points exceed the limit of 4" in violation.description


def test_weights_mode_over_the_pattern_limit_takes_the_per_weight_limits():
    d, n = 10, 4  # n * 2^d = 4096 hidden masks, n * d = 40 weights
    msg = convert.problem_to_proto(paper_problem(d, n, 1, PruningMode.WEIGHTS, points_per_axis=2))
    # Over the pattern model's limit, the problem goes the per-weight route (docs/design.md
    # §15): accepted while its weights are within that route's own limit.
    convert.parse_problem(msg, Limits(max_weight_candidates=4095))
    limits = Limits(max_weight_candidates=4095, max_per_weight_weights=39)
    violation = rejected(msg, limits, ProblemTooLargeError)
    assert violation.field == "network.hidden_weights"
    assert "n * 2^d = 4096" in violation.description
    assert "over the pattern model's limit of 4095" in violation.description
    assert "n * d = 40 exceed the limit of 39" in violation.description
    # Within the pattern limit the per-weight limits do not apply.
    convert.parse_problem(msg, Limits(max_weight_candidates=4096, max_per_weight_weights=39))
    # Neurons mode does not enumerate hidden masks.
    msg.pruning = problem_pb2.PRUNING_MODE_NEURONS
    convert.parse_problem(msg, limits)


def test_default_limits_take_d16_weights_mode():
    # d = 16: 2^16 masks per unit times 2 units is over 65536, the per-weight route takes it.
    msg = convert.problem_to_proto(paper_problem(16, 2, 1, PruningMode.WEIGHTS, points_per_axis=2))
    convert.parse_problem(msg)


def test_too_large_via_json():
    with pytest.raises(ProblemTooLargeError) as info:
        convert.problem_from_json(convert.to_json(base_msg()), Limits(max_units=1))
    assert [v.field for v in info.value.violations] == ["network.hidden_weights"]


def test_invalid_wins_over_too_large():
    """A problem both malformed and too large is INVALID (not a resource problem)."""
    msg = base_msg()
    msg.ClearField("objective")
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg, Limits(max_units=1))
    assert type(info.value) is InvalidProblemError
    assert [v.field for v in info.value.violations] == ["objective"]


# -- JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "{", "{'network': {}}", "not json", '{"network": {]}'])
def test_invalid_json_text(text):
    violation = rejected_json(text)
    assert violation.field == "problem"
    assert violation.description.startswith("not valid Problem JSON")


def test_unknown_json_field():
    doc = base_json()
    doc["bogusField"] = 1
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "problem"
    assert violation.description.startswith("not valid Problem JSON")
    assert "bogusField" in violation.description


def test_unknown_nested_json_field():
    doc = base_json()
    doc["network"]["hiddenWeights"]["shape"] = [4, 2]
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "problem"
    assert "shape" in violation.description


@pytest.mark.parametrize("rows", [-1, 1.5, "many"])
def test_json_value_of_wrong_type(rows):
    doc = base_json()
    doc["network"]["hiddenWeights"]["rows"] = rows
    violation = rejected_json(json.dumps(doc))
    assert violation.field == "problem"
    assert "rows" in violation.description


def _hand_written(camel: bool) -> str:
    def key(snake: str) -> str:
        if not camel:
            return snake
        head, *rest = snake.split("_")
        return head + "".join(part.title() for part in rest)

    return json.dumps(
        {
            "network": {
                key("hidden_weights"): {
                    "rows": 3,
                    "cols": 2,
                    "values": [1, 0.5, -1, 2, 0.25, -0.75],
                },
                key("hidden_biases"): [0.1, -0.2, 0.3],
                key("output_weights"): [1, -1, 0.5],
                key("output_bias"): 0.5,
                key("output_activation"): "ACTIVATION_IDENTITY",
            },
            "target": {
                "neuron": {"weights": [1, -1], "bias": 0.25, "activation": "ACTIVATION_RELU"}
            },
            "domain": {key("box_grid"): {"low": -2, "high": 3, key("points_per_axis"): 5}},
            "pruning": "PRUNING_MODE_WEIGHTS",
            "objective": {key("min_kept"): {key("max_error"): 0.75}},
        }
    )


@pytest.mark.parametrize("camel", [False, True], ids=["snake_case", "lowerCamel"])
def test_snake_and_camel_keys(camel):
    problem = convert.problem_from_json(_hand_written(camel))
    net = problem.network
    np.testing.assert_array_equal(net.hidden_weights, [[1, 0.5], [-1, 2], [0.25, -0.75]])
    np.testing.assert_array_equal(net.hidden_biases, [0.1, -0.2, 0.3])
    np.testing.assert_array_equal(net.output_weights, [1, -1, 0.5])
    assert net.output_bias == 0.5
    assert net.output_activation == Activation.IDENTITY
    assert isinstance(problem.target, Neuron)
    np.testing.assert_array_equal(problem.target.weights, [1, -1])
    assert problem.target.bias == 0.25
    assert problem.domain == BoxGrid(low=-2.0, high=3.0, points_per_axis=5)
    assert problem.pruning == PruningMode.WEIGHTS
    assert problem.objective == MinKept(max_error=0.75)


def test_snake_and_camel_keys_agree():
    a = convert.problem_to_proto(convert.problem_from_json(_hand_written(False)))
    b = convert.problem_to_proto(convert.problem_from_json(_hand_written(True)))
    assert a == b


def test_enum_numbers_accepted_in_json():
    doc = json.loads(_hand_written(True))
    doc["pruning"] = 1
    doc["network"]["outputActivation"] = 2
    problem = convert.problem_from_json(json.dumps(doc))
    assert problem.pruning == PruningMode.NEURONS
    assert problem.network.output_activation == Activation.RELU


# -- every violation is reported -----------------------------------------------------------------


def test_independent_violations_are_all_listed():
    msg = base_msg()
    msg.network.output_weights.append(1.0)
    msg.target.neuron.activation = problem_pb2.ACTIVATION_UNSPECIFIED
    msg.domain.box_grid.points_per_axis = 1
    msg.pruning = problem_pb2.PRUNING_MODE_UNSPECIFIED
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg)
    fields = [v.field for v in info.value.violations]
    # Only an unusable hidden_weights matrix (n and d unknown) stops the other checks.
    assert fields == [
        "network.output_weights",
        "target.neuron.activation",
        "domain.box_grid.points_per_axis",
        "pruning",
    ]
    msg.network.output_weights.pop()
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg)
    fields = [v.field for v in info.value.violations]
    assert fields == ["target.neuron.activation", "domain.box_grid.points_per_axis", "pruning"]


def test_matrix_size_mismatch_does_not_hide_other_violations():
    msg = with_point_domain(base_msg())
    msg.domain.points.values.append(0.0)  # size mismatch, found in convert._matrix
    msg.pruning = problem_pb2.PRUNING_MODE_UNSPECIFIED  # independent of n, d and the domain
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg)
    fields = {v.field for v in info.value.violations}
    assert fields == {"domain.points", "pruning"}


# -- validate_problem on dataclasses -------------------------------------------------------------


def test_validate_problem_on_dataclasses():
    good = base_problem()
    validate_problem(good)
    bad = Problem(
        network=Network(hidden_weights=np.ones(3), output_weights=np.ones(3)),
        target=good.target,
        domain=good.domain,
        pruning=PruningMode.NEURONS,
    )
    with pytest.raises(InvalidProblemError) as info:
        validate_problem(bad)
    assert [str(v) for v in info.value.violations] == ["network.hidden_weights: expected a matrix"]
    no_network = Problem(network=None, target=good.target, domain=good.domain, pruning=good.pruning)  # type: ignore[arg-type]
    with pytest.raises(InvalidProblemError) as info:
        validate_problem(no_network)
    assert [v.field for v in info.value.violations] == ["network"]


def test_samples_and_point_domain_dataclasses_validate():
    good = base_problem()
    pts = np.array([[0.0, 1.0], [1.0, 0.0]])
    validate_problem(
        Problem(
            network=good.network,
            target=Samples(points=pts, values=np.zeros(2)),
            domain=None,
            pruning=PruningMode.NEURONS,
            objective=MinError(max_kept=1),
        )
    )
    validate_problem(
        Problem(
            network=good.network,
            target=good.target,
            domain=PointSet(points=pts),
            pruning=PruningMode.WEIGHTS,
        )
    )


# -- masks ---------------------------------------------------------------------------------------


def test_parse_mask_accepts_right_shapes():
    neurons = base_problem(PruningMode.NEURONS)
    mask = convert.parse_mask(solve_pb2.Mask(neurons=[True, False, True, False]), neurons)
    np.testing.assert_array_equal(mask.neurons, [True, False, True, False])
    weights = base_problem(PruningMode.WEIGHTS)
    hidden = [True, False] * N
    mask = convert.parse_mask(
        solve_pb2.Mask(hidden_weights=hidden, output_weights=[True] * N), weights
    )
    assert mask.hidden_weights.shape == (N, D)
    np.testing.assert_array_equal(mask.hidden_weights.ravel(), hidden)


def _mask_violations(msg: solve_pb2.Mask, pruning: PruningMode, field: str = "mask") -> list[str]:
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_mask(msg, base_problem(pruning), field)
    assert type(info.value) is InvalidProblemError
    return [str(v) for v in info.value.violations]


@pytest.mark.parametrize("length", [0, N - 1, N + 1])
def test_parse_mask_neurons_wrong_length(length):
    got = _mask_violations(solve_pb2.Mask(neurons=[True] * length), PruningMode.NEURONS)
    assert got == [f"mask.neurons: expected {N} values, got {length}"]


def test_parse_mask_neurons_mode_rejects_weight_fields():
    msg = solve_pb2.Mask(neurons=[True] * N, output_weights=[True] * N)
    got = _mask_violations(msg, PruningMode.NEURONS)
    assert got == ["mask: neurons mode takes only mask.neurons"]


def test_parse_mask_hidden_weights_wrong_length():
    msg = solve_pb2.Mask(hidden_weights=[True] * (N * D - 1), output_weights=[True] * N)
    got = _mask_violations(msg, PruningMode.WEIGHTS)
    assert got == [f"mask.hidden_weights: expected {N * D} values, got {N * D - 1}"]


def test_parse_mask_output_weights_wrong_length():
    msg = solve_pb2.Mask(hidden_weights=[True] * (N * D), output_weights=[True] * (N + 1))
    got = _mask_violations(msg, PruningMode.WEIGHTS)
    assert got == [f"mask.output_weights: expected {N} values, got {N + 1}"]


def test_parse_mask_weights_mode_rejects_neurons():
    msg = solve_pb2.Mask(neurons=[True] * N)
    got = _mask_violations(msg, PruningMode.WEIGHTS)
    assert got == [
        f"mask.hidden_weights: expected {N * D} values, got 0",
        f"mask.output_weights: expected {N} values, got 0",
        "mask.neurons: weights mode takes hidden_weights and output_weights",
    ]


def test_parse_mask_uses_the_given_field_prefix():
    got = _mask_violations(solve_pb2.Mask(neurons=[True]), PruningMode.NEURONS, "request.mask")
    assert got == [f"request.mask.neurons: expected {N} values, got 1"]


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1.0, -1e-9, math.nan, math.inf, -math.inf])
def test_bad_time_limit(value):
    with pytest.raises(InvalidProblemError) as info:
        validate_parameters(SolveParameters(time_limit_seconds=value))
    assert [v.field for v in info.value.violations] == ["parameters.time_limit_seconds"]
    assert "finite number >= 0" in info.value.violations[0].description


@pytest.mark.parametrize("value", [-1e-6, -2.0, math.nan, math.inf])
def test_bad_tolerance(value):
    with pytest.raises(InvalidProblemError) as info:
        validate_parameters(SolveParameters(tolerance=value))
    assert [v.field for v in info.value.violations] == ["parameters.tolerance"]
    assert "finite number >= 0" in info.value.violations[0].description


@pytest.mark.parametrize("threads", [-1, 1025, 100_000, 2**31, True, 2.5])
def test_bad_threads(threads):
    # Above 1024 (CP-SAT rejects more than 10,000 workers; the proto field is an int32).
    with pytest.raises(InvalidProblemError) as info:
        validate_parameters(SolveParameters(threads=threads))
    assert [str(v) for v in info.value.violations] == [
        "parameters.threads: must be an integer in [0, 1024] (0: the default)"
    ]


def test_products_beyond_float64_are_refused():
    net = Network(hidden_weights=np.array([[1e200]]), output_weights=np.array([1e200]))
    problem = Problem(
        network=net,
        target=Samples(points=np.array([[1.0]]), values=np.array([1e302])),
        domain=None,
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )
    with pytest.raises(InvalidProblemError) as info:
        validate_magnitudes(problem)
    assert [v.field for v in info.value.violations] == [
        "network.output_weights",
        "target.samples.values",
    ]
    assert "2^1000" in info.value.violations[0].description


def test_good_parameters():
    validate_parameters(SolveParameters())
    validate_parameters(SolveParameters(time_limit_seconds=0.0, tolerance=0.0, threads=0))
    validate_parameters(SolveParameters(time_limit_seconds=2.5, tolerance=1e-3, threads=2))
    validate_parameters(SolveParameters(threads=1024))


def test_all_bad_parameters_are_listed():
    with pytest.raises(InvalidProblemError) as info:
        validate_parameters(SolveParameters(time_limit_seconds=-1, tolerance=-1))
    assert [v.field for v in info.value.violations] == [
        "parameters.time_limit_seconds",
        "parameters.tolerance",
    ]


def test_solve_validates_parameters_before_solving():
    with pytest.raises(InvalidProblemError) as info:
        solve(base_problem(), SolveParameters(time_limit_seconds=math.nan))
    assert [v.field for v in info.value.violations] == ["parameters.time_limit_seconds"]


def test_solve_validates_the_problem():
    good = base_problem()
    bad = Problem(
        network=good.network,
        target=good.target,
        domain=good.domain,
        pruning=PruningMode.UNSPECIFIED,
    )
    with pytest.raises(InvalidProblemError) as info:
        solve(bad)
    assert [v.field for v in info.value.violations] == ["pruning"]
    with pytest.raises(ProblemTooLargeError):
        solve(good, limits=Limits(max_units=1))


def test_an_astronomical_grid_is_refused_by_size_without_computing_it():
    # points_per_axis^d for d = 10^6 would be a 32-million-bit integer (slow to build, and too
    # long for str()); the size is compared by logarithm first (issue 15, item 8).
    d = 10**6
    problem = Problem(
        network=Network(hidden_weights=np.full((1, d), 0.5), output_weights=np.ones(1)),
        target=Neuron(weights=np.ones(d)),
        domain=BoxGrid(low=-1.0, high=1.0, points_per_axis=2**32 - 1),
        pruning=PruningMode.NEURONS,
    )
    with pytest.raises(ProblemTooLargeError) as info:
        validate_problem(problem)
    fields = {v.field: v.description for v in info.value.violations}
    assert fields["domain"] == "4294967295^1000000 points exceed the limit of 200000"
