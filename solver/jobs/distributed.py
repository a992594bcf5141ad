"""A distributed job: one problem with parameters.distributed, solved as cubes on the job
cluster (solver.engine.cubes.solve_cubes, docs/design.md §16), durable like every job.

The job's items are its cubes. Every finished cube and every incumbent published is committed
to the job's store (the ``cubes`` table) the moment it happens, by ``StoreJournal`` (the
engine's CubeJournal); a driver started again after a crash of the server (or of itself)
restores the journal first: closed and proven cubes are not solved again, open leaves and cubes
that never finished are, and the incumbent is re-certified exactly before use. The engine's
module docstring says why a restored bound still holds. The job's one result (index 0) is the
whole SolveResult, with SolveResult.distributed listing every cube.

Where the driver runs: in a process of its own, spawned by the job manager for the job
(``start_driver``), connected to the job cluster's scheduler as a Dask client. Not in a thread
of the server: the driver builds the instance's model, ranks units (the lp rule solves the
relaxation) and certifies every improvement in exact arithmetic, all sized by what the client
sent, so a blow-up costs the driver process, never the server (the same reasoning as a
distributed Solve's, solver.service.servicer). Not as a long Dask task either: a task cannot
write the store (the cluster may be remote, --dask-scheduler), so every cube would have to
travel back through the scheduler before it was durable. The driver process writes the store
itself (a second SQLite connection; WAL lets both write, each waiting for the other's lock).

Cancellation: the driver polls the job's state every POLL_SECONDS; CancelJob's final state sets
the engine's stop Event, which stops every cube through its Dask Event. A stop of the server
kills the driver instead (the job stays RUNNING and resumes on restart).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing as mp
import os
import threading
import time
import uuid
from fractions import Fraction

import numpy as np

from prunecert.v1 import jobs_pb2
from solver.core.problem import Mask
from solver.core.result import Progress
from solver.core.validate import Limits
from solver.engine.cube_task import CubeAnswer
from solver.engine.cubes import JournalEntry, solve_cubes_on
from solver.io import convert
from solver.jobs.store import FINAL_STATES, JobStore
from solver.jobs.times import set_item_seconds

log = logging.getLogger("prunecert.jobs")

POLL_SECONDS = 0.2  # how often the driver reads the job's state for a cancel


def is_distributed(request: jobs_pb2.SubmitJobRequest) -> bool:
    return request.parameters.HasField("distributed")


# -- the journal's JSON ----------------------------------------------------------------------------
# Exact numbers travel as strings: a Fraction as "p/q" (or "p"), math.inf as "inf".


def _number(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if value == math.inf:
            return "inf"
        value = Fraction(value)  # a double is exact as a fraction
    return str(value)


def _parse_number(text: str | None):
    if text is None:
        return None
    if text == "inf":
        return math.inf
    value = Fraction(text)
    return int(value) if value.denominator == 1 else value


def _mask_json(mask: Mask | None) -> dict | None:
    if mask is None:
        return None
    if mask.neurons is not None:
        return {"neurons": np.asarray(mask.neurons, dtype=bool).tolist()}
    return {
        "hidden_weights": np.asarray(mask.hidden_weights, dtype=bool).tolist(),
        "output_weights": np.asarray(mask.output_weights, dtype=bool).tolist(),
    }


def _parse_mask(data: dict | None) -> Mask | None:
    if data is None:
        return None
    return Mask(**{name: np.array(values, dtype=bool) for name, values in data.items()})


def entry_json(entry: JournalEntry) -> str:
    answer = entry.answer
    data = {
        "decisions": None
        if entry.decisions is None
        else [[int(u), bool(v)] for u, v in sorted(entry.decisions.items())],
        "split": entry.split,
        "mask": _mask_json(entry.mask),
        "error": _number(entry.error),
        "answer": None
        if answer is None
        else {
            "state": answer.state,
            "bound": _number(answer.bound),
            "error": _number(answer.error),
            "cutoff": _number(answer.cutoff),
            "seconds": answer.seconds,
            "cpu_seconds": answer.cpu_seconds,
            "kept": answer.kept,
            "late_cutoff": answer.late_cutoff,
        },
    }
    return json.dumps(data, sort_keys=True)


def parse_entry(text: str) -> JournalEntry:
    data = json.loads(text)
    answer = None
    if data["answer"] is not None:
        a = data["answer"]
        answer = CubeAnswer(
            state=a["state"],
            bound=_parse_number(a["bound"]),
            chosen=None,
            error=_parse_number(a["error"]),
            cutoff=_parse_number(a["cutoff"]),
            seconds=float(a["seconds"]),
            cpu_seconds=float(a["cpu_seconds"]),
            kept=a["kept"],
            late_cutoff=bool(a["late_cutoff"]),
        )
    decisions = None
    if data["decisions"] is not None:
        decisions = {int(u): bool(v) for u, v in data["decisions"]}
    error = None if data["error"] is None else Fraction(data["error"])
    return JournalEntry(decisions, answer, bool(data["split"]), _parse_mask(data["mask"]), error)


class StoreJournal:
    """The engine's CubeJournal in the job store: one row per entry, committed at once."""

    def __init__(self, store: JobStore, job_id: str, run: str):
        self.store, self.job_id, self.run = store, job_id, run
        self.restored = 0

    def restore(self, phase: str) -> list[JournalEntry]:
        entries = [parse_entry(row[4]) for row in self.store.cubes(self.job_id, phase)]
        self.restored += sum(e.decisions is not None for e in entries)
        return entries

    def record(self, phase: str, entry: JournalEntry) -> None:
        self.store.add_cube(
            self.job_id, phase, self.run, entry.decisions is not None, entry_json(entry)
        )

    def progress(self, progress: Progress) -> None:
        """The engine's progress, kept for GetJob (Job.cubes); best effort."""
        data = {"error": progress.error, "bound": progress.bound, "message": progress.message}
        try:
            self.store.set_cube_progress(self.job_id, json.dumps(data))
        except Exception as exc:  # progress is a display; the journal is what must not fail
            log.debug("progress of job %s not stored: %s", self.job_id, exc)


