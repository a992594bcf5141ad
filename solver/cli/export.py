"""`prunecert export PROBLEM RESULT -o OUT`: the pruned network of a result, in the format of
OUT's suffix (.onnx, .npz, .safetensors), and optionally PyTorch pruning masks.

The writing is solver/io/model_export.py's. This module picks the result's mask (the solution,
or a Pareto frontier point with --frontier-kept), checks that it belongs to the problem (its
shape, then its exact error against the one the result states: a result of another problem with
the same shape would otherwise export a network nobody certified), and says what it wrote.
"""

from __future__ import annotations

import argparse
import sys

from solver.cli.common import read_text
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import Activation, BoxGrid, Mask, Network, Problem, PruningMode
from solver.core.result import SolveStatus
from solver.exact.certify import certify_mask
from solver.io import convert
from solver.io.model_export import (
    DTYPES,
    EXPORT_SUFFIXES,
    ONNX_OPSET,
    PrunedNetwork,
    export_model,
    export_suffix,
    rounding_change,
    write_torch_masks,
)


def _format(suffix: str, network: Network) -> str:
    if suffix == ".onnx":
        relu = ", Relu" if network.output_activation == Activation.RELU else ""
        return f"ONNX opset {ONNX_OPSET}: Gemm, Relu, Gemm{relu}"
    return "npz arrays W1, W2, b1, b2" if suffix == ".npz" else "a PyTorch state_dict"


def _note(text: str) -> None:
    print(f"prunecert: note: {text}", file=sys.stderr)


def _flag_error(flag: str, description: str) -> InvalidProblemError:
    return InvalidProblemError(FieldViolation(flag, description, flag))


def _check_flags(args: argparse.Namespace) -> None:
    bad: list[FieldViolation] = []
    if args.output is None and args.torch_masks is None:
        bad.append(FieldViolation("-o", "give the file to write (or --torch-masks FILE)", "-o"))
    if args.layers is not None:
        if len(args.layers) != 2:
            bad.append(
                FieldViolation(
                    "--layers",
                    f"expected two module names (hidden, output), got {len(args.layers)}",
                    "--layers",
                )
            )
        elif args.layers[0] == args.layers[1] or not all(args.layers):
            bad.append(FieldViolation("--layers", "the two names must differ", "--layers"))
    for flag, path, allowed in (
        ("-o", args.output, EXPORT_SUFFIXES),
        ("--torch-masks", args.torch_masks, (".safetensors",)),
    ):
        if path is not None:
            try:
                export_suffix(path, flag, allowed)
            except InvalidProblemError as exc:
                bad.extend(exc.violations)
    if args.layers is not None and args.torch_masks is None and args.output is not None:
        if args.output.lower().endswith(".npz"):
            bad.append(
                FieldViolation(
                    "--layers",
                    "names the modules of .safetensors and .onnx files and of --torch-masks; "
                    ".npz arrays are always W1, b1, W2, b2",
                    "--layers",
                )
            )
    if args.output is not None and args.output == args.torch_masks:
        bad.append(FieldViolation("--torch-masks", "must differ from -o", "--torch-masks"))
    if bad:
        raise InvalidProblemError(bad)


def _result_mask(args: argparse.Namespace, problem: Problem) -> tuple[Mask, float, str]:
    """The mask to export, the exact error the result states for it, and its status's name."""
    from prunecert.v1 import solve_pb2

    where = args.result
    msg = convert.parse_json(read_text(where), solve_pb2.SolveResult, what=where)
    status = SolveStatus(msg.status).name
    if args.frontier_kept is not None:
        points = {point.kept: (i, point) for i, point in enumerate(msg.frontier)}
        if args.frontier_kept not in points:
            have = ", ".join(str(k) for k in sorted(points)) or "none: not a Pareto result"
            raise _flag_error(
                "--frontier-kept",
                f"{where} has no frontier point keeping {args.frontier_kept} (frontier kept "
                f"counts: {have})",
            )
        index, point = points[args.frontier_kept]
        field, mask_msg, claimed = f"frontier[{index}].mask", point.mask, point.error
    else:
        if not msg.HasField("solution"):
            why = f": {msg.detail}" if msg.detail else ""
            raise InvalidProblemError(
                FieldViolation(where, f"has no solution.mask to export (status {status}{why})")
            )
        field, mask_msg, claimed = "solution.mask", msg.solution.mask, msg.solution.error
        if msg.HasField("continuous") and msg.continuous.HasField("grid_error"):
            # --continuous optimize: solution.error is the box's; the points' is grid_error.
            claimed = msg.continuous.grid_error
    mode = "neurons" if problem.pruning == PruningMode.NEURONS else "weights"
    try:
        mask = convert.parse_mask(mask_msg, problem, field=f"{where}: {field}")
    except InvalidProblemError as exc:
        shape = f"n = {problem.network.n}, d = {problem.network.d}, {mode} pruning"
        raise InvalidProblemError(
            [
                FieldViolation(
                    v.field, f"{v.description} (the mask does not fit {args.problem}: {shape})"
                )
                for v in exc.violations
            ]
        ) from exc
    exact = certify_mask(problem, mask).error_upper
    if exact != claimed:
        raise InvalidProblemError(
            FieldViolation(
                where,
                f"states error {claimed!r} for its mask, but the mask's exact error on "
                f"{args.problem} is {exact!r}: the result is not of this problem",
            )
        )
    return mask, exact, status


