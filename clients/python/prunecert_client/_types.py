"""The client's values: solve events, certificates, server facts and jobs, built from the
prunecert.v1 messages with solver.io.convert (the core's dataclasses inside)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from prunecert.v1 import jobs_pb2
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.core.validate import NO_LIMITS
from solver.io import convert


@dataclass(frozen=True)
class Started:
    """The solve has a solver process (a stream's first event): ``solve_id`` names it for
    ``Client.stop_solve``."""

    elapsed_seconds: float
    solve_id: str
    queue_wait_seconds: float


@dataclass(frozen=True)
class Incumbent:
    """A new best mask as the solver sees it: NOT certified. ``solver_error`` is the solver's
    floating-point estimate on the points it uses at that moment (a subset of the domain with
    row generation), so it can be below the mask's exact error and below the final result's
    certified error; only ``Finished.result`` is certified."""

    elapsed_seconds: float
    kept: int
    solver_error: float

    certified = False  # never: the solver's own figures (class attribute, not a field)

    @property
    def error(self) -> float:
        """The same as ``solver_error`` (its name before it said whose figure it is)."""
        return self.solver_error


@dataclass(frozen=True)
class BoundUpdate:
    elapsed_seconds: float
    bound: float


@dataclass(frozen=True)
class LogLine:
    elapsed_seconds: float
    text: str


@dataclass(frozen=True)
class Finished:
    """The stream's last event: the certified result; for a distributed solve
    (SolveParameters.distributed) also its cubes, each with its rigorous bound."""

    elapsed_seconds: float
    result: SolveResult
    distributed: convert.DistributedFigures | None = None


SolveEvent = Started | Incumbent | BoundUpdate | LogLine | Finished


@dataclass(frozen=True)
class CertifyResult:
    kept: int
    error: float  # exact, rounded up
    optimum: SolveResult | None  # with compare_with_optimum
    gap: float
    ratio: float


@dataclass(frozen=True)
class BackendInfo:
    name: str
    version: str
    supports_early_stop: bool


@dataclass(frozen=True)
class ServerInfo:
    version: str
    backends: list[BackendInfo]
    max_units: int
    max_input_dim: int
    max_points: int
    max_weight_candidates: int
    max_concurrent_solves: int
    max_time_limit_seconds: float
    requires_token: bool


@dataclass(frozen=True)
class JobCubes:
    """A distributed job's progress (Job.cubes): cubes finished and journalled, the best
    certified error and the current phase's global bound so far, the driver's latest line."""

    finished: int
    error: float | None
    bound: float | None
    message: str


@dataclass(frozen=True)
class Job:
    id: str
    state: str  # JOB_STATE_QUEUED, _RUNNING, _SUCCEEDED, _FAILED, _CANCELLED
    request_id: str
    kind: str  # "solve" or "certify"
    total_items: int
    succeeded_items: int
    failed_items: int
    running_items: int
    created_time: float
    started_time: float
    finished_time: float
    detail: str
    cubes: JobCubes | None = None  # a distributed job's (one problem, parameters.distributed)

    @property
    def finished_items(self) -> int:
        return self.succeeded_items + self.failed_items

    def to_message(self) -> jobs_pb2.Job:
        """The prunecert.v1.Job message (as `batch status --json` prints it)."""
        values = dataclasses.asdict(self)
        values["state"] = jobs_pb2.JobState.Value(self.state)
        cubes = values.pop("cubes")
        msg = jobs_pb2.Job(**values)
        if cubes is not None:
            msg.cubes.finished = cubes["finished"]
            msg.cubes.message = cubes["message"]
            for name in ("error", "bound"):
                if cubes[name] is not None:
                    setattr(msg.cubes, name, cubes[name])
        return msg

    @property
    def done(self) -> bool:
        return self.state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


@dataclass(frozen=True)
class JobItem:
    """One finished item: its problem and its result (SolveResult or CertifyResult) or error."""

    index: int
    problem: Problem | None
    result: SolveResult | CertifyResult | None
    error: str
    seconds: float


@dataclass(frozen=True)
class JobEvent:
    job: Job
    item: JobItem | None


def job_from_message(msg) -> Job:
    values = {f.name: getattr(msg, f.name) for f in dataclasses.fields(Job) if f.name != "cubes"}
    values["state"] = jobs_pb2.JobState.Name(msg.state)
    cubes = None
    if msg.HasField("cubes"):
        c = msg.cubes
        cubes = JobCubes(
            finished=c.finished,
            error=c.error if c.HasField("error") else None,
            bound=c.bound if c.HasField("bound") else None,
            message=c.message,
        )
    return Job(**values, cubes=cubes)


def certify_result_from_message(reply) -> CertifyResult:
    return CertifyResult(
        kept=reply.kept,
        error=reply.error,
        optimum=convert.parse_result(reply.optimum) if reply.HasField("optimum") else None,
        gap=reply.gap,
        ratio=reply.ratio,
    )


def job_item_from_message(msg, with_problem: bool = True) -> JobItem:
    outcome = msg.WhichOneof("outcome")
    result: SolveResult | CertifyResult | None = None
    if outcome == "solve_result":
        result = convert.parse_result(msg.solve_result)
    elif outcome == "certify_result":
        result = certify_result_from_message(msg.certify_result)
    problem = None
    if with_problem and msg.HasField("problem"):
        problem = convert.parse_problem(msg.problem, NO_LIMITS)  # the server's limits applied
    return JobItem(msg.index, problem, result, msg.error, msg.seconds)


PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class Tls:
    """How the client speaks TLS; the CLI's flags in brackets.

    - ``Tls()``: verify the server against the system's CA roots [--tls] (grpc's default roots:
      the file named by GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when set, else those grpc ships);
    - ``Tls(ca_file="ca.pem")`` or ``Tls(root_certificate=pem_bytes)``: trust that CA, or that
      self-signed server certificate, instead [--tls-ca FILE];
    - ``server_name``: the name checked against the certificate, when it is not the host
      connected to, e.g. "localhost" for a localhost certificate reached at 127.0.0.1
      [--tls-server-name NAME].
    """

    root_certificate: bytes | None = None
    server_name: str | None = None
    ca_file: str | Path | None = None

    def __post_init__(self) -> None:
        if self.root_certificate is not None and self.ca_file is not None:
            raise ValueError("Tls: give root_certificate or ca_file, not both")

    @staticmethod
    def from_file(path: str | Path, server_name: str | None = None) -> Tls:
        """Trust the PEM certificate(s) in ``path``; OSError when it cannot be read, ValueError
        when it holds no PEM certificate."""
        return Tls(read_pem_certificates(path), server_name)

    def root_certificates(self) -> bytes | None:
        """The PEM to trust, None for the system's roots (``ca_file`` is read here)."""
        if self.ca_file is not None:
            return read_pem_certificates(self.ca_file)
        return self.root_certificate


def read_pem_certificates(path: str | Path) -> bytes:
    """The bytes of a PEM certificate file. grpc takes any bytes as roots and only fails at the
    handshake, with nothing naming the file, so a file that is not PEM is refused here."""
    data = Path(path).read_bytes()
    if PEM_CERTIFICATE not in data:
        raise ValueError(f"{path} holds no PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
    return data
