"""The job store: one SQLite file in WAL mode. Each item's result is committed as soon as it
arrives; INSERT OR IGNORE on (job, index) makes a re-run item never appear twice."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from prunecert.v1 import jobs_pb2
from solver.core.errors import ConfigurationError, FieldViolation
from solver.jobs.times import fill_job_times

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec BLOB NOT NULL,
    total INTEGER NOT NULL,
    state INTEGER NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL NOT NULL DEFAULT 0,
    finished REAL NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_request ON jobs(owner, request_id) WHERE request_id != '';
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE(job_id, idx)
);
-- A distributed job's journal (solver.jobs.cubes): one row per finished cube or published
-- incumbent of a phase, committed as it happens; ``run`` names the driver run that wrote it.
-- No uniqueness on (phase, decisions): an open leaf solved again after a restart adds a row,
-- and the last one read is the one restored.
CREATE TABLE IF NOT EXISTS cubes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    run TEXT NOT NULL,
    recorded REAL NOT NULL,
    cube INTEGER NOT NULL,  -- 1: a finished cube, 0: an incumbent published
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cubes_by_job ON cubes(job_id, phase, seq);
-- A distributed job's latest progress (the driver's, overwritten): shown by GetJob/WatchJob.
CREATE TABLE IF NOT EXISTS cube_progress (
    job_id TEXT PRIMARY KEY,
    progress TEXT NOT NULL
);
"""

# Two processes write the store (the server and a distributed job's driver): a writer waits
# this long for the other's lock before it fails.
BUSY_SECONDS = 30.0

FINAL_STATES = (
    jobs_pb2.JOB_STATE_SUCCEEDED,
    jobs_pb2.JOB_STATE_FAILED,
    jobs_pb2.JOB_STATE_CANCELLED,
)


@dataclass
class JobRow:
    seq: int
    id: str
    owner: str
    request_id: str
    kind: str
    spec: bytes
    total: int
    state: int
    succeeded: int
    failed: int
    created: float
    started: float
    finished: float
    detail: str

    def to_proto(self, running: int = 0) -> jobs_pb2.Job:
        """The Job message, its times both as Timestamps and as the deprecated epoch doubles."""
        job = jobs_pb2.Job(
            id=self.id,
            state=self.state,
            request_id=self.request_id,
            kind=self.kind,
            total_items=self.total,
            succeeded_items=self.succeeded,
            failed_items=self.failed,
            running_items=running,
            created_time=self.created,
            started_time=self.started,
            finished_time=self.finished,
            detail=self.detail,
        )
        return fill_job_times(job)


_COLUMNS = "seq, id, owner, request_id, kind, spec, total, state, succeeded, failed, created, started, finished, detail"


def _unusable(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        FieldViolation(
            "data_dir",
            f"cannot use the job store {path}: {why}; it is left untouched",
            "--data-dir",
        )
    )


