"""`make bench` (large instances, issue 7): time to a proven optimum on the paper family at the
sizes users hit the wall (d = 2, K = 41): neurons n = 128 and weights n = 64, seeds 1-5, with
the figures of every run (status, error, rigorous bound). Figures, never assertions.

    python bench/large.py [--seeds 5] [--time-limit 60] [--cases neurons:128 weights:64]
                          [--row-generation | --no-row-generation]
"""

from __future__ import annotations

import argparse
import statistics
import time

from solver.engine import solve
from solver.generate import paper_problem
from solver.model import PruningMode
from solver.parameters import SolveParameters
from solver.result import SolveStatus


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--cases", nargs="+", default=["neurons:128", "weights:64"])
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
    print(f"{'instance':16s}{'seed':>5s}{'status':>10s}{'seconds':>9s}{'error':>12s}{'bound':>12s}")
    for case in args.cases:
        mode_name, n_text = case.split(":")
        mode = PruningMode[mode_name.upper()]
        n = int(n_text)
        times = []
        proven = 0
        for seed in range(1, args.seeds + 1):
            problem = paper_problem(2, n, seed, mode)
            start = time.perf_counter()
            params = SolveParameters(
                time_limit_seconds=args.time_limit, row_generation=args.row_generation
            )
            result = solve(problem, params)
            seconds = time.perf_counter() - start
            optimal = result.status == SolveStatus.OPTIMAL
            proven += optimal
            times.append(seconds if optimal else args.time_limit)
            error = result.solution.error if result.solution else float("nan")
            print(
                f"{mode_name} n={n:<8d}{seed:>5d}{result.status.name:>10s}{seconds:>9.1f}"
                f"{error:>12.3g}{result.objective_bound:>12.3g}"
            )
        print(
            f"{mode_name} n={n}: median {statistics.median(times):.1f} s to a proven optimum, "
            f"{proven}/{args.seeds} proven"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
