"""`make bench` (large instances, issue 7): time to a proven optimum on the paper family at the
sizes users hit the wall (d = 2, K = 41): neurons n = 128 and weights n = 64, seeds 1-5, with
the figures of every run (status, error, rigorous bound). Figures, never assertions.

The baseline, run in the same process on the cases of --baseline-cases, is the engine without
this issue's large-instance aids: no starting searches (SolveParameters.heuristic_start = False:
no heuristic hint, no single-weight search) and CP-SAT's default portfolio (threads = the cores,
which also leaves out the lower-bound worker); the ratio compares the medians (an unproven run
counts as the limit).

It then measures the time limit as a deadline (issue 15, item 5; docs/design.md §14): neurons
n = 1024 on 19,881 points (d = 2, points_per_axis 141) with limits of 2 s and 5 s, each solve in
a fresh process, printing wall time (overrun past the limit) and peak RSS.

    python bench/large.py [--seeds 5] [--time-limit 60] [--cases neurons:128 weights:64]
                          [--baseline-cases neurons:128 weights:64]
                          [--row-generation | --no-row-generation]
                          [--deadline-limits 2 5] [--deadline-n 1024] [--deadline-k 141]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
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


def deadline_run(n: int, points_per_axis: int, limit: float) -> dict:
    """One solve of neurons n on a points_per_axis^2 grid with ``limit``, in this process (the
    child of deadline_case): its figures as a dict."""
    problem = paper_problem(2, n, 1, PruningMode.NEURONS, points_per_axis=points_per_axis)
    start = time.perf_counter()
    result = solve(problem, SolveParameters(time_limit_seconds=limit))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": result.status.name,
        "kept": result.solution.kept if result.solution else None,
        "error": result.solution.error if result.solution else None,
        "bound": result.objective_bound,
        "detail": result.detail,
    }


def deadline_case(args) -> None:
    """The time limit as a deadline: each limit in a fresh process (peak RSS is per process)."""
    n, k = args.deadline_n, args.deadline_k
    print(f"\nTime limit as a deadline: neurons n={n}, d=2, {k}x{k} = {k * k} points")
    print(f"{'limit':>7s}{'seconds':>9s}{'overrun':>9s}{'peak MB':>9s}{'status':>13s}  detail")
    for limit in args.deadline_limits:
        child = subprocess.run(
            [sys.executable, __file__, "--deadline-child", str(n), str(k), str(limit)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{limit:>7g}{figures['seconds']:>9.2f}{figures['seconds'] - limit:>+9.2f}"
            f"{figures['peak_mb']:>9.0f}{figures['status']:>13s}  {figures['detail'][:90]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--cases", nargs="*", default=["neurons:128", "weights:64"])
    parser.add_argument("--baseline-cases", nargs="*", default=["neurons:128", "weights:64"])
    parser.add_argument(
        "--row-generation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force row generation on or off (default: the engine decides)",
    )
    parser.add_argument("--deadline-limits", nargs="*", type=float, default=[2.0, 5.0])
    parser.add_argument("--deadline-n", type=int, default=1024)
    parser.add_argument("--deadline-k", type=int, default=141)
    parser.add_argument("--deadline-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.deadline_child:
        n, k, limit = args.deadline_child
        print(json.dumps(deadline_run(int(n), int(k), float(limit))))
        return 0
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
    if args.deadline_limits:
        deadline_case(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
