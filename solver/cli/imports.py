"""`prunecert import MODEL ...`: a trained network's pruning problem as a problem file (proto3
JSON, as `generate` writes), on stdout or in ``-o FILE``.

The reading is solver/io/model_import.py's; this module maps flags to its arguments and checks
the flags that no problem field holds yet, naming each flag.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from solver.cli.common import objective_flags, objective_from_args
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import Activation, BoxGrid, Neuron, PruningMode
from solver.core.validate import objective_argument_violations
from solver.instances.generate import default_points_per_axis
from solver.io import convert
from solver.io.model_import import TARGETS, import_model, read_network


def _check_flags(args: argparse.Namespace) -> None:
    bad = objective_argument_violations(
        args.points_per_axis, args.max_kept, args.objective, args.max_error
    )

    def flag(name: str, description: str) -> None:
        bad.append(FieldViolation(name, description, name))

    box_flags = [args.low, args.high, args.points_per_axis]
    if args.samples is not None and any(value is not None for value in box_flags):
        flag("--samples", "the samples are the domain: not with --low, --high, --points-per-axis")
    if args.target == "neuron" and args.neuron_weights is None:
        flag("--neuron-weights", "is required with --target neuron (the target neuron's weights)")
    if args.target != "neuron" and (args.neuron_weights is not None or args.neuron_bias != 0.0):
        flag(
            "--target",
            f"--neuron-weights and --neuron-bias need --target neuron, not {args.target}",
        )
    if args.label_columns and args.samples is None:
        flag("--label-columns", "only with --samples FILE.csv")
    if args.layers is not None and len(args.layers) != 2:
        flag("--layers", f"expected two module names (hidden, output), got {len(args.layers)}")
    if bad:
        raise InvalidProblemError(bad)


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    layers = tuple(args.layers) if args.layers is not None else None
    box = None
    if args.samples is None:
        # The box's default points per axis depend on d, known once the model is read.
        network = read_network(args.model, layers)
        low = -1.0 if args.low is None else args.low
        high = 1.0 if args.high is None else args.high
        k = args.points_per_axis or default_points_per_axis(network.d)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise InvalidProblemError(
                FieldViolation(
                    "--low", f"must be finite and below --high ({low} >= {high})", "--low"
                )
            )
        box = BoxGrid(low=low, high=high, points_per_axis=k)
    neuron = None
    if args.target == "neuron":
        activation = Activation.RELU if args.neuron_activation == "relu" else Activation.IDENTITY
        neuron = Neuron(
            weights=np.array(args.neuron_weights, dtype=float),
            bias=args.neuron_bias,
            activation=activation,
        )
    objective = objective_from_args(args)
    problem = import_model(
        args.model,
        samples=args.samples,
        label_columns=args.label_columns,
        target=args.target,
        neuron=neuron,
        pruning=PruningMode.NEURONS if args.pruning == "neurons" else PruningMode.WEIGHTS,
        objective=objective,
        box=box,
        layers=layers,
    )
    text = convert.to_json(convert.problem_to_proto(problem))
    if args.output is None:
        print(text)
        return 0
    try:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(
            FieldViolation("-o", f"cannot write {args.output}: {reason}", "-o")
        ) from exc
    return 0


def add_parser(subparsers) -> None:
    cmd = subparsers.add_parser(
        "import",
        help="write the pruning problem of a trained network (proto3 JSON)",
        description=(
            "Read a one-hidden-layer ReLU network with one output (.npz with W1 [n x d], b1, W2 "
            "[1 x n], b2; .safetensors state_dict of nn.Sequential(Linear, ReLU, Linear); .onnx "
            "Gemm/MatMul+Add, Relu, Gemm/MatMul+Add, optional Relu) and write its pruning "
            "problem. Inputs are used as given: standardise the samples as in training."
        ),
    )
    cmd.add_argument("model", metavar="MODEL", help="the model file (.npz, .safetensors, .onnx)")
    cmd.add_argument(
        "--samples",
        metavar="FILE",
        help="the domain's points: .npy (m x d), .npz (points, optional labels) or .csv with a "
        "header row (default: a box grid, see --low/--high/--points-per-axis)",
    )
    cmd.add_argument(
        "--label-columns",
        nargs="+",
        metavar="NAME",
        help="the .csv columns holding labels (every other column is a coordinate; default: none)",
    )
    cmd.add_argument(
        "--target",
        choices=TARGETS,
        default="network",
        help="what the pruned network approximates: the unpruned network (default), the "
        "samples' labels, or a neuron (--neuron-weights)",
    )
    cmd.add_argument(
        "--neuron-weights",
        nargs="+",
        type=float,
        metavar="W",
        help="--target neuron: its d weights (required there)",
    )
    cmd.add_argument(
        "--neuron-bias", type=float, default=0.0, help="--target neuron: its bias (default 0)"
    )
    cmd.add_argument(
        "--neuron-activation",
        choices=["relu", "identity"],
        default="relu",
        help="--target neuron: its activation (default relu)",
    )
    cmd.add_argument(
        "--layers",
        nargs="+",
        metavar="MODULE",
        help=".safetensors: the hidden and output Linear modules' names, e.g. fc1 fc2 (default: "
        "nn.Sequential's 0 and 2, and no other key)",
    )
    cmd.add_argument(
        "--pruning",
        choices=["neurons", "weights"],
        default="neurons",
        help="prune whole hidden units or single weights (default neurons)",
    )
    objective_flags(cmd)
    cmd.add_argument("--low", type=float, default=None, help="box grid: lower end (default -1)")
    cmd.add_argument("--high", type=float, default=None, help="box grid: upper end (default 1)")
    cmd.add_argument(
        "--points-per-axis",
        type=int,
        default=None,
        help="box grid: points per axis (default 41 for d <= 2, 11 above)",
    )
    cmd.add_argument(
        "-o", "--output", metavar="FILE", help="write the problem here (default stdout)"
    )
    cmd.set_defaults(func=run)
