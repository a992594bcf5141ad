from prunecert.v1 import problem_pb2 as _problem_pb2
from prunecert.v1 import solve_pb2 as _solve_pb2
from prunecert.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SolveRequest(_message.Message):
    __slots__ = ("problem", "parameters", "request_id")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    problem: _problem_pb2.Problem
    parameters: _solve_pb2.SolveParameters
    request_id: str
    def __init__(self, problem: _Optional[_Union[_problem_pb2.Problem, _Mapping]] = ..., parameters: _Optional[_Union[_solve_pb2.SolveParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Incumbent(_message.Message):
    __slots__ = ("kept", "error")
    KEPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    kept: int
    error: float
    def __init__(self, kept: _Optional[int] = ..., error: _Optional[float] = ...) -> None: ...

class SolveStarted(_message.Message):
    __slots__ = ("solve_id", "queue_wait_seconds")
    SOLVE_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    solve_id: str
    queue_wait_seconds: float
    def __init__(self, solve_id: _Optional[str] = ..., queue_wait_seconds: _Optional[float] = ...) -> None: ...

class SolveEvent(_message.Message):
    __slots__ = ("elapsed_seconds", "incumbent", "bound", "log", "result", "started")
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    elapsed_seconds: float
    incumbent: Incumbent
    bound: float
    log: str
    result: _solve_pb2.SolveResult
    started: SolveStarted
    def __init__(self, elapsed_seconds: _Optional[float] = ..., incumbent: _Optional[_Union[Incumbent, _Mapping]] = ..., bound: _Optional[float] = ..., log: _Optional[str] = ..., result: _Optional[_Union[_solve_pb2.SolveResult, _Mapping]] = ..., started: _Optional[_Union[SolveStarted, _Mapping]] = ...) -> None: ...

class StopSolveRequest(_message.Message):
    __slots__ = ("solve_id",)
    SOLVE_ID_FIELD_NUMBER: _ClassVar[int]
    solve_id: str
    def __init__(self, solve_id: _Optional[str] = ...) -> None: ...

class StopSolveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CertifyRequest(_message.Message):
    __slots__ = ("problem", "mask", "compare_with_optimum", "parameters", "request_id")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    COMPARE_WITH_OPTIMUM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    problem: _problem_pb2.Problem
    mask: _solve_pb2.Mask
    compare_with_optimum: bool
    parameters: _solve_pb2.SolveParameters
    request_id: str
    def __init__(self, problem: _Optional[_Union[_problem_pb2.Problem, _Mapping]] = ..., mask: _Optional[_Union[_solve_pb2.Mask, _Mapping]] = ..., compare_with_optimum: _Optional[bool] = ..., parameters: _Optional[_Union[_solve_pb2.SolveParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackendInfo(_message.Message):
    __slots__ = ("name", "version", "supports_early_stop")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_EARLY_STOP_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    supports_early_stop: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., supports_early_stop: _Optional[bool] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "backends", "max_units", "max_input_dim", "max_points", "max_weight_candidates", "max_concurrent_solves", "max_time_limit_seconds", "requires_token", "max_message_bytes", "busy_solves", "queued_solves", "queue_limit", "max_queue_wait_seconds", "mean_queue_wait_seconds", "recent_queue_wait_seconds", "queue_refusals")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    MAX_UNITS_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_DIM_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_WEIGHT_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_SOLVES_FIELD_NUMBER: _ClassVar[int]
    MAX_TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    BUSY_SOLVES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_SOLVES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RECENT_QUEUE_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_REFUSALS_FIELD_NUMBER: _ClassVar[int]
    version: str
    backends: _containers.RepeatedCompositeFieldContainer[BackendInfo]
    max_units: int
    max_input_dim: int
    max_points: int
    max_weight_candidates: int
    max_concurrent_solves: int
    max_time_limit_seconds: float
    requires_token: bool
    max_message_bytes: int
    busy_solves: int
    queued_solves: int
    queue_limit: int
    max_queue_wait_seconds: float
    mean_queue_wait_seconds: float
    recent_queue_wait_seconds: float
    queue_refusals: int
    def __init__(self, version: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[BackendInfo, _Mapping]]] = ..., max_units: _Optional[int] = ..., max_input_dim: _Optional[int] = ..., max_points: _Optional[int] = ..., max_weight_candidates: _Optional[int] = ..., max_concurrent_solves: _Optional[int] = ..., max_time_limit_seconds: _Optional[float] = ..., requires_token: _Optional[bool] = ..., max_message_bytes: _Optional[int] = ..., busy_solves: _Optional[int] = ..., queued_solves: _Optional[int] = ..., queue_limit: _Optional[int] = ..., max_queue_wait_seconds: _Optional[float] = ..., mean_queue_wait_seconds: _Optional[float] = ..., recent_queue_wait_seconds: _Optional[float] = ..., queue_refusals: _Optional[int] = ...) -> None: ...
