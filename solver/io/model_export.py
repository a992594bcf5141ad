"""Writing a pruned network out: the same architecture, in the formats `prunecert import` reads.

    f(x) = [relu](W2 relu(W1 x + b1) + b2)      W1: n x d, b1: n, W2: k x n, b2: k

The pruned network is the problem's network with the mask applied (docs/design.md §1):

- neurons mode: a removed unit's hidden row, bias and output weight are zero;
- weights mode: each removed weight is zero, and a unit with no kept output weight is dead
  (it contributes nothing, whatever its other weights): its hidden row and bias are zero too, so
  that the file holds no weight the mask does not keep (``Mask.canonical``);
- ``drop_dead_units``: removed and dead units are left out instead (n shrinks; the function is
  the same, value for value). Units the mask keeps stay, even one whose hidden row is all zero
  (its bias alone is a constant contribution).

Formats, by the file's suffix, each one `prunecert import` (solver/io/model_import.py) reads back
into exactly the pruned network when written in float64:

- ``.npz``: arrays ``W1`` (n x d), ``b1`` (n), ``W2`` (k x n), ``b2`` (k);
- ``.safetensors``: a PyTorch ``state_dict`` of ``nn.Sequential(Linear, ReLU, Linear)``: keys
  ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``, or ``<hidden>.*`` and ``<output>.*`` for
  named modules (``layers``);
- ``.onnx``: Gemm, Relu, Gemm (and a final Relu when the output activation is a ReLU), built with
  ``onnx.helper`` at opset 13 and IR version 7, which every onnxruntime since 1.6 runs; the
  initializers are named like the state_dict's keys, as ``torch.onnx.export`` names them.

A bias-free hidden layer is written without ``b1`` (PyTorch's ``Linear(bias=False)``); the output
layer has a bias when the hidden layer has one or the output bias is not zero. So a bias-free
network imports back bias-free.

``dtype`` float64 (the default) writes the problem's values exactly, so the certificate (docs/
design.md §2) is about the written network. float32 rounds every value to the nearest float32
(relative error at most 2^-24): the file is then a slightly different network, not the certified
one; ``rounding_change`` says by how much.

``torch_masks`` are the 0/1 tensors ``torch.nn.utils.prune.custom_from_mask`` takes, in the
original network's shapes (PyTorch Linear's (out, in) weights): ``<layer>.weight_mask`` and
``<layer>.bias_mask``, the names a pruned module's state_dict holds its masks under. They are
for the unpruned model the problem was imported from, so they never shrink.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import Activation, Mask, Network, Problem
from solver.io.model_import import SEQUENTIAL_LAYERS

EXPORT_SUFFIXES = (".onnx", ".npz", ".safetensors")
DTYPES: dict[str, type[np.floating]] = {"float64": np.float64, "float32": np.float32}
# Opset 13 has every operator used here (Gemm, Relu) in its current form for float and double;
# IR version 7 is opset 13's (onnx.helper.VERSION_TABLE), so older runtimes load the file too.
ONNX_OPSET = 13
ONNX_IR_VERSION = 7
ONNX_INPUT, ONNX_OUTPUT = "input", "output"


@dataclass(frozen=True, eq=False)
class PrunedNetwork:
    """The network a file holds: the pruned ``network`` (float64, before any dtype rounding),
    ``units`` the original indices of its units, and ``dead`` how many of the original units
    the mask removes (neurons mode) or kills (weights mode: their output weight removed)."""

    network: Network
    units: np.ndarray
    dead: int


def _invalid(field: str, description: str, flag: str | None = None) -> InvalidProblemError:
    return InvalidProblemError(FieldViolation(field, description, flag))


def prune_network(network: Network, mask: Mask, drop_dead_units: bool = False) -> PrunedNetwork:
    """``network`` with ``mask`` applied: removed weights zero, dead units zero or left out."""
    mask = mask.canonical()
    n, d, k = network.n, network.d, network.outputs
    live = mask.unit_vector(n)
    hidden = np.where(mask.hidden_matrix(n, d), np.asarray(network.hidden_weights, float), 0.0)
    # (k, n): each output weight kept or not (neurons mode: with its unit).
    output = np.where(mask.output_matrix(n, k), network.output_matrix, 0.0)
    biases = None
    if network.hidden_biases is not None:
        biases = np.where(live, network.biases, 0.0)
    units = np.arange(n)
    if drop_dead_units:
        units = np.flatnonzero(live)
        if units.size == 0:
            raise _invalid(
                "--drop-dead-units",
                "the mask keeps no unit, and a network needs at least one; export without "
                "--drop-dead-units (every weight zero: the output is the output bias)",
                "--drop-dead-units",
            )
        hidden, output = hidden[units], output[:, units]
        biases = None if biases is None else biases[units]
    pruned = Network(
        hidden_weights=hidden,
        output_weights=output[0] if k == 1 else output,
        hidden_biases=biases,
        output_bias=float(network.output_bias) if k == 1 else network.output_biases,
        output_activation=network.output_activation,
    )
    return PrunedNetwork(network=pruned, units=units, dead=int(n - np.count_nonzero(live)))


def _layer_names(layers: tuple[str, str] | None) -> tuple[str, str]:
    return layers if layers is not None else SEQUENTIAL_LAYERS


def _has_output_bias(network: Network) -> bool:
    return network.hidden_biases is not None or bool(np.any(network.output_biases != 0.0))


def layer_tensors(
    network: Network, dtype: str = "float64", layers: tuple[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The network as a PyTorch state_dict's tensors (``<layer>.weight``, ``<layer>.bias``) in
    ``dtype``, weights in (out, in) orientation; absent biases are absent keys."""
    hidden, output = _layer_names(layers)
    cast = DTYPES[dtype]
    with np.errstate(over="ignore"):  # a value beyond float32's range: refused below
        tensors = {
            f"{hidden}.weight": np.asarray(network.hidden_weights, dtype=cast),
            f"{output}.weight": network.output_matrix.astype(cast),  # (k, n)
        }
        if network.hidden_biases is not None:
            tensors[f"{hidden}.bias"] = np.asarray(network.hidden_biases, dtype=cast)
        if _has_output_bias(network):
            tensors[f"{output}.bias"] = network.output_biases.astype(cast)  # (k,)
    for name, values in tensors.items():
        if not np.all(np.isfinite(values)):
            raise _invalid(
                "--dtype",
                f"{name} holds values beyond {dtype}'s range (at most "
                f"{float(np.finfo(cast).max):.4g} in magnitude); use float64",
                "--dtype",
            )
    return tensors


