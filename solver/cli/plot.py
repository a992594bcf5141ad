"""`prunecert plot PROBLEM RESULT -o FILE`: a result's figure (solver/io/figures.py draws it,
from the exact figures of solver/io/figure_data.py).

RESULT is the SolveResult JSON that `prunecert solve --json` prints. Its masks are checked
against PROBLEM (shape and mode, then their recorded errors against the exact evaluation), so a
result of another problem is refused naming the file and field, not drawn.
"""

from __future__ import annotations

import argparse

from solver.cli.common import read_text
from solver.core.errors import InvalidProblemError
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.io import convert
from solver.io.figure_data import MAX_DOMAIN_DIM, figure_data
from solver.io.figures import FORMATS, figure_format, write_figure

DESCRIPTION = f"""\
Draw a result. For d <= {MAX_DOMAIN_DIM}: the target, the pruned network and the error over the
domain (a line plot for d = 1, heat maps for d = 2), with the worst points marked (where the
exact maximum error is attained). The kept units (their output weights and, for d = 2, their
kinks w . x + b = 0) or the kept weights (a mask matrix). For a Pareto result, the frontier, with
[bound, error] whiskers where a point is not proven. For d > {MAX_DOMAIN_DIM}: the kept panel and
a histogram of the errors over the points. Every value shown comes from the exact evaluation:
the marked maximum is the result's certified error. The title states the status, error, bound
and kept count.
"""


def read_result(path: str, problem: Problem) -> SolveResult:
    """The SolveResult in ``path`` (proto3 JSON, or - for stdin), its masks checked against
    ``problem``'s mode and shape; errors name the file and the field."""
    from prunecert.v1 import solve_pb2

    msg = convert.parse_json(read_text(path), solve_pb2.SolveResult, what=path)
    masks = []
    if msg.HasField("solution"):
        masks.append((msg.solution.mask, "solution.mask"))
    masks += [(p.mask, f"frontier[{i}].mask") for i, p in enumerate(msg.frontier)]
    bad = []
    for mask, field in masks:
        try:
            convert.parse_mask(mask, problem, field=f"{path}: {field}")
        except InvalidProblemError as exc:
            bad += exc.violations
    if bad:
        raise InvalidProblemError(bad)
    return convert.parse_result(msg)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    fmt = figure_format(args.output, args.format)  # before any work: a bad -o fails at once
    problem = convert.problem_from_json(read_text(args.problem))
    result = read_result(args.result, problem)
    data = figure_data(problem, result, where=args.result)
    write_figure(data, args.output, fmt)
    return 0


def add_parser(subparsers) -> None:
    cmd = subparsers.add_parser(
        "plot",
        help="draw a result: target, pruned network, error, kept units or weights, frontier",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("problem", metavar="PROBLEM", help="the problem file (proto3 JSON)")
    cmd.add_argument(
        "result",
        metavar="RESULT",
        help="its result: the JSON of `prunecert solve PROBLEM --json`, or - for stdin",
    )
    cmd.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the image to write, e.g. result.png (required; .png, .pdf or .svg)",
    )
    cmd.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="image format (default: from the suffix of -o)",
    )
    cmd.set_defaults(func=run)
