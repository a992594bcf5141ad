"""`make bench`: figures, never assertions. Median time to a proven optimum on the paper family
(d = 2, K = 41, seeds 1-5) for the engine and, in the same process, the naive formulation.

    python bench/run.py [--seeds 5] [--naive-time-limit 60] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive import solve_naive  # noqa: E402

from solver.core.parameters import SolveParameters  # noqa: E402
from solver.core.problem import PruningMode  # noqa: E402
from solver.core.result import SolveStatus  # noqa: E402
from solver.engine import solve  # noqa: E402
from solver.instances.generate import paper_problem  # noqa: E402

SIZES = {PruningMode.NEURONS: [16, 32, 48, 64], PruningMode.WEIGHTS: [8, 16, 24, 32]}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=120.0, help="per engine solve")
    parser.add_argument("--naive-time-limit", type=float, default=60.0, help="per naive solve")
    parser.add_argument("--quick", action="store_true", help="the two smallest sizes only")
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)

    print(
        "Engine vs naive formulation, paper family d=2, K=41 (median seconds to a proven optimum)"
    )
    print("naive: full grid, one ReLU indicator per unit and point, same CP-SAT, same process;")
    print(
        f"a naive solve not proven optimal within {args.naive_time_limit:g}s counts as that limit.\n"
    )
    header = (
        f"{'mode':8s} {'n':>3s} {'engine':>9s} {'optimal':>8s} {'max':>7s} "
        f"{'naive':>9s} {'optimal':>8s} {'ratio':>9s}  error agreement"
    )
    print(header)
    print("-" * len(header))
    for mode, sizes in SIZES.items():
        naive_gave_up = False
        for n in sizes[:2] if args.quick else sizes:
            ours, ours_ok, naive, naive_ok, agree = [], 0, [], 0, []
            for seed in seeds:
                problem = paper_problem(2, n, seed, mode)
                start = time.perf_counter()
                result = solve(problem, SolveParameters(time_limit_seconds=args.time_limit))
                ours.append(time.perf_counter() - start)
                ours_ok += result.status == SolveStatus.OPTIMAL
                if naive_gave_up:
                    continue
                proved, value, elapsed = solve_naive(problem, args.naive_time_limit)
                naive.append(elapsed if proved else args.naive_time_limit)
                naive_ok += proved
                if proved:
                    agree.append(abs(value - result.solution.error))
            name = "neurons" if mode == PruningMode.NEURONS else "weights"
            if naive:
                ratio = _median(naive) / _median(ours)
                prefix = "" if naive_ok == len(naive) else ">="
                naive_cols = f"{_median(naive):9.2f} {naive_ok:>5d}/{len(naive)} {prefix + f'{ratio:.1f}x':>9s}"
                agreement = f"max |naive - engine| = {max(agree):.1e}" if agree else "-"
            else:
                naive_cols, agreement = (
                    f"{'skipped':>9s} {'':8s} {'':>9s}",
                    "naive timed out at a smaller n",
                )
            print(
                f"{name:8s} {n:3d} {_median(ours):9.2f} {ours_ok:>5d}/{len(ours)} {max(ours):7.2f} "
                f"{naive_cols}  {agreement}",
                flush=True,
            )
            if naive and naive_ok == 0:
                naive_gave_up = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
