import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from prunecert.v1 import problem_pb2 as _problem_pb2
from prunecert.v1 import solve_pb2 as _solve_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class FamilySpec(_message.Message):
    __slots__ = ("generator", "d", "n", "seeds", "pruning", "objective", "points_per_axis", "count", "low", "high")
    GENERATOR_FIELD_NUMBER: _ClassVar[int]
    D_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    PRUNING_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    POINTS_PER_AXIS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    generator: str
    d: _containers.RepeatedScalarFieldContainer[int]
    n: _containers.RepeatedScalarFieldContainer[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    pruning: _containers.RepeatedScalarFieldContainer[_problem_pb2.PruningMode]
    objective: _problem_pb2.Objective
    points_per_axis: int
    count: int
    low: float
    high: float
    def __init__(self, generator: _Optional[str] = ..., d: _Optional[_Iterable[int]] = ..., n: _Optional[_Iterable[int]] = ..., seeds: _Optional[_Iterable[int]] = ..., pruning: _Optional[_Iterable[_Union[_problem_pb2.PruningMode, str]]] = ..., objective: _Optional[_Union[_problem_pb2.Objective, _Mapping]] = ..., points_per_axis: _Optional[int] = ..., count: _Optional[int] = ..., low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ProblemList(_message.Message):
    __slots__ = ("problems",)
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    problems: _containers.RepeatedCompositeFieldContainer[_problem_pb2.Problem]
    def __init__(self, problems: _Optional[_Iterable[_Union[_problem_pb2.Problem, _Mapping]]] = ...) -> None: ...

class CertifyItem(_message.Message):
    __slots__ = ("problem", "mask")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    problem: _problem_pb2.Problem
    mask: _solve_pb2.Mask
    def __init__(self, problem: _Optional[_Union[_problem_pb2.Problem, _Mapping]] = ..., mask: _Optional[_Union[_solve_pb2.Mask, _Mapping]] = ...) -> None: ...

class CertifyList(_message.Message):
    __slots__ = ("items", "compare_with_optimum")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COMPARE_WITH_OPTIMUM_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[CertifyItem]
    compare_with_optimum: bool
    def __init__(self, items: _Optional[_Iterable[_Union[CertifyItem, _Mapping]]] = ..., compare_with_optimum: _Optional[bool] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("request_id", "problems", "family", "certify", "parameters")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    CERTIFY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    problems: ProblemList
    family: FamilySpec
    certify: CertifyList
    parameters: _solve_pb2.SolveParameters
    def __init__(self, request_id: _Optional[str] = ..., problems: _Optional[_Union[ProblemList, _Mapping]] = ..., family: _Optional[_Union[FamilySpec, _Mapping]] = ..., certify: _Optional[_Union[CertifyList, _Mapping]] = ..., parameters: _Optional[_Union[_solve_pb2.SolveParameters, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "state", "request_id", "kind", "total_items", "succeeded_items", "failed_items", "running_items", "created_time", "started_time", "finished_time", "detail", "created", "started", "finished", "cubes")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ITEMS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FAILED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    STARTED_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISHED_TIME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    CUBES_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: JobState
    request_id: str
    kind: str
    total_items: int
    succeeded_items: int
    failed_items: int
    running_items: int
    created_time: float
    started_time: float
    finished_time: float
    detail: str
    created: _timestamp_pb2.Timestamp
    started: _timestamp_pb2.Timestamp
    finished: _timestamp_pb2.Timestamp
    cubes: CubeProgress
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., request_id: _Optional[str] = ..., kind: _Optional[str] = ..., total_items: _Optional[int] = ..., succeeded_items: _Optional[int] = ..., failed_items: _Optional[int] = ..., running_items: _Optional[int] = ..., created_time: _Optional[float] = ..., started_time: _Optional[float] = ..., finished_time: _Optional[float] = ..., detail: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cubes: _Optional[_Union[CubeProgress, _Mapping]] = ...) -> None: ...

class CubeProgress(_message.Message):
    __slots__ = ("finished", "error", "bound", "message")
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    finished: int
    error: float
    bound: float
    message: str
    def __init__(self, finished: _Optional[int] = ..., error: _Optional[float] = ..., bound: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class ItemOrigin(_message.Message):
    __slots__ = ("d", "n", "pruning", "full_kept", "seed", "instance")
    D_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    PRUNING_FIELD_NUMBER: _ClassVar[int]
    FULL_KEPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    d: int
    n: int
    pruning: _problem_pb2.PruningMode
    full_kept: int
    seed: int
    instance: int
    def __init__(self, d: _Optional[int] = ..., n: _Optional[int] = ..., pruning: _Optional[_Union[_problem_pb2.PruningMode, str]] = ..., full_kept: _Optional[int] = ..., seed: _Optional[int] = ..., instance: _Optional[int] = ...) -> None: ...

class JobItemResult(_message.Message):
    __slots__ = ("index", "problem", "solve_result", "certify_result", "error", "seconds", "duration", "origin")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SOLVE_RESULT_FIELD_NUMBER: _ClassVar[int]
    CERTIFY_RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    index: int
    problem: _problem_pb2.Problem
    solve_result: _solve_pb2.SolveResult
    certify_result: _solve_pb2.CertifyResult
    error: str
    seconds: float
    duration: _duration_pb2.Duration
    origin: ItemOrigin
    def __init__(self, index: _Optional[int] = ..., problem: _Optional[_Union[_problem_pb2.Problem, _Mapping]] = ..., solve_result: _Optional[_Union[_solve_pb2.SolveResult, _Mapping]] = ..., certify_result: _Optional[_Union[_solve_pb2.CertifyResult, _Mapping]] = ..., error: _Optional[str] = ..., seconds: _Optional[float] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., origin: _Optional[_Union[ItemOrigin, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: JobState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job", "item")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    job: Job
    item: JobItemResult
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., item: _Optional[_Union[JobItemResult, _Mapping]] = ...) -> None: ...

class GetJobResultsRequest(_message.Message):
    __slots__ = ("id", "offset")
    ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    id: str
    offset: int
    def __init__(self, id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...
