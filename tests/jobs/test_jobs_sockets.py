"""Every socket a job server opens, its Dask cluster's included, is on loopback (issue 15,
item 4): the Dask dashboard has no authentication and its pages name every tenant's jobs.

A real `prunecert serve --host 0.0.0.0 --tokens-file` process runs a job (the local cluster
starts with the first job); then the listening sockets of its whole process group are read
with psutil. Only the gRPC port, which was asked for, may listen on a wildcard address.
"""

from __future__ import annotations

import ipaddress
import time

import psutil
import pytest

from prunecert_client import Client
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from tests.support.server_groups import TOKENS, group_members, serving_group

pytestmark = pytest.mark.timeout(240)


def listening(pgid: int) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening inet socket of the process group."""
    out = []
    for proc in group_members(pgid):
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        out += [
            (proc.pid, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN
        ]
    return out


def test_cluster_and_dashboard_listen_on_loopback_only(tmp_path):
    with serving_group(tmp_path, "--host", "0.0.0.0", "--max-concurrent", "1") as served:
        with Client(served.remote, token=TOKENS[0]) as client:
            problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(), points_per_axis=5)
            job = client.submit_problems([problem])
            start = time.monotonic()
            while not client.get_job(job.id).done:
                assert time.monotonic() - start < 120, "job not done"
                time.sleep(0.1)
        sockets = listening(served.pgid)
        ports = {port for _, _, port in sockets}
        assert served.port in ports
        assert len(sockets) >= 3, sockets  # gRPC, the scheduler, at least one worker or nanny
        exposed = [
            s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback and s[2] != served.port
        ]
        assert not exposed, f"listening beyond loopback: {exposed}"
