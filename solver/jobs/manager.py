"""Jobs: submission, queries and the feeder that runs their items on Dask.

The feeder keeps at most ``max_in_flight`` chunks submitted to Dask and adds more as they
finish, so a 100,000-item job never floods the scheduler or memory. Every finished chunk is
committed to the store at once. After a crash, unfinished jobs resume on restart: items with
no committed result are run (again); the store ignores a second result for the same item.

A distributed job (one problem with parameters.distributed) has no chunks: the feeder starts its
cube driver in a process of its own (solver.jobs.distributed), which journals every finished
cube in the store; after a crash the feeder starts it again and it resumes from the journal.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prunecert.v1 import jobs_pb2
from solver.core.errors import FieldViolation, InvalidProblemError, JobNotFoundError
from solver.core.validate import Limits
from solver.jobs.distributed import cube_progress, is_distributed, start_driver
from solver.jobs.spec import JobSpec
from solver.jobs.store import FINAL_STATES, JobRow, JobStore
from solver.jobs.tasks import cancel_event_name, run_items
from solver.jobs.times import fill_item_duration

log = logging.getLogger("prunecert.jobs")

# Tiny subset-sum items are batched so that scheduling does not dominate their cost.
SUBSET_SUM_CHUNK = 2000
# Distributed jobs whose drivers run at once (solver.jobs.distributed); the others wait QUEUED.
# One: each already spreads its cubes over the whole cluster.
MAX_DRIVERS = 1
# A driver that died (not stopped by the server) is started again this many times in all.
DRIVER_ATTEMPTS = 3
# A cancelled job's driver that has not exited this long after the cancel is killed.
DRIVER_CANCEL_GRACE_SECONDS = 5.0


@dataclass
class _Driver:
    """A distributed job's driver process (solver.jobs.distributed)."""

    process: object
    attempts: int = 1
    cancelled_at: float | None = None


@dataclass
class _Active:
    row: JobRow
    spec: JobSpec
    pending: Iterator[int]
    chunk: int
    in_flight: dict = field(default_factory=dict)  # future -> list of indices
    exhausted: bool = False


def _page_after(token: str) -> int:
    """The job sequence number a ListJobs page token encodes (a positive SQLite integer)."""
    try:
        after = int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:  # bad base64, bad UTF-8 and a non-number are all ValueErrors
        after = 0
    if not 0 < after < 2**63:
        raise InvalidProblemError(FieldViolation("page_token", "is not a token from ListJobs"))
    return after


def _stored_spec(row: JobRow) -> JobSpec:
    """The spec of a stored job (validated when it was submitted)."""
    return JobSpec(jobs_pb2.SubmitJobRequest.FromString(row.spec), limits=None)


def _completed(item: jobs_pb2.JobItemResult, spec: JobSpec) -> jobs_pb2.JobItemResult:
    """A stored result as it is sent: with its origin (recomputed from the spec, so results
    stored by earlier versions get one too) and its duration."""
    item.origin.CopyFrom(spec.origin(item.index))
    fill_item_duration(item)
    return item


