"""A real Dask LocalCluster for the cube tests, and a server whose job cluster it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from solver.engine.cubes import local_cluster


@contextmanager
def dask_cluster(workers: int = 2) -> Iterator:
    """A client of a LocalCluster of ``workers`` worker processes, closed with the cluster."""
    client = local_cluster(workers)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


@contextmanager
def jobs_server(client, data_dir: str) -> Iterator:
    """An in-process server on a free port, one solve slot, its job store in ``data_dir`` and
    ``client``'s cluster as its job cluster; stopped at the end."""
    from solver.service.server import ServerConfig, create_server  # only the service tests'

    running = create_server(
        ServerConfig(
            port=0, max_concurrent=1, data_dir=data_dir, dask_scheduler=client.scheduler.address
        )
    )
    try:
        yield running
    finally:
        running.stop(0)
