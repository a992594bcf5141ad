"""`prunecert compare SPEC.json`: every heuristic beside the certified optimum (the study itself
is solver.studies.compare; this is its flags, progress bar and printing)."""

from __future__ import annotations

import argparse
import math

from solver.cli.common import read_text
from solver.cli.progress import Counter, progress_flag
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import HEURISTICS
from solver.io import convert


def check_flags(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--time-limit", args.time_limit),
        ("--heuristic-time-limit", args.heuristic_time_limit),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidProblemError(FieldViolation(flag, "must be a positive number of seconds"))


def run(args: argparse.Namespace) -> int:
    from prunecert.v1 import jobs_pb2
    from solver.jobs.spec import JobSpec
    from solver.studies import compare

    request = convert.parse_json(read_text(args.spec), jobs_pb2.SubmitJobRequest, what="spec")
    check_flags(args)
    total = JobSpec(request, limits=None).size()
    with Counter(total, "instance", every=args.progress_every) as counter:
        rows = compare.run_comparison(
            request,
            heuristics=args.heuristics,
            time_limit=args.time_limit,
            heuristic_time_limit=args.heuristic_time_limit,
            on_instance=lambda _i: counter.advance(),
        )
    compare.write_csv(rows, args.out)
    print(compare.summary_table(rows))
    print(f"rows written to {args.out}")
    return 0


def add_parser(subparsers) -> None:
    cmp_ = subparsers.add_parser(
        "compare", help="every heuristic beside the certified optimum, for a batch spec"
    )
    cmp_.add_argument("spec", help="a SubmitJobRequest in proto3 JSON (family or problems)")
    cmp_.add_argument("--out", default="compare.csv", help="CSV file (default compare.csv)")
    cmp_.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per exact solve (default: none)",
    )
    cmp_.add_argument(
        "--heuristic-time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per heuristic run (default: the heuristic's own, a few seconds for local search)",
    )
    cmp_.add_argument(
        "--heuristics",
        nargs="+",
        choices=HEURISTICS,
        default=list(HEURISTICS),
        metavar="NAME",
        help=f"the heuristics to compare (default: all of {', '.join(HEURISTICS)})",
    )
    progress_flag(cmp_)
    cmp_.set_defaults(func=run)
