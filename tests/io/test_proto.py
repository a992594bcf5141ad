"""The protobuf layer: the checked-in generated code is current, and problems survive
problem -> proto -> JSON -> problem unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prunecert.v1 import problem_pb2, solve_pb2
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
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
from solver.io import convert

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"
GENERATED_DIR = PROTO_DIR / "python"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


# -- generated code is not stale -----------------------------------------------------------------


def _is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("protoc")
    sources = sorted(p.relative_to(REPO).as_posix() for p in PROTO_DIR.glob("prunecert/v1/*.proto"))
    assert sources, "no .proto files found"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Iproto",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *sources,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"protoc failed:\n{proc.stderr}"
    return out


def test_protoc_generates_code_for_every_proto(regenerated):
    generated = {
        p.relative_to(regenerated).as_posix() for p in regenerated.rglob("*") if p.is_file()
    }
    for proto in PROTO_DIR.glob("prunecert/v1/*.proto"):
        stem = proto.relative_to(PROTO_DIR).with_suffix("").as_posix()
        for suffix in GENERATED_SUFFIXES:
            assert stem + suffix in generated


def test_generated_code_is_not_stale(regenerated):
    stale = []
    for fresh in sorted(regenerated.rglob("*")):
        if not fresh.is_file():
            continue
        rel = fresh.relative_to(regenerated)
        checked_in = GENERATED_DIR / rel
        if not checked_in.is_file():
            stale.append(f"{rel}: missing from proto/python")
        elif checked_in.read_bytes() != fresh.read_bytes():
            stale.append(f"{rel}: differs from protoc's output")
    assert not stale, "run `make proto` and commit the result:\n" + "\n".join(stale)


def test_no_generated_file_without_a_source(regenerated):
    orphans = [
        path.relative_to(GENERATED_DIR).as_posix()
        for path in sorted(GENERATED_DIR.rglob("*"))
        if path.is_file()
        and _is_generated(path)
        and not (regenerated / path.relative_to(GENERATED_DIR)).is_file()
    ]
    assert not orphans, f"checked-in generated files with no .proto source: {orphans}"


def test_imported_modules_are_the_checked_in_ones():
    """The tests exercise proto/python, not some other installed copy of the package."""
    assert Path(problem_pb2.__file__).resolve() == GENERATED_DIR / "prunecert/v1/problem_pb2.py"
    assert Path(solve_pb2.__file__).resolve() == GENERATED_DIR / "prunecert/v1/solve_pb2.py"


# -- round trip ----------------------------------------------------------------------------------

# Values that a lossy float formatting would change: non-terminating binary fractions, the
# smallest subnormal, the largest double, a negative zero, and integers beyond 2^53 precision.
TRICKY = np.array([1 / 3, 0.1, 5e-324, -0.0, 1.7976931348623157e308, -(2.0**60) - 2.0**8, 1e-17])
D = 3


def _network(rng: np.random.Generator, n: int, biased: bool, activation: Activation) -> Network:
    weights = rng.uniform(-1, 1, size=(n, D))
    weights.flat[: min(weights.size, len(TRICKY))] = TRICKY[: weights.size]
    outputs = rng.uniform(-1, 1, size=n)
    outputs[0] = -0.0
    return Network(
        hidden_weights=weights,
        output_weights=outputs,
        hidden_biases=rng.uniform(-1, 1, size=n) if biased else None,
        output_bias=1 / 7 if biased else 0.0,
        output_activation=activation,
    )


def _points(rng: np.random.Generator, m: int) -> np.ndarray:
    pts = rng.uniform(-2, 2, size=(m, D))
    pts[0] = [1 / 3, -0.0, 2.0**-40]
    return pts


def _target(kind: str, rng: np.random.Generator):
    if kind == "neuron":
        weights = np.array([1 / 3, -0.1, 5e-324])
        return Neuron(weights=weights, bias=-1 / 9, activation=Activation.IDENTITY)
    if kind == "network":
        return _network(rng, 3, biased=True, activation=Activation.IDENTITY)
    values = rng.uniform(-1, 1, size=6)
    values[1] = 1 / 3
    return Samples(points=_points(rng, 6), values=values)


def _domain(kind: str | None, rng: np.random.Generator):
    if kind == "box_grid":
        return BoxGrid(low=-1 / 3, high=0.7, points_per_axis=4)
    if kind == "points":
        return PointSet(points=_points(rng, 5))
    return None


TARGET_DOMAINS = [
    ("neuron", "box_grid"),
    ("neuron", "points"),
    ("network", "box_grid"),
    ("network", "points"),
    ("samples", None),
]
OBJECTIVES = [
    MinError(),
    MinError(max_kept=3),
    MinError(max_kept=0),  # explicit presence: a zero budget is not "no budget"
    MinKept(max_error=0.1),
    MinKept(max_error=0.0),
    Pareto(),
    Pareto(max_kept=2),
]


def _build(target_kind: str, domain_kind: str | None, objective, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    pruning = PruningMode.WEIGHTS if seed % 2 else PruningMode.NEURONS
    return Problem(
        network=_network(rng, 4, biased=bool(seed % 3), activation=Activation.RELU),
        target=_target(target_kind, rng),
        domain=_domain(domain_kind, rng),
        pruning=pruning,
        objective=objective,
    )


def _same_array(a, b) -> bool:
    """Equal shape and bit-identical float64 values (so -0.0 and subnormals count)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_float(a: float, b: float) -> bool:
    return _same_array([a], [b])