def rounding_change(network: Network, dtype: str) -> float:
    """The largest absolute change rounding the network's values to ``dtype`` makes (0.0 for
    float64: nothing is rounded)."""
    worst = 0.0
    for values in layer_tensors(network, "float64").values():
        rounded = values.astype(DTYPES[dtype]).astype(np.float64)
        worst = max(worst, float(np.max(np.abs(rounded - values), initial=0.0)))
    return worst


def _npz_bytes(network: Network, dtype: str) -> bytes:
    # The state_dict's tensors under the array names `prunecert import` reads for .npz.
    tensors = layer_tensors(network, dtype, ("1", "2"))
    names = {"1.weight": "W1", "1.bias": "b1", "2.weight": "W2", "2.bias": "b2"}
    buffer = io.BytesIO()
    np.savez(buffer, **{names[key]: value for key, value in tensors.items()})
    return buffer.getvalue()


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """``tensors`` as a .safetensors file's contents."""
    from safetensors.numpy import save

    return save({key: np.ascontiguousarray(value) for key, value in tensors.items()})


def onnx_model(network: Network, dtype: str = "float64", layers: tuple[str, str] | None = None):
    """The network as an ``onnx.ModelProto``: Gemm (transB: weights as (out, in)), Relu, Gemm,
    and a Relu when the output activation is one; input ``input`` (batch x d), output ``output``
    (batch x k), both of ``dtype``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, output = _layer_names(layers)
    tensors = layer_tensors(network, dtype, layers)
    elem = TensorProto.DOUBLE if dtype == "float64" else TensorProto.FLOAT
    initializers = [numpy_helper.from_array(value, name) for name, value in tensors.items()]

    def gemm(name: str, data: str, out: str):
        operands = [data, f"{name}.weight"] + (
            [f"{name}.bias"] if f"{name}.bias" in tensors else []
        )
        return helper.make_node("Gemm", operands, [out], name=f"{name}.Gemm", transB=1)

    last = "output_linear" if network.output_activation == Activation.RELU else ONNX_OUTPUT
    nodes = [
        gemm(hidden, ONNX_INPUT, "hidden_linear"),
        helper.make_node("Relu", ["hidden_linear"], ["hidden_relu"], name=f"{hidden}.Relu"),
        gemm(output, "hidden_relu", last),
    ]
    if network.output_activation == Activation.RELU:
        nodes.append(helper.make_node("Relu", [last], [ONNX_OUTPUT], name=f"{output}.Relu"))
    graph = helper.make_graph(
        nodes,
        "pruned",
        [helper.make_tensor_value_info(ONNX_INPUT, elem, ["batch", network.d])],
        [helper.make_tensor_value_info(ONNX_OUTPUT, elem, ["batch", network.outputs])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        ir_version=ONNX_IR_VERSION,
        producer_name="prunecert",
        doc_string="a pruned one-hidden-layer ReLU network written by prunecert export",
    )
    onnx.checker.check_model(model)  # a bug here would otherwise surface in the user's runtime
    return model


def model_bytes(
    suffix: str, network: Network, dtype: str = "float64", layers: tuple[str, str] | None = None
) -> bytes:
    """The file contents of ``network`` in the format of ``suffix`` (one of EXPORT_SUFFIXES)."""
    if suffix == ".npz":
        return _npz_bytes(network, dtype)
    if suffix == ".safetensors":
        return safetensors_bytes(layer_tensors(network, dtype, layers))
    return onnx_model(network, dtype, layers).SerializeToString()


def torch_masks(
    network: Network, mask: Mask, dtype: str = "float64", layers: tuple[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The 0/1 masks for ``torch.nn.utils.prune.custom_from_mask`` on the unpruned ``network``:
    ``<layer>.weight_mask`` of each Linear's weight shape (out, in), and ``<layer>.bias_mask``
    for each bias the model has (a removed or dead unit's hidden bias is masked; the output
    bias never is)."""
    mask = mask.canonical()
    n, d, k = network.n, network.d, network.outputs
    hidden, output = _layer_names(layers)
    cast = DTYPES[dtype]
    live = mask.unit_vector(n)
    masks = {
        f"{hidden}.weight_mask": mask.hidden_matrix(n, d).astype(cast),
        f"{output}.weight_mask": mask.output_matrix(n, k).astype(cast),
    }
    if network.hidden_biases is not None:
        masks[f"{hidden}.bias_mask"] = live.astype(cast)
    if _has_output_bias(network):
        masks[f"{output}.bias_mask"] = np.ones(k, dtype=cast)
    return masks