class JobStore:
    def __init__(self, path: str | Path, attach: bool = False):
        """Open (or create) the store, refusing one it cannot read or write in full.

        ``attach``: a second connection to a store the server has opened and checked (a
        distributed job's driver process, solver.jobs.cubes): no checks, no schema, and it
        waits up to BUSY_SECONDS for the other connection's write lock.

        A store that exists is checked before use (issue 15): a zero-length file (SQLite would
        take it for a new, empty store and every job would be forgotten), a file that is not
        SQLite, a failing ``PRAGMA quick_check`` or a store that cannot be written are each a
        ConfigurationError naming --data-dir, and the file is never overwritten.
        """
        self.path = Path(path)
        if attach:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_SECONDS
            )
            self._lock = threading.Lock()
            return
        existed = self.path.exists()
        if existed and self.path.is_file() and self.path.stat().st_size == 0:
            raise _unusable(self.path, "the file is empty (0 bytes), not a job store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_SECONDS
            )
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(self.path, str(exc)) from exc
        try:
            if existed:
                self._quick_check()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            # A real write, so that a store that cannot be written (e.g. opened read-only by
            # SQLite's fallback) is refused now, not at the first job's commit.
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?)", (time.time(),)
            )
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(self.path, str(exc)) from exc
        except ConfigurationError:
            self._db.close()
            raise
        self._lock = threading.Lock()

    def _quick_check(self) -> None:
        try:
            rows = [r[0] for r in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed"
            rows = [str(exc)]
        if rows != ["ok"]:
            raise _unusable(self.path, f"integrity check failed: {rows[0]}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, where: str, args: tuple) -> JobRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE {where}", args).fetchone()
        return JobRow(*row) if row else None

    # -- jobs ---------------------------------------------------------------------------------
    def create(
        self, owner: str, request_id: str, kind: str, spec: bytes, total: int
    ) -> tuple[JobRow, bool]:
        """(job, created): an existing job with the same (owner, request_id) is returned as is."""
        with self._lock:
            if request_id:
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE owner = ? AND request_id = ?",
                    (owner, request_id),
                ).fetchone()
                if row:
                    return JobRow(*row), False
            job_id = uuid.uuid4().hex[:16]
            self._db.execute(
                "INSERT INTO jobs (id, owner, request_id, kind, spec, total, state, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    owner,
                    request_id,
                    kind,
                    spec,
                    total,
                    jobs_pb2.JOB_STATE_QUEUED,
                    time.time(),
                ),
            )
        row = self.get(job_id)
        assert row is not None
        return row, True

    def get(self, job_id: str, owner: str | None = None) -> JobRow | None:
        if owner is None:
            return self._one("id = ?", (job_id,))
        return self._one("id = ? AND owner = ?", (job_id, owner))

    def list(self, owner: str, state: int, after_seq: int | None, limit: int) -> list[JobRow]:
        """Newest first, seq below after_seq."""
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE owner = ?"
        args: list = [owner]
        if state:
            sql += " AND state = ?"
            args.append(state)
        if after_seq is not None:
            sql += " AND seq < ?"
            args.append(after_seq)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            return [JobRow(*r) for r in self._db.execute(sql, args).fetchall()]

    def unfinished(self) -> list[JobRow]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN (?, ?) ORDER BY seq",
                (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING),
            ).fetchall()
        return [JobRow(*r) for r in rows]

    def set_state(self, job_id: str, state: int, detail: str = "") -> None:
        now = time.time()
        with self._lock:
            if state == jobs_pb2.JOB_STATE_RUNNING:
                self._db.execute(
                    "UPDATE jobs SET state = ?, started = CASE WHEN started = 0 THEN ? ELSE started END "
                    "WHERE id = ? AND state IN (?, ?)",
                    (state, now, job_id, jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING),
                )
            else:
                self._db.execute(
                    "UPDATE jobs SET state = ?, finished = ?, detail = ? WHERE id = ? AND state NOT IN (?, ?, ?)",
                    (state, now, detail, job_id, *FINAL_STATES),
                )

    # -- results ------------------------------------------------------------------------------
    def add_results(self, job_id: str, results: list[tuple[int, bool, bytes]]) -> int:
        """Commit results (index, ok, JobItemResult bytes); returns how many were new. A
        cancelled job takes no more results: what it holds is what was done before CancelJob."""
        added = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (state,) = self._db.execute(
                    "SELECT state FROM jobs WHERE id = ?", (job_id,)
                ).fetchone() or (None,)
                if state == jobs_pb2.JOB_STATE_CANCELLED:
                    results = []
                for idx, ok, payload in results:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO results (job_id, idx, ok, payload) VALUES (?, ?, ?, ?)",
                        (job_id, idx, int(ok), payload),
                    )
                    if cur.rowcount:
                        added += 1
                        column = "succeeded" if ok else "failed"
                        self._db.execute(
                            f"UPDATE jobs SET {column} = {column} + 1 WHERE id = ?", (job_id,)
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return added

    def done_indices(self, job_id: str) -> set[int]:
        with self._lock:
            return {
                r[0]
                for r in self._db.execute("SELECT idx FROM results WHERE job_id = ?", (job_id,))
            }

    def results(self, job_id: str, offset: int, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Finished items with index >= offset, in index order."""
        with self._lock:
            return self._db.execute(
                "SELECT idx, payload FROM results WHERE job_id = ? AND idx >= ? ORDER BY idx LIMIT ?",
                (job_id, offset, limit),
            ).fetchall()

    def results_since(
        self, job_id: str, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, int, bytes]]:
        """(seq, index, payload) of results committed after after_seq, in commit order."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, idx, payload FROM results WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (job_id, after_seq, limit),
            ).fetchall()

    # -- a distributed job's journal (solver.jobs.cubes) ---------------------------------------
    def add_cube(self, job_id: str, phase: str, run: str, cube: bool, entry: str) -> None:
        """Commit one journal entry (JSON) of ``phase``; refused quietly once the job is final:
        a cancelled job keeps what it had."""
        with self._lock:
            self._db.execute(
                "INSERT INTO cubes (job_id, phase, run, recorded, cube, entry) "
                "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM jobs WHERE id = ? AND state NOT IN (?, ?, ?))",
                (job_id, phase, run, time.time(), int(cube), entry, job_id, *FINAL_STATES),
            )

    def cubes(
        self, job_id: str, phase: str | None = None
    ) -> list[tuple[str, str, float, bool, str]]:
        """(phase, run, recorded, is a cube, entry) of the job's journal (one phase's), in
        commit order."""
        sql = "SELECT phase, run, recorded, cube, entry FROM cubes WHERE job_id = ?"
        args: tuple = (job_id,)
        if phase is not None:
            sql += " AND phase = ?"
            args = (job_id, phase)
        with self._lock:
            return self._db.execute(sql + " ORDER BY seq", args).fetchall()

    def set_cube_progress(self, job_id: str, progress: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO cube_progress (job_id, progress) VALUES (?, ?)",
                (job_id, progress),
            )

    def cube_progress(self, job_id: str) -> tuple[int, str | None]:
        """(journalled cube entries, the latest progress JSON or None)."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM cubes WHERE job_id = ? AND cube = 1",
                (job_id,),
            ).fetchone()
            row = self._db.execute(
                "SELECT progress FROM cube_progress WHERE job_id = ?", (job_id,)
            ).fetchone()
        return count, row[0] if row else None
