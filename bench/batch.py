"""Subset-sum ground truth through the batch API (issue 7's second table): a family of
`--count` instances (n = 21, candidates U[-0.464, 0.541]) submitted to an in-process server
with a local Dask cluster, timed to SUCCEEDED; and, in the same run, a per-instance CP-SAT solve
on a sample of the same instances for the ratio. Figures, never assertions.

    python bench/batch.py [--count 397000] [--sample 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from prunecert.v1 import jobs_pb2
from prunecert_client import Client
from solver.core.parameters import SolveParameters
from solver.engine import solve
from solver.io import convert
from solver.service.server import ServerConfig, create_server


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=397_000)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    spec = (
        '{"family": {"generator": "subset_sum", "n": [21], "seeds": [1], '
        f'"count": {args.count}, "low": -0.464, "high": 0.541, "objective": {{"min_error": {{}}}}}}}}'
    )
    with tempfile.TemporaryDirectory() as data:
        running = create_server(ServerConfig(port=0, data_dir=data))
        try:
            with Client(f"127.0.0.1:{running.port}") as client:
                start = time.perf_counter()
                job = client.submit_job(spec)
                while not job.done:
                    time.sleep(0.5)
                    job = client.get_job(job.id)
                elapsed = time.perf_counter() - start
                # Reading the results back: each item with its problem and origin (family
                # coordinates), rebuilt from the spec by the server.
                start = time.perf_counter()
                optimal = sum(
                    1 for m in client.job_results_messages(job.id) if m.solve_result.status == 1
                )
                download = time.perf_counter() - start
        finally:
            running.stop(0)
    family = convert.parse_family(
        jobs_pb2.SubmitJobRequest(
            family=convert.parse_json(spec, jobs_pb2.SubmitJobRequest).family
        ).family
    )
    cpsat = []
    for j in range(args.sample):
        t = time.perf_counter()
        solve(family.problem(j), SolveParameters(backend="cpsat"))
        cpsat.append(time.perf_counter() - t)
    per_item = elapsed / args.count
    print(
        f"subset-sum batch, n=21, {args.count} instances through SubmitJob on a local Dask cluster"
    )
    print(
        f"  {job.state}: {job.succeeded_items} succeeded, {job.failed_items} failed, {optimal} certified optimal"
    )
    print(f"  wall time {elapsed:.1f} s ({per_item * 1e3:.3f} ms per instance, both cores)")
    print(
        f"  GetJobResults: {download:.1f} s for {args.count} items "
        f"({download / args.count * 1e6:.0f} us per item, with problem and origin)"
    )
    print(
        f"  per-instance CP-SAT on {args.sample} of the same instances: median {statistics.median(cpsat) * 1e3:.0f} ms"
    )
    print(
        f"  ratio (CP-SAT per instance / batch per instance): {statistics.median(cpsat) / per_item:.0f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
