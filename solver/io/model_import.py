"""Bring your own trained network: a one-hidden-layer ReLU model in, a Problem out.

    f(x) = [relu](W2 relu(W1 x + b1) + b2)      W1: n x d, b1: n, W2: k x n, b2: k

Models (``import_model``'s ``model``):

- ``.npz``: arrays ``W1`` (n x d), ``W2`` (k x n, or n for one output), and optionally ``b1``
  (n) and ``b2`` (k): PyTorch's (out x in) orientation, so ``W1 @ x``;
- ``.safetensors``: a PyTorch ``state_dict`` of ``nn.Sequential(Linear, ReLU, Linear)`` (keys
  ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``), or two named modules (``layers``);
- ``.onnx``: see solver/io/onnx_import.py;
- a fitted scikit-learn ``MLPRegressor`` or ``MLPClassifier`` (Python only) with one hidden
  layer and ``activation='relu'``. A multi-target regressor has one output per target. A
  classifier's outputs are its logits, the values before the logistic function (binary: one
  output; multi-label: one per label) or the softmax (multi-class: one per class); neither
  function is a ReLU network's output, and the class ranking is the logits'.

Every weight widens to float64 exactly (float16, float32, float64 accepted), so the problem's
network is the model's network value for value and the certificate (docs/design.md §2) is about
it. A model with k > 1 outputs becomes a k-output network (docs/design.md §1): the error is the
largest over the outputs.

Targets: ``network`` (the unpruned network itself, on the domain), ``labels`` (the samples'
labels, a Samples target), ``neuron`` (a given Neuron, as ``generate`` uses). The domain is the
samples' points, or a box grid when there are none. Inputs are used as given: a model trained on
standardised inputs needs standardised samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    Network,
    Neuron,
    Objective,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.validate import DEFAULT_LIMITS, Limits, validate_problem
from solver.instances.generate import default_points_per_axis
from solver.io.samples import SampleSet, as_float64, read_samples, refuse

MODEL_SUFFIXES = (".npz", ".safetensors", ".onnx")
TARGETS = ("network", "labels", "neuron")
SEQUENTIAL_LAYERS = ("0", "2")  # nn.Sequential(Linear, ReLU, Linear): modules 0 and 2


def _assemble(
    where: str,
    names: tuple[str, str, str, str],
    w1: np.ndarray,
    b1: np.ndarray | None,
    w2: np.ndarray,
    b2: np.ndarray | None,
    output_relu: bool = False,
) -> Network:
    """A Network from float64 layers in (out x in) orientation; ``names`` describe W1, b1, W2,
    b2 in messages. Shapes are checked here, once for every format."""
    if w1.ndim != 2 or 0 in w1.shape:
        raise refuse(where, f"{names[0]} must be an n x d matrix, got shape {w1.shape}")
    n, d = w1.shape
    if w2.ndim == 1:
        w2 = w2.reshape(1, -1)
    if w2.ndim != 2 or w2.shape[0] == 0:
        raise refuse(where, f"{names[2]} must be a k x {n} matrix, got shape {w2.shape}")
    k = w2.shape[0]
    if w2.shape[1] != n:
        raise refuse(where, f"{names[2]} has {w2.shape[1]} inputs, the hidden layer {n} units")
    hidden_bias = None
    if b1 is not None:
        if b1.size not in (1, n) or (b1.ndim > 1 and b1.shape[-1] != b1.size):
            raise refuse(where, f"{names[1]} must hold {n} values, got shape {b1.shape}")
        hidden_bias = np.broadcast_to(b1.reshape(-1), (n,)).copy()  # ONNX may broadcast one bias
    output_bias: float | np.ndarray = 0.0 if k == 1 else np.zeros(k)
    if b2 is not None:
        if b2.size != k:
            values = "1 value" if k == 1 else f"{k} values (one per output)"
            raise refuse(where, f"{names[3]} must hold {values}, got shape {b2.shape}")
        output_bias = float(b2.reshape(-1)[0]) if k == 1 else b2.reshape(-1).copy()
    return Network(
        hidden_weights=w1,
        output_weights=w2[0].copy() if k == 1 else w2.copy(),
        hidden_biases=hidden_bias,
        output_bias=output_bias,
        output_activation=Activation.RELU if output_relu else Activation.IDENTITY,
    )


def _read_npz(path: Path, where: str) -> Network:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise refuse(where, f"cannot read as .npz: {exc}") from exc
    unknown = sorted(set(arrays) - {"W1", "b1", "W2", "b2"})
    if unknown:
        raise refuse(where, f"array '{unknown[0]}' is not one of W1, b1, W2, b2")
    for key in ("W1", "W2"):
        if key not in arrays:
            raise refuse(where, f"has no array '{key}' (W1: n x d, W2: k x n; b1, b2 optional)")
    layers = {key: as_float64(where, f"array '{key}'", value) for key, value in arrays.items()}
    names = ("array 'W1'", "array 'b1'", "array 'W2'", "array 'b2'")
    return _assemble(where, names, layers["W1"], layers.get("b1"), layers["W2"], layers.get("b2"))


def _read_safetensors(path: Path, where: str, layers: tuple[str, str] | None) -> Network:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError, TypeError, ValueError) as exc:
        raise refuse(where, f"cannot read as .safetensors: {exc}") from exc
    hidden, output = layers or SEQUENTIAL_LAYERS
    keys = [f"{hidden}.weight", f"{hidden}.bias", f"{output}.weight", f"{output}.bias"]
    if layers is None:
        # Without named modules the file must be exactly the Sequential's state_dict: another key
        # is another layer, which this import would silently leave out.
        unknown = sorted(set(tensors) - set(keys))
        if unknown:
            raise refuse(
                where,
                f"key '{unknown[0]}': expected the state_dict of nn.Sequential(Linear, ReLU, "
                f"Linear) (keys {', '.join(keys)}); name the two Linear modules with --layers",
            )
    for key in (keys[0], keys[2]):
        if key not in tensors:
            raise refuse(where, f"has no key '{key}' (keys: {', '.join(sorted(tensors))})")
    values = [as_float64(where, f"key '{k}'", tensors[k]) if k in tensors else None for k in keys]
    names = tuple(f"key '{k}'" for k in keys)
    return _assemble(where, names, values[0], values[1], values[2], values[3])


def _read_onnx(path: Path, where: str) -> Network:
    from solver.io.onnx_import import read_onnx

    found = read_onnx(path, where)
    (w1_name, b1_name), (w2_name, b2_name) = found.names
    return _assemble(
        where,
        (w1_name, b1_name, w2_name, b2_name),
        found.weights[0],
        found.biases[0],
        found.weights[1],
        found.biases[1],
        found.output_relu,
    )


def _from_estimator(estimator: Any) -> Network:
    """A fitted scikit-learn MLP, read through its public attributes (no sklearn import)."""
    kind = type(estimator).__name__
    where = "model"
    if kind not in ("MLPRegressor", "MLPClassifier"):
        raise refuse(
            where,
            f"a {kind} is not a model file path or a fitted scikit-learn MLPRegressor or "
            "MLPClassifier",
        )
    coefs, intercepts = getattr(estimator, "coefs_", None), getattr(estimator, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise refuse(where, f"the {kind} is not fitted (call fit first)")
    if len(coefs) != 2:
        raise refuse(where, f"the {kind} has {len(coefs) - 1} hidden layers; only 1 is supported")
    if estimator.activation != "relu":
        raise refuse(
            where, f"the {kind} has activation={estimator.activation!r}; only 'relu' is supported"
        )
    # identity: a regressor's outputs (one per target). logistic (binary or multi-label) and
    # softmax (multi-class): a classifier, whose logits (the values before that function) are
    # the network's outputs, one per class or label.
    if estimator.out_activation_ not in ("identity", "logistic", "softmax"):
        raise refuse(
            where, f"the {kind}'s output activation {estimator.out_activation_!r} is not supported"
        )
    names = ("coefs_[0]", "intercepts_[0]", "coefs_[1]", "intercepts_[1]")
    w1, b1, w2, b2 = (
        as_float64(where, name, np.asarray(array))
        for name, array in zip(names, (coefs[0], intercepts[0], coefs[1], intercepts[1]))
    )
    # scikit-learn computes x @ coefs_ (in x out); the problem holds (out x in) matrices.
    return _assemble(where, names, w1.T.copy(), b1, w2.T.copy(), b2)


def read_network(model: str | Path | Any, layers: tuple[str, str] | None = None) -> Network:
    """The network of a model file (``.npz``, ``.safetensors``, ``.onnx``) or a fitted sklearn
    MLP. ``layers``: the two Linear modules' names in a safetensors state_dict."""
    if not isinstance(model, str | Path):
        return _from_estimator(model)
    path = Path(model)
    where = str(model)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise refuse(
            where, f"unknown model format {suffix!r}; expected {', '.join(MODEL_SUFFIXES)}"
        )
    if layers is not None and suffix != ".safetensors":
        raise refuse(where, "named layers are for .safetensors models only", "--layers")
    if not path.is_file():
        raise refuse(where, "no such file")
    if suffix == ".npz":
        return _read_npz(path, where)
    if suffix == ".safetensors":
        return _read_safetensors(path, where, layers)
    return _read_onnx(path, where)