def cube_progress(store: JobStore, job_id: str) -> jobs_pb2.CubeProgress:
    finished, text = store.cube_progress(job_id)
    msg = jobs_pb2.CubeProgress(finished=finished)
    if text:
        data = json.loads(text)
        if data.get("error") is not None:
            msg.error = data["error"]
        if data.get("bound") is not None:
            msg.bound = data["bound"]
        msg.message = data.get("message") or ""
    return msg


# -- the driver process ----------------------------------------------------------------------------


def _watch_cancel(store: JobStore, job_id: str, stop: threading.Event, done: threading.Event):
    """Stop the solve when the job is final (CancelJob); end the process when the server that
    started it is gone (killed: a daemon child outlives a SIGKILLed parent), so a restarted
    server's driver is the only one."""
    parent = os.getppid()
    while not done.wait(POLL_SECONDS):
        if os.getppid() != parent:
            log.warning("job %s: the server is gone; its driver exits", job_id)
            os._exit(1)
        try:
            row = store.get(job_id)
        except Exception as exc:  # a busy store: ask again
            log.debug("job %s: state not read: %s", job_id, exc)
            continue
        if row is None or row.state in FINAL_STATES:
            stop.set()
            return


def drive(
    store_path: str,
    job_id: str,
    dask_scheduler: str,
    max_time_limit: float,
    limits: Limits,
    slice_seconds: float | None = None,
) -> None:
    """The driver process's main: solve the job's problem as cubes from its journal and commit
    the one result. Any error of the solve becomes the item's error (the job SUCCEEDS with one
    failed item, as a batch item's would)."""
    store = JobStore(store_path, attach=True)
    run = uuid.uuid4().hex[:12]
    stop, done = threading.Event(), threading.Event()
    threading.Thread(target=_watch_cancel, args=(store, job_id, stop, done), daemon=True).start()
    started = time.perf_counter()
    item = jobs_pb2.JobItemResult(index=0)
    try:
        row = store.get(job_id)
        request = jobs_pb2.SubmitJobRequest.FromString(row.spec)
        problem = convert.parse_problem(request.problems.problems[0], limits)
        params = convert.parse_parameters(request.parameters)
        limit = max_time_limit
        if params.time_limit_seconds:
            limit = min(limit, params.time_limit_seconds)
        # Each run of the driver gets the job's whole limit: the cubes it restores cost nothing.
        params = dataclasses.replace(params, time_limit_seconds=limit)
        journal = StoreJournal(store, job_id, run)
        outcome = solve_cubes_on(
            dask_scheduler,
            problem,
            params,
            stop=stop,
            progress=journal.progress,
            slice_seconds=slice_seconds,
            journal=journal,
        )
        item.solve_result.CopyFrom(convert.distributed_result_to_proto(outcome))
        ok = True
    except Exception as exc:  # the item's error, never a silent death of the driver
        log.warning("distributed job %s failed: %s", job_id, exc)
        item.error = f"{type(exc).__name__}: {exc}"
        ok = False
    finally:
        done.set()
    set_item_seconds(item, time.perf_counter() - started)
    # A cancelled job takes no result (add_results refuses it): it keeps its journal.
    store.add_results(job_id, [(0, ok, item.SerializeToString())])
    store.close()


def start_driver(
    store_path: str,
    job_id: str,
    dask_scheduler: str,
    max_time_limit: float,
    limits: Limits,
    slice_seconds: float | None = None,
):
    """The driver's process (spawned: the server's threads and Dask client are not forked)."""
    process = mp.get_context("spawn").Process(
        target=drive,
        args=(store_path, job_id, dask_scheduler, max_time_limit, limits, slice_seconds),
        name=f"prunecert-cubes-{job_id}",
        daemon=True,
    )
    process.start()
    return process