class JobManager:
    def __init__(
        self,
        data_dir: str,
        limits: Limits,
        max_time_limit: float,
        dask_scheduler: str | None = None,
        max_in_flight: int | None = None,
        dask_dashboard: str | None = None,
        precheck=None,
    ):
        """``precheck``: run on each submitted problem message before it is converted (see
        JobSpec)."""
        self.precheck = precheck
        self.store = JobStore(os.path.join(data_dir, "jobs.sqlite3"))
        self.limits = limits
        self.max_time_limit = max_time_limit
        self.dask_scheduler = dask_scheduler
        self.dask_dashboard = dask_dashboard
        self.max_in_flight = max_in_flight
        self._client = None
        self._cluster = None
        self._active: dict[str, _Active] = {}
        self._drivers: dict[str, _Driver] = {}  # job id -> its driver, for distributed jobs
        self._kinds: dict[str, bool] = {}  # job id -> whether it is distributed
        # The cube time slice of distributed jobs (None: the engine's default); for tests.
        self.cube_slice_seconds: float | None = None
        self._lock = threading.Lock()
        # The feeder and the servicer's distributed solves both start the client lazily: one
        # cluster, whoever comes first.
        self._dask_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="prunecert-jobs", daemon=True)
        self._thread.start()

    # -- Dask ------------------------------------------------------------------------------------
    def scheduler_address(self) -> str:
        """The job cluster's scheduler address (starting the local cluster if need be), for
        work that runs on the cluster outside jobs: a distributed solve (docs/design.md §16)."""
        return str(self._dask().scheduler.address)

    def _dask(self):
        with self._dask_lock:
            return self._start_dask()

    def _start_dask(self):
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.dask_scheduler:
                self._client = Client(self.dask_scheduler)
            else:
                # Every socket of the local cluster (scheduler, nannies, workers) on loopback,
                # and no dashboard unless asked for: it has no authentication and its pages
                # show every tenant's job ids (issue 15). The server checks that an address
                # asked for is loopback unless --insecure (ServerConfig.violations).
                # The scheduler always runs an HTTP server (on 8787 when given no address, on
                # 0.0.0.0 when given ":PORT"), so it always gets an explicit loopback address;
                # only the bokeh dashboard pages are switched off.
                dashboard = self.dask_dashboard
                if dashboard is not None and dashboard.startswith(":"):
                    dashboard = f"127.0.0.1{dashboard}"
                self._cluster = LocalCluster(
                    n_workers=os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    scheduler_port=0,
                    dashboard_address=dashboard or "127.0.0.1:0",
                    worker_dashboard_address=None,
                    scheduler_kwargs={"dashboard": dashboard is not None},
                )
                self._client = Client(self._cluster)
            if self.max_in_flight is None:
                threads = sum(self._client.nthreads().values()) or 1
                self.max_in_flight = 2 * threads
        return self._client

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        # Drivers first, killed, not stopped: a stop would end the solve CANCELLED; killed, its
        # job stays RUNNING and its driver resumes from the journal when the server starts
        # again. The feeder may start no new one: it is stopping.
        with self._lock:
            drivers = list(self._drivers.values())
            self._drivers.clear()
        for driver in drivers:
            driver.process.kill()
        self._thread.join(10)
        with self._lock:  # one the feeder started while this was killing the others
            drivers += list(self._drivers.values())
            self._drivers.clear()
        for driver in drivers:
            driver.process.kill()
            driver.process.join(5)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.store.close()

    # -- API used by the servicer -----------------------------------------------------------------
    def submit(self, owner: str, request: jobs_pb2.SubmitJobRequest) -> jobs_pb2.Job:
        spec = JobSpec(request, self.limits, self.precheck)
        row, _ = self.store.create(
            owner, request.request_id, spec.kind, request.SerializeToString(), spec.size()
        )
        self._wake.set()
        return self._proto(row)

    def _row(self, owner: str, job_id: str) -> JobRow:
        row = self.store.get(job_id, owner)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        return row

    def _proto(self, row: JobRow) -> jobs_pb2.Job:
        with self._lock:
            active = self._active.get(row.id)
            running = sum(len(v) for v in active.in_flight.values()) if active else 0
            driver = self._drivers.get(row.id)
            if driver is not None and driver.process.is_alive():
                running = 1
        job = row.to_proto(running)
        if self._distributed(row):
            job.cubes.CopyFrom(cube_progress(self.store, row.id))
        return job

    def _distributed(self, row: JobRow) -> bool:
        """Whether ``row`` is a distributed job (its spec parsed once: specs can be large)."""
        known = self._kinds.get(row.id)
        if known is None:
            known = self._kinds[row.id] = is_distributed(
                jobs_pb2.SubmitJobRequest.FromString(row.spec)
            )
        return known

    def get(self, owner: str, job_id: str) -> jobs_pb2.Job:
        return self._proto(self._row(owner, job_id))

    def list(self, owner: str, request: jobs_pb2.ListJobsRequest) -> jobs_pb2.ListJobsResponse:
        size = request.page_size or 50
        if size > 1000:
            raise InvalidProblemError(FieldViolation("page_size", "must be at most 1000"))
        after = _page_after(request.page_token) if request.page_token else None
        rows = self.store.list(owner, request.state, after, size + 1)
        reply = jobs_pb2.ListJobsResponse(jobs=[self._proto(r) for r in rows[:size]])
        if len(rows) > size:
            reply.next_page_token = base64.urlsafe_b64encode(
                str(rows[size - 1].seq).encode()
            ).decode()
        return reply

    def cancel(self, owner: str, job_id: str) -> jobs_pb2.Job:
        row = self._row(owner, job_id)
        if row.state not in FINAL_STATES:
            self.store.set_state(job_id, jobs_pb2.JOB_STATE_CANCELLED, "cancelled by its owner")
            self._stop_running(job_id)  # the feeder's next step also checks, for activations
        return self.get(owner, job_id)

    def watch(self, owner: str, job_id: str, alive) -> Iterator[jobs_pb2.JobEvent]:
        """Events after each change until the job is final (or the caller goes away)."""
        row = self._row(owner, job_id)
        spec = None  # parsed at the first result: a job whose spec failed to expand has none
        last_seq = 0
        last = None
        while alive():
            for seq, _index, payload in self.store.results_since(job_id, last_seq):
                last_seq = seq
                spec = spec or _stored_spec(row)
                item = _completed(jobs_pb2.JobItemResult.FromString(payload), spec)
                yield jobs_pb2.JobEvent(job=self.get(owner, job_id), item=item)
            job = self.get(owner, job_id)
            if last is None or job.SerializeToString() != last:
                last = job.SerializeToString()
                yield jobs_pb2.JobEvent(job=job)
            row = self._row(owner, job_id)
            if row.state in FINAL_STATES and not self.store.results_since(job_id, last_seq, 1):
                return
            time.sleep(0.2)

    def results(self, owner: str, job_id: str, offset: int) -> Iterator[jobs_pb2.JobItemResult]:
        """Finished items from ``offset`` in index order, each with its problem."""
        row = self._row(owner, job_id)
        if offset >= 2**63:  # SQLite's integers are signed 64-bit: not an index of any job
            raise InvalidProblemError(FieldViolation("offset", "must be below 2^63"))
        if offset >= row.total:  # past the end: nothing to read
            return
        spec = _stored_spec(row)
        while True:
            batch = self.store.results(job_id, offset)
            if not batch:
                return
            for idx, payload in batch:
                item = _completed(jobs_pb2.JobItemResult.FromString(payload), spec)
                item.problem.CopyFrom(spec.problem(idx))
                yield item
            offset = batch[-1][0] + 1

    # -- the feeder ------------------------------------------------------------------------------
    def _stop_running(self, job_id: str) -> None:
        with self._lock:
            active = self._active.pop(job_id, None)
        if active is not None:
            active.exhausted = True  # the feeder submits nothing more for it
        if active is None or self._client is None:
            return
        from distributed import Event

        Event(cancel_event_name(job_id), client=self._client).set()
        self._client.cancel(list(active.in_flight))

    # -- distributed jobs (solver.jobs.distributed) -------------------------------------------
    def _start_driver(self, row: JobRow) -> None:
        """Start (or, after a crash, resume) a distributed job's driver, if a driver slot is
        free; a job whose result is already committed is finished."""
        if self._stopping.is_set():
            return
        if self.store.done_indices(row.id):
            self.store.set_state(row.id, jobs_pb2.JOB_STATE_SUCCEEDED)
            return
        with self._lock:
            if len(self._drivers) >= MAX_DRIVERS:
                return  # stays QUEUED (or RUNNING, resumed later)
        address = str(self._dask().scheduler.address)
        process = start_driver(
            str(self.store.path),
            row.id,
            address,
            self.max_time_limit,
            self.limits,
            self.cube_slice_seconds,
        )
        with self._lock:
            previous = self._drivers.get(row.id)
            attempts = 1 if previous is None else previous.attempts + 1
            self._drivers[row.id] = _Driver(process, attempts)
        self.store.set_state(row.id, jobs_pb2.JOB_STATE_RUNNING)

    def _check_drivers(self) -> None:
        """Finish the jobs whose driver exited; start a died driver again (a few times); kill
        a cancelled job's driver that ignores the cancel."""
        with self._lock:
            drivers = list(self._drivers.items())
        for job_id, driver in drivers:
            row = self.store.get(job_id)
            final = row is None or row.state in FINAL_STATES
            if driver.process.is_alive():
                if final:
                    now = time.monotonic()
                    driver.cancelled_at = driver.cancelled_at or now
                    if now - driver.cancelled_at > DRIVER_CANCEL_GRACE_SECONDS:
                        log.warning("job %s: its driver ignored the cancel; killed", job_id)
                        driver.process.kill()
                continue
            driver.process.join(1)
            if final or self.store.done_indices(job_id):
                with self._lock:
                    self._drivers.pop(job_id, None)
                if not final:
                    self.store.set_state(job_id, jobs_pb2.JOB_STATE_SUCCEEDED)
                continue
            code = driver.process.exitcode
            if driver.attempts >= DRIVER_ATTEMPTS:
                with self._lock:
                    self._drivers.pop(job_id, None)
                self.store.set_state(
                    job_id,
                    jobs_pb2.JOB_STATE_FAILED,
                    f"the distributed solve's driver process exited with code {code} "
                    f"{driver.attempts} times",
                )
                continue
            log.warning("job %s: its driver exited with code %s; resuming", job_id, code)
            with self._lock:
                self._drivers.pop(job_id, None)
            self._start_driver(row)
            with self._lock:
                if job_id in self._drivers:
                    self._drivers[job_id].attempts = driver.attempts + 1

    def _activate(self, row: JobRow) -> None:
        try:
            request = jobs_pb2.SubmitJobRequest.FromString(row.spec)
            distributed = is_distributed(request)
            spec = None if distributed else JobSpec(request, limits=None)
        except Exception as exc:
            self.store.set_state(row.id, jobs_pb2.JOB_STATE_FAILED, f"cannot expand the job: {exc}")
            return
        if spec is None:
            # Outside the try: a cluster that cannot be reached now is retried by the next
            # step (as for batch items), never the job's failure.
            self._start_driver(row)
            return
        done = self.store.done_indices(row.id)
        pending = (i for i in range(row.total) if i not in done)
        chunk = 1
        if spec.family is not None and spec.family.generator == "subset_sum":
            chunk = SUBSET_SUM_CHUNK
        with self._lock:
            self._active[row.id] = _Active(row, spec, pending, chunk)

    def _submit_chunk(self, active: _Active) -> bool:
        indices = []
        for i in active.pending:
            indices.append(i)
            if len(indices) >= active.chunk:
                break
        if not indices:
            active.exhausted = True
            return False
        spec, request = active.spec, active.spec.request
        family = request.family.SerializeToString() if spec.family is not None else None
        if spec.kind == "certify":
            items = [(i, request.certify.items[i].SerializeToString()) for i in indices]
        elif family is not None:
            items = [(i, None) for i in indices]
        else:
            items = [(i, request.problems.problems[i].SerializeToString()) for i in indices]
        limit = self.max_time_limit
        if request.parameters.time_limit_seconds > 0:
            limit = min(limit, request.parameters.time_limit_seconds)
        future = self._dask().submit(
            run_items,
            active.row.id,
            spec.kind,
            family,
            items,
            request.parameters.SerializeToString(),
            limit,
            request.certify.compare_with_optimum,
            self.limits,
            pure=False,
            key=f"prunecert-{active.row.id}-{indices[0]}-{time.monotonic_ns()}",
        )
        active.in_flight[future] = indices
        if active.row.state == jobs_pb2.JOB_STATE_QUEUED:
            self.store.set_state(active.row.id, jobs_pb2.JOB_STATE_RUNNING)
            active.row.state = jobs_pb2.JOB_STATE_RUNNING
        return True

    def _collect(self, active: _Active, future, indices: list[int]) -> None:
        try:
            results = future.result()
        except Exception as exc:  # the task itself failed (e.g. its worker died repeatedly)
            log.warning("job %s: chunk at %d failed: %s", active.row.id, indices[0], exc)
            results = [
                (
                    i,
                    False,
                    jobs_pb2.JobItemResult(
                        index=i, error=f"worker failure: {exc}"
                    ).SerializeToString(),
                )
                for i in indices
            ]
        self.store.add_results(active.row.id, results)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:
                log.exception("job feeder step failed; retrying")
                time.sleep(1)

    def _step(self) -> None:
        self._check_drivers()
        for row in self.store.unfinished():
            if row.id not in self._active and row.id not in self._drivers:
                self._activate(row)
        with self._lock:
            actives = list(self._active.values())
        # A job cancelled while it was being activated: stop it now.
        for active in list(actives):
            row = self.store.get(active.row.id)
            if row is None or row.state in FINAL_STATES:
                self._stop_running(active.row.id)
                actives.remove(active)
        if not actives:
            self._wake.wait(0.5)
            self._wake.clear()
            return
        self._dask()
        in_flight = sum(len(a.in_flight) for a in actives)
        for active in actives:  # oldest job first
            while in_flight < (self.max_in_flight or 1) and not active.exhausted:
                if not self._submit_chunk(active):
                    break
                in_flight += 1
        futures = [f for a in actives for f in a.in_flight if not f.done()]
        if futures:
            from distributed import wait

            try:
                wait(futures, timeout=0.2, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            except Exception as exc:  # e.g. FuturesCancelledError after a CancelJob
                log.debug("wait interrupted: %s", exc)
        for active in actives:
            for future in [f for f in active.in_flight if f.done()]:
                indices = active.in_flight.pop(future)
                if future.cancelled():
                    continue
                self._collect(active, future, indices)
            if active.exhausted and not active.in_flight:
                row = self.store.get(active.row.id)
                with self._lock:
                    self._active.pop(active.row.id, None)
                if row is not None and row.state not in FINAL_STATES:
                    self.store.set_state(active.row.id, jobs_pb2.JOB_STATE_SUCCEEDED)