def _sample_set(samples, labels, label_columns) -> SampleSet | None:
    if samples is None:
        if labels is not None or label_columns:
            flag = "--label-columns" if label_columns else None
            raise refuse("samples", "labels need samples (the points they label)", flag)
        return None
    if isinstance(samples, str | Path):
        if labels is not None:
            raise refuse("labels", "give labels in the samples file (.npz labels, .csv columns)")
        return read_samples(samples, label_columns)
    points = as_float64("samples", "the points", np.asarray(samples))
    if points.ndim != 2 or 0 in points.shape:
        raise refuse("samples", f"must be a non-empty m x d matrix, got shape {points.shape}")
    if labels is None:
        return SampleSet(points, None)
    values = as_float64("labels", "the labels", np.asarray(labels))
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim not in (1, 2) or values.shape[0] != points.shape[0] or 0 in values.shape:
        raise refuse(
            "labels",
            f"expected {points.shape[0]} values (m, or m x k for k outputs), got shape "
            f"{values.shape}",
        )
    return SampleSet(points, values)


def import_model(
    model: str | Path | Any,
    *,
    samples: str | Path | np.ndarray | None = None,
    labels: np.ndarray | None = None,
    label_columns: list[str] | None = None,
    target: str = "network",
    neuron: Neuron | None = None,
    pruning: PruningMode = PruningMode.NEURONS,
    objective: Objective | None = None,
    box: BoxGrid | None = None,
    layers: tuple[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Problem:
    """A validated Problem pruning ``model`` (a path or a fitted sklearn MLP; see the module).

    ``samples``: a file (``.npy``, ``.npz``, ``.csv``, see solver/io/samples.py) or an m x d
    array (``labels`` beside it); they are the domain. Without samples the domain is ``box``
    (default [-1, 1]^d, generate's points per axis). ``target``: ``network``, ``labels`` or
    ``neuron`` (with ``neuron``).
    """
    if target not in TARGETS:
        raise refuse("target", f"must be one of {', '.join(TARGETS)}, got {target!r}", "--target")
    network = read_network(model, layers)
    found = _sample_set(samples, labels, label_columns)
    where = str(samples) if isinstance(samples, str | Path) else "samples"
    if found is not None and found.points.shape[1] != network.d:
        raise refuse(
            where,
            f"the points have {found.points.shape[1]} coordinates, the network's input "
            f"dimension is {network.d}",
        )
    if found is not None and box is not None:
        raise refuse("domain", "give samples or a box, not both", "--low/--high/--points-per-axis")
    if target == "labels":
        if found is None or found.labels is None:
            raise refuse(
                "target",
                "labels needs samples with labels (.npz 'labels', .csv --label-columns, or "
                "labels=)",
                "--target",
            )
        k, columns = network.outputs, 1 if found.labels.ndim == 1 else found.labels.shape[1]
        if columns != k:
            raise refuse(
                "labels",
                f"{columns} label column(s) for a network with {k} output(s): one per output",
            )
        problem_target = Samples(points=found.points, values=found.labels)
    elif target == "neuron":
        if neuron is None:
            raise refuse(
                "target", "neuron needs the neuron's weights (--neuron-weights)", "--target"
            )
        problem_target = neuron
    else:
        # The unpruned network itself: the same values, held apart from the pruned one.
        problem_target = Network(
            hidden_weights=network.hidden_weights.copy(),
            output_weights=network.output_weights.copy(),
            hidden_biases=None if network.hidden_biases is None else network.hidden_biases.copy(),
            output_bias=network.output_bias,
            output_activation=network.output_activation,
        )
    if isinstance(problem_target, Samples):
        domain = None
    elif found is not None:
        domain = PointSet(points=found.points)
    else:
        domain = box or BoxGrid(-1.0, 1.0, default_points_per_axis(network.d))
    problem = Problem(
        network=network,
        target=problem_target,
        domain=domain,
        pruning=pruning,
        objective=objective if objective is not None else MinError(),
    )
    validate_problem(problem, limits)
    return problem
