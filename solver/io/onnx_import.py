"""Reading a one-hidden-layer ReLU network from an ONNX file (the `onnx` package, no runtime).

The graph must be one chain from its one input to its one output:

    [Cast | Identity]  Gemm | MatMul [+ Add]  Relu  Gemm | MatMul [+ Add]  [Relu]  [reshapes]

Cast (to float or double) and Identity may appear anywhere and change no value of a float
network; Reshape, Flatten, Squeeze and Unsqueeze only after the output layer, where they change
the output's shape but not its values, in row-major order: point by point, and with k > 1 outputs
output by output within a point (skl2onnx reshapes a multi-output regressor's batch x k to
batch * k x 1). Weights and biases must be initializers (or Constant
nodes), float16, float32 or float64: each widens to float64 exactly, so the imported network is
the file's network bit for bit (docs/design.md §2 certifies those values). Any other node is
refused with a message naming it, e.g. ``node 'Sigmoid_3' (Sigmoid): only Relu is supported
between the two layers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solver.io.samples import as_float64, refuse

_PASS_THROUGH = {"Identity"}
_RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}
_AFFINE = {"Gemm", "MatMul"}
# Where the chain is: before the first layer, after it, after the hidden Relu, after the output
# layer, after the output Relu.
_INPUT, _HIDDEN, _ACTIVE, _OUTPUT, _OUTPUT_RELU = range(5)
_REFUSALS = {
    _INPUT: "expected the first layer (Gemm or MatMul)",
    _HIDDEN: "only Relu is supported between the two layers",
    _ACTIVE: "expected the output layer (Gemm or MatMul) after the hidden Relu",
    _OUTPUT: "only an optional Relu (and reshapes) may follow the output layer",
    _OUTPUT_RELU: "only reshapes may follow the output Relu",
}


@dataclass
class OnnxLayers:
    """What the chain yields: layer weights as (out, in) matrices and biases (None: absent)."""

    weights: list[np.ndarray] = field(default_factory=list)
    biases: list[np.ndarray | None] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)  # (weights, bias) descriptions
    output_relu: bool = False


def _label(node, index: int) -> str:
    return f"node '{node.name or f'#{index}'}' ({node.op_type})"


class _Chain:
    def __init__(self, where: str, constants: dict[str, np.ndarray]):
        self.where = where
        self.constants = constants
        self.layers = OnnxLayers()
        self.stage = _INPUT
        self.bias_open = False  # the last affine layer has no bias yet (a following Add is one)

    def refuse(self, label: str, description: str):
        return refuse(self.where, f"{label}: {description}")

    def constant(self, label: str, name: str, what: str) -> np.ndarray:
        if name not in self.constants:
            raise self.refuse(label, f"{what} '{name}' must be an initializer or a Constant")
        return as_float64(self.where, f"{label}: initializer '{name}'", self.constants[name])

    def affine(self, node, label: str, current: str) -> None:
        if list(node.input[:1]) != [current]:
            raise self.refuse(label, "the data must be the first operand, the weights the second")
        attrs = _attributes(node)
        if node.op_type == "Gemm":
            if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                raise self.refuse(label, "alpha and beta other than 1 are not supported")
            if attrs.get("transA", 0):
                raise self.refuse(label, "transA = 1 is not supported")
        if len(node.input) < 2:
            raise self.refuse(label, "has no weights operand")
        weights = self.constant(label, node.input[1], "weights")
        if weights.ndim != 2:
            raise self.refuse(
                label, f"weights '{node.input[1]}' must be a matrix, got {weights.shape}"
            )
        # ONNX computes x @ B (B: in x out) unless Gemm's transB says B is out x in.
        matrix = weights if node.op_type == "Gemm" and attrs.get("transB", 0) else weights.T
        bias = None
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
            bias = self.constant(label, node.input[2], "bias")
        self.layers.weights.append(matrix)
        self.layers.biases.append(bias)
        bias_name = f"{label} bias '{node.input[2]}'" if bias is not None else f"{label} bias"
        self.layers.names.append((f"{label} weights '{node.input[1]}'", bias_name))
        self.bias_open = bias is None

    def add(self, node, label: str, current: str) -> None:
        others = [name for name in node.input if name != current]
        if len(node.input) != 2 or len(others) != 1:
            raise self.refuse(label, "expected the layer's output plus one bias initializer")
        self.layers.biases[-1] = self.constant(label, others[0], "bias")
        self.layers.names[-1] = (self.layers.names[-1][0], f"{label} bias '{others[0]}'")
        self.bias_open = False

    def step(self, node, index: int, current: str) -> None:
        op, label = node.op_type, _label(node, index)
        if op in _PASS_THROUGH:
            return
        if op == "Cast":
            # 1 = FLOAT, 11 = DOUBLE (onnx.TensorProto): what converters put before the first
            # layer. A cast to an integer or a half type would round the values it passes on.
            if _attributes(node).get("to") not in (1, 11):
                raise self.refuse(label, "only casts to float or double are supported")
            return
        if op in _RESHAPES and self.stage in (_OUTPUT, _OUTPUT_RELU):
            return
        if op in _AFFINE and self.stage in (_INPUT, _ACTIVE):
            self.affine(node, label, current)
            self.stage += 1
        elif op == "Add" and self.bias_open and self.stage in (_HIDDEN, _OUTPUT):
            self.add(node, label, current)
        elif op == "Relu" and self.stage in (_HIDDEN, _OUTPUT):
            self.layers.output_relu = self.stage == _OUTPUT
            self.stage += 1
            self.bias_open = False
        else:
            raise self.refuse(label, _REFUSALS[self.stage])


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def read_onnx(path: Path, where: str) -> OnnxLayers:
    """The two layers of the ONNX file at ``path`` (``where`` names it in messages)."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except (OSError, DecodeError, ValueError) as exc:
        raise refuse(where, f"cannot read as ONNX: {exc}") from exc
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = []
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant":
            attrs = _attributes(node)
            if "value" not in attrs:
                raise refuse(where, f"{_label(node, index)}: only a tensor 'value' is supported")
            constants[node.output[0]] = numpy_helper.to_array(attrs["value"])
        else:
            nodes.append((index, node))
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise refuse(where, f"the graph has {len(inputs)} inputs ({', '.join(inputs)}); expected 1")
    consumers: dict[str, list] = {}
    for index, node in nodes:
        for name in set(node.input):
            consumers.setdefault(name, []).append((index, node))

    chain = _Chain(where, constants)
    current, used = inputs[0], set()
    while consumers.get(current):
        users = consumers[current]
        if len(users) > 1:
            names = ", ".join(_label(node, index) for index, node in users)
            raise refuse(
                where, f"tensor '{current}' feeds {len(users)} nodes ({names}); expected a chain"
            )
        index, node = users[0]
        chain.step(node, index, current)
        used.add(index)
        current = node.output[0]
    for index, node in nodes:
        if index not in used:
            raise refuse(
                where, f"{_label(node, index)}: not on the path from the input to the output"
            )
    if chain.stage < _OUTPUT:
        raise refuse(
            where,
            f"the graph ends at tensor '{current}' without both layers "
            "(expected Gemm or MatMul, Relu, Gemm or MatMul)",
        )
    outputs = [o.name for o in graph.output]
    if outputs != [current]:
        raise refuse(
            where, f"the graph's outputs are {', '.join(outputs)}; expected one, '{current}'"
        )
    return chain.layers
