"""Cube and conquer on one hard instance (issue 16; docs/design.md §16): neurons mode on the paper
family (d = 2 by default, K = 41), the monolithic solve against the cube run on this machine's local Dask
cluster, with the same time limit. Figures, never assertions.

Per instance it prints: status, certified error, rigorous bound (the bracket at the limit), wall
time to proof (or ">limit"), CPU seconds (the monolithic process's; the sum over cubes of each
cube's worker-process CPU), the number of cubes and their states. Then a PROJECTION to W = 8, 32,
128 workers: the measured cube times replayed on a simulated list scheduler with the driver's
policy (the root cubes first, a split cube's two children released when it ends, each cube to
the first free worker), plus the driver's own time before the cubes (its starting masks). It
keeps every cube's measured time, so it ignores that more workers would publish cutoffs sooner
and that cubes stopped by their slice would have split at other moments; it is the projected
wall time to this run's final state, a proof only where the run's status is OPTIMAL.

Cutoffs (--cutoffs): "live" (the default) lets a running cube hear of a better error published
after it started (solver/engine/cube_task.py LiveCutoff); "start" is the earlier behaviour (a
cube reads the cutoff only when it starts); "both" runs each rule twice, start first, for a
before/after. The "late" column counts the cubes a cutoff published while they ran closed.

    python bench/distributed.py [--d 2] [--ns 96 128] [--seeds 1 2 3 4 5] [--time-limit 60]
                                [--rules magnitude kink] [--cubes 8] [--workers 2]
                                [--cutoffs live|start|both] [--no-monolithic] [--show-cubes]
                                [--cube-threads 1]

--cube-threads 0 gives each cube the backend's own portfolio (on two cores CP-SAT's lower-bound
worker beside its full search, as the monolithic solve runs); with --workers 1 the cubes then
run one at a time on the machine's two cores, and their CPU compares with the monolithic's.
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import time

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# dask.distributed package (here and in the workers, which inherit sys.path).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from solver.core.parameters import SolveParameters  # noqa: E402
from solver.core.problem import PruningMode  # noqa: E402
from solver.core.result import SolveStatus  # noqa: E402
from solver.engine import solve  # noqa: E402
from solver.engine.cubes import DistributedResult, local_cluster, solve_cubes  # noqa: E402
from solver.instances.generate import paper_problem  # noqa: E402

PROJECTED_WORKERS = (8, 32, 128)


def project(outcome: DistributedResult, workers: int, before: float) -> float:
    """The makespan of the cube tree on ``workers`` workers (list scheduling, FIFO release):
    the cubes in the order they were split, each child released when its parent ends."""
    by_key = {tuple(sorted(c.decisions.items())): c for c in outcome.cubes}
    roots = [c for c in outcome.cubes if len(c.decisions) == len(outcome.split_units)]
    free = [before] * workers
    heapq.heapify(free)
    ready = [(before, 0, tuple(sorted(c.decisions.items()))) for c in roots]
    heapq.heapify(ready)
    order = len(ready)
    end = before
    while ready:
        release, _, key = heapq.heappop(ready)
        cube = by_key[key]
        start = max(release, heapq.heappop(free))
        finish = start + cube.seconds
        heapq.heappush(free, finish)
        end = max(end, finish)
        if cube.state == "split":
            for other in by_key:
                if len(other) == len(key) + 1 and set(key) < set(other):
                    order += 1
                    heapq.heappush(ready, (finish, order, other))
    return end


def bracket(result) -> str:
    if result.solution is None:
        return "no mask"
    return f"[{result.objective_bound:.4g}, {result.solution.error:.4g}]"


def proof(result, wall: float, limit: float) -> str:
    return f"{wall:.1f}" if result.status == SolveStatus.OPTIMAL else f">{limit:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=2, help="input dimension of the paper family")
    parser.add_argument("--ns", type=int, nargs="+", default=[96, 128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument(
        "--rules", nargs="*", default=["magnitude", "kink"], help="none: the monolithic solve only"
    )
    parser.add_argument("--cubes", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cutoffs", choices=["live", "start", "both"], default="live")
    parser.add_argument("--monolithic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--show-cubes", action="store_true")
    parser.add_argument(
        "--cube-threads",
        type=int,
        default=1,
        help="solver threads per cube; 0: the backend's own portfolio (use with --workers 1)",
    )
    args = parser.parse_args()
    limit = args.time_limit
    client = local_cluster(args.workers) if args.rules else None
    workers = len(client.nthreads()) if client is not None else 0
    print(
        f"d = {args.d}; local cluster: {workers} workers; time limit {limit:g} s; "
        f"cubes {args.cubes}"
    )
    header = (
        f"{'case':<16}{'run':<23}{'status':<10}{'bracket':<24}{'proof s':>8}{'wall s':>7}"
        f"{'cpu s':>8}{'cubes':>6}{'late':>5}  PROJECTION W="
        + "/".join(map(str, PROJECTED_WORKERS))
        + " (s, same end state)"
    )
    print(header)
    try:
        for n in args.ns:
            for seed in args.seeds:
                problem = paper_problem(args.d, n, seed, PruningMode.NEURONS)
                case = f"d={args.d} n={n} s={seed}"
                params = SolveParameters(time_limit_seconds=limit, sparsest=False)
                if args.monolithic:
                    began, cpu = time.monotonic(), time.process_time()
                    result = solve(problem, params)
                    wall, used = time.monotonic() - began, time.process_time() - cpu
                    print(
                        f"{case:<16}{'monolithic':<23}{result.status.name:<10}"
                        f"{bracket(result):<24}{proof(result, wall, limit):>8}{wall:>7.1f}{used:>8.1f}",
                        flush=True,
                    )
                modes = ["start", "live"] if args.cutoffs == "both" else [args.cutoffs]
                for rule, mode in ((r, m) for r in args.rules for m in modes):
                    began, cpu = time.monotonic(), time.process_time()
                    outcome = solve_cubes(
                        problem,
                        params,
                        cubes=args.cubes,
                        rule=rule,
                        client=client,
                        live_cutoffs=mode == "live",
                        cube_threads=args.cube_threads or None,
                    )
                    wall = time.monotonic() - began
                    driver = time.process_time() - cpu
                    cube_time = max((c.seconds for c in outcome.cubes), default=0.0)
                    before = max(0.0, wall - _local_makespan(outcome, workers, wall))
                    projected = "/".join(
                        f"{project(outcome, w, before):.1f}" for w in PROJECTED_WORKERS
                    )
                    result = outcome.result
                    states = _states(outcome)
                    print(
                        f"{case:<16}{f'cubes:{rule}/{mode}':<23}{result.status.name:<10}"
                        f"{bracket(result):<24}{proof(result, wall, limit):>8}{wall:>7.1f}"
                        f"{outcome.cpu_seconds + driver:>8.1f}{len(outcome.cubes):>6}"
                        f"{outcome.closed_late:>5}  "
                        f"{projected}   [{states}; longest cube {cube_time:.1f} s]",
                        flush=True,
                    )
                    if args.show_cubes:
                        for c in outcome.cubes:
                            decisions = " ".join(
                                f"{u}{'+' if a else '-'}" for u, a in c.decisions.items()
                            )
                            error = "-" if c.error is None else f"{c.error:.4g}"
                            late = " (late cutoff)" if c.late_cutoff else ""
                            print(
                                f"    [{decisions}] {c.state:<8} bound {c.bound:.4g} "
                                f"error {error} {c.seconds:.1f} s{late}"
                            )
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            cluster.close()


def _local_makespan(outcome: DistributedResult, workers: int, wall: float) -> float:
    """The cube phase's makespan on this cluster as the scheduler replays it (the rest of the
    wall time is the driver's: model, starting masks, submission)."""
    return min(wall, project(outcome, workers, 0.0))


def _states(outcome: DistributedResult) -> str:
    counts: dict[str, int] = {}
    for c in outcome.cubes:
        counts[c.state] = counts.get(c.state, 0) + 1
    return " ".join(f"{k} {v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    main()