def export_suffix(path: str | Path, flag: str, allowed: tuple[str, ...] = EXPORT_SUFFIXES) -> str:
    """The format suffix of ``path``, refused (naming ``flag``) when not one of ``allowed``."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise _invalid(
            flag, f"{path}: unknown format {suffix!r}; expected {', '.join(allowed)}", flag
        )
    return suffix


def write_bytes(path: str | Path, data: bytes, flag: str) -> None:
    """Write ``data`` to ``path``; a failure is a usage error naming ``flag`` and the path."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _invalid(flag, f"cannot write {path}: {reason}", flag) from exc


def export_model(
    problem: Problem | Network,
    mask: Mask,
    path: str | Path,
    *,
    drop_dead_units: bool = False,
    dtype: str = "float64",
    layers: tuple[str, str] | None = None,
) -> PrunedNetwork:
    """Write ``problem``'s network pruned by ``mask`` to ``path`` (.onnx, .npz, .safetensors,
    by its suffix) and return what was written. The mask must fit the network (as a solve's or
    ``convert.parse_mask``'s does)."""
    network = problem.network if isinstance(problem, Problem) else problem
    if dtype not in DTYPES:
        raise _invalid("--dtype", f"must be one of {', '.join(DTYPES)}, got {dtype!r}", "--dtype")
    suffix = export_suffix(path, "-o")
    pruned = prune_network(network, mask, drop_dead_units)
    write_bytes(path, model_bytes(suffix, pruned.network, dtype, layers), "-o")
    return pruned


def write_torch_masks(
    problem: Problem | Network,
    mask: Mask,
    path: str | Path,
    *,
    dtype: str = "float64",
    layers: tuple[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Write ``torch_masks`` of ``problem``'s network and ``mask`` to ``path`` (.safetensors) and
    return them."""
    network = problem.network if isinstance(problem, Problem) else problem
    export_suffix(path, "--torch-masks", (".safetensors",))
    masks = torch_masks(network, mask, dtype, layers)
    write_bytes(path, safetensors_bytes(masks), "--torch-masks")
    return masks
