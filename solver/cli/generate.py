"""`prunecert generate paper ...`: a problem file (proto3 JSON) on stdout."""

from __future__ import annotations

import argparse

from solver.cli.common import objective_flags, objective_from_args
from solver.core.problem import PruningMode
from solver.core.validate import validate_generate_arguments, validate_problem
from solver.instances.generate import paper_problem
from solver.io import convert


def run(args: argparse.Namespace) -> int:
    validate_generate_arguments(
        args.d, args.n, args.points_per_axis, args.max_kept, args.objective, args.max_error
    )
    objective = objective_from_args(args)
    pruning = PruningMode.NEURONS if args.pruning == "neurons" else PruningMode.WEIGHTS
    problem = paper_problem(args.d, args.n, args.seed, pruning, objective, args.points_per_axis)
    validate_problem(problem)
    print(convert.to_json(convert.problem_to_proto(problem)))
    return 0


def add_parser(subparsers) -> None:
    gen = subparsers.add_parser("generate", help="write a problem file (proto3 JSON) to stdout")
    families = gen.add_subparsers(dest="family", required=True)
    paper = families.add_parser("paper", help="the setting of arXiv 2603.02234")
    paper.add_argument("--d", type=int, required=True, help="input dimension (required)")
    paper.add_argument("--n", type=int, required=True, help="hidden units (required)")
    paper.add_argument(
        "--seed", type=int, required=True, help="random seed of the network (required)"
    )
    paper.add_argument(
        "--pruning",
        choices=["neurons", "weights"],
        required=True,
        help="prune whole hidden units or single weights (required)",
    )
    objective_flags(paper)
    paper.add_argument(
        "--points-per-axis",
        type=int,
        default=None,
        help="grid points per axis (default 41 for d <= 2, 11 above)",
    )
    paper.set_defaults(func=run)
