"""`make bench` (large instances, issue 7): time to a proven optimum on the paper family at the
sizes users hit the wall (d = 2, K = 41): neurons n = 128 and weights n = 64, seeds 1-5, with
the figures of every run (status, error, rigorous bound). Figures, never assertions.

The baseline, run in the same process on the cases of --baseline-cases, is the engine without
this issue's large-instance aids: no starting searches (SolveParameters.heuristic_start = False:
no heuristic hint, no single-weight search) and CP-SAT's default portfolio (threads = the cores,
which also leaves out the lower-bound worker); the ratio compares the medians (an unproven run
counts as the limit).

    python bench/large.py [--seeds 5] [--time-limit 60] [--cases neurons:128 weights:64]
                          [--baseline-cases neurons:128 weights:64]
                          [--row-generation | --no-row-generation]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from solver.core.parameters import SolveParameters
from solver.core.problem import PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem


def run_case(case: str, args, label: str, **params) -> float:
    """Solves seeds 1..args.seeds of ``case`` ("mode:n"), prints each run; the median time."""
    mode_name, n_text = case.split(":")
    mode = PruningMode[mode_name.upper()]
    n = int(n_text)
    times = []
    brackets = []  # bound / error: 1 = proven, 0 = nothing known
    proven = 0
    for seed in range(1, args.seeds + 1):
        problem = paper_problem(2, n, seed, mode)
        start = time.perf_counter()
        result = solve(
            problem,
            SolveParameters(
                time_limit_seconds=args.time_limit, row_generation=args.row_generation, **params
            ),
        )
        seconds = time.perf_counter() - start
        optimal = result.status == SolveStatus.OPTIMAL
        proven += optimal
        times.append(seconds if optimal else args.time_limit)
        error = result.solution.error if result.solution else float("nan")
        if result.solution and error > 0:
            brackets.append(result.objective_bound / error)
        print(
            f"{mode_name} n={n:<8d}{label:>10s}{seed:>5d}{result.status.name:>10s}"
            f"{seconds:>9.1f}{error:>12.3g}{result.objective_bound:>12.3g}"
        )
    median = statistics.median(times)
    bracket = f"{statistics.median(brackets):.2f}" if brackets else "n/a"
    print(
        f"{mode_name} n={n} {label}: median {median:.1f} s to a proven optimum, "
        f"{proven}/{args.seeds} proven, median bound/error {bracket}"
    )
    return median


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--cases", nargs="+", default=["neurons:128", "weights:64"])
    parser.add_argument("--baseline-cases", nargs="*", default=["neurons:128", "weights:64"])
    parser.add_argument(
        "--row-generation", action=argparse.BooleanOptionalAction, default=None,
        help="force row generation on or off (default: the engine decides)",
    )
    args = parser.parse_args()
    print(
        f"Large instances: paper family d=2 K=41, time limit {args.time_limit:g} s, "
        f"tolerance 1e-6, row generation {args.row_generation} (None: engine default; "
        "unproven = the limit)"
    )
    print(
        f"{'instance':16s}{'run':>10s}{'seed':>5s}{'status':>10s}{'seconds':>9s}"
        f"{'error':>12s}{'bound':>12s}"
    )
    for case in args.cases:
        median = run_case(case, args, "engine")
        if case in args.baseline_cases:
            baseline = run_case(
                case, args, "baseline", heuristic_start=False, threads=os.cpu_count() or 1
            )
            print(
                f"{case}: engine / baseline median time {median / baseline:.3g}x "
                f"({median:.1f} s vs {baseline:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