def _fate(problem: Problem, pruned: PrunedNetwork, dropped: bool) -> str:
    """What became of the units, in words."""
    n = problem.network.n
    live = n - pruned.dead
    if not pruned.dead:
        return f"all {n} live"
    if dropped:
        return f"{live} of {n} live; the {pruned.dead} others are left out"
    if problem.pruning == PruningMode.NEURONS:
        return f"{live} of {n} live; the removed units' weights and biases are zero"
    return (
        f"{live} of {n} live; {pruned.dead} dead (output weight removed): their hidden weights "
        "and biases are zero too"
    )


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    problem = convert.problem_from_json(read_text(args.problem))
    mask, error, status = _result_mask(args, problem)
    layers = tuple(args.layers) if args.layers is not None else None
    network = problem.network
    lines = []
    if args.output is not None:
        pruned = export_model(
            network,
            mask,
            args.output,
            drop_dead_units=args.drop_dead_units,
            dtype=args.dtype,
            layers=layers,
        )
        suffix = export_suffix(args.output, "-o")
        lines.append(f"exported    {args.output} ({_format(suffix, network)}), {args.dtype}")
        lines.append(f"units       {_fate(problem, pruned, args.drop_dead_units)}")
        if suffix != ".onnx" and network.output_activation == Activation.RELU:
            _note(
                f"a {suffix} file holds no activations: the output ReLU is not in it (the model "
                "is nn.Sequential(Linear, ReLU, Linear, ReLU)), and `prunecert import` reads it "
                "with an identity output; .onnx keeps the ReLU"
            )
        if args.dtype != "float64":
            change = rounding_change(pruned.network, args.dtype)
            _note(
                f"--dtype {args.dtype} rounds every value to the nearest {args.dtype} (largest "
                f"change {change:.3g}): the file is not the certified network, which is float64"
            )
    if args.torch_masks is not None:
        masks = write_torch_masks(network, mask, args.torch_masks, dtype=args.dtype, layers=layers)
        lines.append(f"masks       {args.torch_masks} ({', '.join(masks)}; for custom_from_mask)")
    unit = "units" if problem.pruning == PruningMode.NEURONS else "weights"
    domain = "the grid points" if isinstance(problem.domain, BoxGrid) else "the given points"
    lines.append(f"kept        {mask.kept()} of {problem.max_kept_possible()} {unit}")
    lines.append(f"error       {error:.12g}   (on {domain}: exact, rounded up; result {status})")
    print("\n".join(lines))
    return 0


def add_parser(subparsers) -> None:
    cmd = subparsers.add_parser(
        "export",
        help="write the pruned network of a result (.onnx, .npz, .safetensors)",
        description=(
            "Write PROBLEM's network pruned by RESULT's mask in the same architecture (Linear, "
            "ReLU, Linear, and a final ReLU if the output has one), in the format of -o's "
            "suffix: .onnx (Gemm, Relu, Gemm), .npz (W1, b1, W2, b2) or .safetensors (a PyTorch "
            "state_dict), each as `prunecert import` reads it. Removed weights are zero; a unit "
            "whose output weight is removed is dead, and its hidden weights and bias are zero "
            "too. The mask's exact error is checked against the result's."
        ),
    )
    cmd.add_argument("problem", metavar="PROBLEM", help="the problem file (proto3 JSON)")
    cmd.add_argument(
        "result",
        metavar="RESULT",
        help="its result (`prunecert solve PROBLEM --json`, proto3 JSON of SolveResult)",
    )
    cmd.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the pruned network: .onnx, .npz or .safetensors (default: none; then "
        "--torch-masks is required)",
    )
    cmd.add_argument(
        "--drop-dead-units",
        action="store_true",
        help="leave removed and dead units out (n shrinks) instead of writing them as zeros "
        "(default: off)",
    )
    cmd.add_argument(
        "--dtype",
        choices=list(DTYPES),
        default="float64",
        help="the file's number type; float32 rounds every value, and the certificate is about "
        "the float64 network (default float64: the certified values exactly)",
    )
    cmd.add_argument(
        "--torch-masks",
        metavar="FILE.safetensors",
        help="also write 0/1 <layer>.weight_mask and <layer>.bias_mask tensors in the unpruned "
        "model's shapes, as torch.nn.utils.prune.custom_from_mask takes them (default: none)",
    )
    cmd.add_argument(
        "--layers",
        nargs="+",
        metavar="MODULE",
        help="the hidden and output Linear modules' names for .safetensors keys, ONNX "
        "initializers and --torch-masks, e.g. fc1 fc2 (default: nn.Sequential's 0 and 2)",
    )
    cmd.add_argument(
        "--frontier-kept",
        type=int,
        metavar="K",
        default=None,
        help="a Pareto result: export the frontier point keeping K (default: the solution)",
    )
    cmd.set_defaults(func=run)