def _assert_same_network(a: Network, b: Network) -> None:
    assert _same_array(a.hidden_weights, b.hidden_weights)
    assert _same_array(a.output_weights, b.output_weights)
    if a.hidden_biases is None:
        assert b.hidden_biases is None
    else:
        assert _same_array(a.hidden_biases, b.hidden_biases)
    assert _same_float(a.output_bias, b.output_bias)
    assert a.output_activation == b.output_activation


def assert_same_problem(a: Problem, b: Problem) -> None:
    _assert_same_network(a.network, b.network)
    assert type(a.target) is type(b.target)
    if isinstance(a.target, Neuron):
        assert _same_array(a.target.weights, b.target.weights)
        assert _same_float(a.target.bias, b.target.bias)
        assert a.target.activation == b.target.activation
    elif isinstance(a.target, Network):
        _assert_same_network(a.target, b.target)
    else:
        assert _same_array(a.target.points, b.target.points)
        assert _same_array(a.target.values, b.target.values)
    assert type(a.domain) is type(b.domain)
    if isinstance(a.domain, BoxGrid):
        assert a.domain == b.domain
        assert _same_float(a.domain.low, b.domain.low) and _same_float(a.domain.high, b.domain.high)
    elif isinstance(a.domain, PointSet):
        assert _same_array(a.domain.points, b.domain.points)
    else:
        assert b.domain is None
    assert a.pruning == b.pruning
    assert type(a.objective) is type(b.objective)
    assert a.objective == b.objective
    assert _same_array(a.points(), b.points())


@pytest.mark.parametrize("objective", OBJECTIVES, ids=repr)
@pytest.mark.parametrize("target_kind, domain_kind", TARGET_DOMAINS, ids=lambda k: str(k))
def test_round_trip_through_json(target_kind, domain_kind, objective):
    seed = OBJECTIVES.index(objective) + 10 * TARGET_DOMAINS.index((target_kind, domain_kind))
    original = _build(target_kind, domain_kind, objective, seed)
    text = convert.to_json(convert.problem_to_proto(original))
    back = convert.problem_from_json(text)
    assert_same_problem(original, back)
    # And the JSON is a fixed point: writing the parsed problem gives the same text.
    assert convert.to_json(convert.problem_to_proto(back)) == text


def test_round_trip_is_not_vacuous():
    """The comparison above notices a one-ulp change and a lost negative zero."""
    a = _build("network", "points", MinError(), 1)
    b = _build("network", "points", MinError(), 1)
    b.network.output_weights[0] = 0.0  # was -0.0
    with pytest.raises(AssertionError):
        assert_same_problem(a, b)
    c = _build("network", "points", MinError(), 1)
    c.target.hidden_weights[1, 1] = np.nextafter(c.target.hidden_weights[1, 1], 2.0)
    with pytest.raises(AssertionError):
        assert_same_problem(a, c)
    with pytest.raises(AssertionError):
        assert_same_problem(a, _build("network", "points", MinError(max_kept=0), 1))


def test_json_uses_lower_camel_keys_and_enum_names():
    problem = _build("network", "box_grid", MinKept(max_error=0.5), 2)
    doc = json.loads(convert.to_json(convert.problem_to_proto(problem)))
    assert set(doc) == {"network", "target", "domain", "pruning", "objective"}
    assert set(doc["network"]) >= {"hiddenWeights", "outputWeights", "outputActivation"}
    assert doc["network"]["outputActivation"] == "ACTIVATION_RELU"
    assert doc["target"]["network"]["outputActivation"] == "ACTIVATION_IDENTITY"
    assert doc["pruning"] == "PRUNING_MODE_NEURONS"
    assert doc["domain"] == {"boxGrid": {"low": -1 / 3, "high": 0.7, "pointsPerAxis": 4}}
    assert doc["objective"] == {"minKept": {"maxError": 0.5}}


@pytest.mark.parametrize("target_kind, domain_kind", TARGET_DOMAINS, ids=lambda k: str(k))
def test_round_trip_through_snake_case_json(target_kind, domain_kind):
    from google.protobuf import json_format

    original = _build(target_kind, domain_kind, Pareto(max_kept=1), 5)
    text = json_format.MessageToJson(
        convert.problem_to_proto(original), preserving_proto_field_name=True
    )
    assert "hidden_weights" in text and "hiddenWeights" not in text
    assert_same_problem(original, convert.problem_from_json(text))


def test_round_trip_through_binary():
    original = _build("samples", None, MinError(max_kept=2), 3)
    wire = convert.problem_to_proto(original).SerializeToString()
    msg = problem_pb2.Problem.FromString(wire)
    assert not msg.HasField("domain")
    assert_same_problem(original, convert.parse_problem(msg))


@pytest.mark.parametrize("pruning", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_mask_round_trip(pruning):
    problem = _build("neuron", "box_grid", MinError(), 4)
    problem = Problem(problem.network, problem.target, problem.domain, pruning, problem.objective)
    rng = np.random.default_rng(0)
    if pruning == PruningMode.NEURONS:
        mask = Mask(neurons=rng.random(4) < 0.5)
    else:
        mask = Mask(hidden_weights=rng.random((4, D)) < 0.5, output_weights=rng.random(4) < 0.5)
    msg = convert.parse_json(convert.to_json(convert.mask_to_proto(mask)), solve_pb2.Mask, "mask")
    back = convert.parse_mask(msg, problem)
    assert back.mode == pruning
    if pruning == PruningMode.NEURONS:
        np.testing.assert_array_equal(back.neurons, mask.neurons)
    else:
        np.testing.assert_array_equal(back.hidden_weights, mask.hidden_weights)
        np.testing.assert_array_equal(back.output_weights, mask.output_weights)
