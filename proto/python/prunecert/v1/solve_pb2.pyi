from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContinuousMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTINUOUS_MODE_UNSPECIFIED: _ClassVar[ContinuousMode]
    CONTINUOUS_MODE_EVALUATE: _ClassVar[ContinuousMode]
    CONTINUOUS_MODE_OPTIMIZE: _ClassVar[ContinuousMode]

class SolveStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOLVE_STATUS_UNSPECIFIED: _ClassVar[SolveStatus]
    SOLVE_STATUS_OPTIMAL: _ClassVar[SolveStatus]
    SOLVE_STATUS_FEASIBLE: _ClassVar[SolveStatus]
    SOLVE_STATUS_INFEASIBLE: _ClassVar[SolveStatus]
    SOLVE_STATUS_NO_SOLUTION: _ClassVar[SolveStatus]
    SOLVE_STATUS_CANCELLED: _ClassVar[SolveStatus]
CONTINUOUS_MODE_UNSPECIFIED: ContinuousMode
CONTINUOUS_MODE_EVALUATE: ContinuousMode
CONTINUOUS_MODE_OPTIMIZE: ContinuousMode
SOLVE_STATUS_UNSPECIFIED: SolveStatus
SOLVE_STATUS_OPTIMAL: SolveStatus
SOLVE_STATUS_FEASIBLE: SolveStatus
SOLVE_STATUS_INFEASIBLE: SolveStatus
SOLVE_STATUS_NO_SOLUTION: SolveStatus
SOLVE_STATUS_CANCELLED: SolveStatus

class SolveParameters(_message.Message):
    __slots__ = ("time_limit_seconds", "backend", "threads", "seed", "tolerance", "row_generation", "drop_dominated_points", "cross_check", "continuous", "heuristic", "heuristic_start", "sparsest", "distributed")
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    ROW_GENERATION_FIELD_NUMBER: _ClassVar[int]
    DROP_DOMINATED_POINTS_FIELD_NUMBER: _ClassVar[int]
    CROSS_CHECK_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    HEURISTIC_FIELD_NUMBER: _ClassVar[int]
    HEURISTIC_START_FIELD_NUMBER: _ClassVar[int]
    SPARSEST_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    time_limit_seconds: float
    backend: str
    threads: int
    seed: int
    tolerance: float
    row_generation: bool
    drop_dominated_points: bool
    cross_check: str
    continuous: ContinuousMode
    heuristic: str
    heuristic_start: bool
    sparsest: bool
    distributed: DistributedParameters
    def __init__(self, time_limit_seconds: _Optional[float] = ..., backend: _Optional[str] = ..., threads: _Optional[int] = ..., seed: _Optional[int] = ..., tolerance: _Optional[float] = ..., row_generation: _Optional[bool] = ..., drop_dominated_points: _Optional[bool] = ..., cross_check: _Optional[str] = ..., continuous: _Optional[_Union[ContinuousMode, str]] = ..., heuristic: _Optional[str] = ..., heuristic_start: _Optional[bool] = ..., sparsest: _Optional[bool] = ..., distributed: _Optional[_Union[DistributedParameters, _Mapping]] = ...) -> None: ...

class DistributedParameters(_message.Message):
    __slots__ = ("cubes", "cube_rule", "cube_threads")
    CUBES_FIELD_NUMBER: _ClassVar[int]
    CUBE_RULE_FIELD_NUMBER: _ClassVar[int]
    CUBE_THREADS_FIELD_NUMBER: _ClassVar[int]
    cubes: int
    cube_rule: str
    cube_threads: int
    def __init__(self, cubes: _Optional[int] = ..., cube_rule: _Optional[str] = ..., cube_threads: _Optional[int] = ...) -> None: ...

class ContinuousResult(_message.Message):
    __slots__ = ("error", "worst_point", "lower_bound", "optimal", "rounds", "detail", "grid_error")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WORST_POINT_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    OPTIMAL_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    GRID_ERROR_FIELD_NUMBER: _ClassVar[int]
    error: float
    worst_point: _containers.RepeatedScalarFieldContainer[float]
    lower_bound: float
    optimal: bool
    rounds: _containers.RepeatedCompositeFieldContainer[ContinuousRound]
    detail: str
    grid_error: float
    def __init__(self, error: _Optional[float] = ..., worst_point: _Optional[_Iterable[float]] = ..., lower_bound: _Optional[float] = ..., optimal: _Optional[bool] = ..., rounds: _Optional[_Iterable[_Union[ContinuousRound, _Mapping]]] = ..., detail: _Optional[str] = ..., grid_error: _Optional[float] = ...) -> None: ...

class ContinuousRound(_message.Message):
    __slots__ = ("points", "lower_bound", "upper_bound", "seconds")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    points: int
    lower_bound: float
    upper_bound: float
    seconds: float
    def __init__(self, points: _Optional[int] = ..., lower_bound: _Optional[float] = ..., upper_bound: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class Mask(_message.Message):
    __slots__ = ("neurons", "hidden_weights", "output_weights", "outputs")
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    neurons: _containers.RepeatedScalarFieldContainer[bool]
    hidden_weights: _containers.RepeatedScalarFieldContainer[bool]
    output_weights: _containers.RepeatedScalarFieldContainer[bool]
    outputs: int
    def __init__(self, neurons: _Optional[_Iterable[bool]] = ..., hidden_weights: _Optional[_Iterable[bool]] = ..., output_weights: _Optional[_Iterable[bool]] = ..., outputs: _Optional[int] = ...) -> None: ...

class Solution(_message.Message):
    __slots__ = ("mask", "kept", "error")
    MASK_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    mask: Mask
    kept: int
    error: float
    def __init__(self, mask: _Optional[_Union[Mask, _Mapping]] = ..., kept: _Optional[int] = ..., error: _Optional[float] = ...) -> None: ...

class FrontierPoint(_message.Message):
    __slots__ = ("kept", "error", "mask", "error_bound", "certified")
    KEPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_BOUND_FIELD_NUMBER: _ClassVar[int]
    CERTIFIED_FIELD_NUMBER: _ClassVar[int]
    kept: int
    error: float
    mask: Mask
    error_bound: float
    certified: bool
    def __init__(self, kept: _Optional[int] = ..., error: _Optional[float] = ..., mask: _Optional[_Union[Mask, _Mapping]] = ..., error_bound: _Optional[float] = ..., certified: _Optional[bool] = ...) -> None: ...

class SolveStats(_message.Message):
    __slots__ = ("wall_time_seconds", "backend", "formulation", "points_used", "points_total", "active_points", "rounds", "binary_variables", "scale", "solver_calls", "queue_wait_seconds")
    WALL_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    FORMULATION_FIELD_NUMBER: _ClassVar[int]
    POINTS_USED_FIELD_NUMBER: _ClassVar[int]
    POINTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_POINTS_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    BINARY_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_CALLS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    wall_time_seconds: float
    backend: str
    formulation: str
    points_used: int
    points_total: int
    active_points: int
    rounds: int
    binary_variables: int
    scale: float
    solver_calls: int
    queue_wait_seconds: float
    def __init__(self, wall_time_seconds: _Optional[float] = ..., backend: _Optional[str] = ..., formulation: _Optional[str] = ..., points_used: _Optional[int] = ..., points_total: _Optional[int] = ..., active_points: _Optional[int] = ..., rounds: _Optional[int] = ..., binary_variables: _Optional[int] = ..., scale: _Optional[float] = ..., solver_calls: _Optional[int] = ..., queue_wait_seconds: _Optional[float] = ...) -> None: ...

class SolveResult(_message.Message):
    __slots__ = ("status", "solution", "objective_bound", "tolerance", "frontier", "stats", "detail", "cross_check", "continuous", "distributed")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLUTION_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_BOUND_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    FRONTIER_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CROSS_CHECK_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    status: SolveStatus
    solution: Solution
    objective_bound: float
    tolerance: float
    frontier: _containers.RepeatedCompositeFieldContainer[FrontierPoint]
    stats: SolveStats
    detail: str
    cross_check: CrossCheck
    continuous: ContinuousResult
    distributed: DistributedRun
    def __init__(self, status: _Optional[_Union[SolveStatus, str]] = ..., solution: _Optional[_Union[Solution, _Mapping]] = ..., objective_bound: _Optional[float] = ..., tolerance: _Optional[float] = ..., frontier: _Optional[_Iterable[_Union[FrontierPoint, _Mapping]]] = ..., stats: _Optional[_Union[SolveStats, _Mapping]] = ..., detail: _Optional[str] = ..., cross_check: _Optional[_Union[CrossCheck, _Mapping]] = ..., continuous: _Optional[_Union[ContinuousResult, _Mapping]] = ..., distributed: _Optional[_Union[DistributedRun, _Mapping]] = ...) -> None: ...

class DistributedRun(_message.Message):
    __slots__ = ("cube_rule", "split_units", "workers", "cubes", "cpu_seconds")
    CUBE_RULE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_UNITS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    CUBES_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    cube_rule: str
    split_units: _containers.RepeatedScalarFieldContainer[int]
    workers: int
    cubes: _containers.RepeatedCompositeFieldContainer[CubeReport]
    cpu_seconds: float
    def __init__(self, cube_rule: _Optional[str] = ..., split_units: _Optional[_Iterable[int]] = ..., workers: _Optional[int] = ..., cubes: _Optional[_Iterable[_Union[CubeReport, _Mapping]]] = ..., cpu_seconds: _Optional[float] = ...) -> None: ...

class CubeDecision(_message.Message):
    __slots__ = ("unit", "live")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    unit: int
    live: bool
    def __init__(self, unit: _Optional[int] = ..., live: _Optional[bool] = ...) -> None: ...

class CubeReport(_message.Message):
    __slots__ = ("decisions", "state", "bound", "error", "cutoff", "seconds", "cpu_seconds", "phase", "kept", "late_cutoff")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    LATE_CUTOFF_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[CubeDecision]
    state: str
    bound: float
    error: float
    cutoff: float
    seconds: float
    cpu_seconds: float
    phase: str
    kept: int
    late_cutoff: bool
    def __init__(self, decisions: _Optional[_Iterable[_Union[CubeDecision, _Mapping]]] = ..., state: _Optional[str] = ..., bound: _Optional[float] = ..., error: _Optional[float] = ..., cutoff: _Optional[float] = ..., seconds: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., phase: _Optional[str] = ..., kept: _Optional[int] = ..., late_cutoff: _Optional[bool] = ...) -> None: ...

class CrossCheck(_message.Message):
    __slots__ = ("backend", "status", "solution", "objective_bound", "agrees", "detail")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLUTION_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_BOUND_FIELD_NUMBER: _ClassVar[int]
    AGREES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    backend: str
    status: SolveStatus
    solution: Solution
    objective_bound: float
    agrees: bool
    detail: str
    def __init__(self, backend: _Optional[str] = ..., status: _Optional[_Union[SolveStatus, str]] = ..., solution: _Optional[_Union[Solution, _Mapping]] = ..., objective_bound: _Optional[float] = ..., agrees: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class CertifyResult(_message.Message):
    __slots__ = ("kept", "error", "optimum", "gap", "ratio")
    KEPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OPTIMUM_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    kept: int
    error: float
    optimum: SolveResult
    gap: float
    ratio: float
    def __init__(self, kept: _Optional[int] = ..., error: _Optional[float] = ..., optimum: _Optional[_Union[SolveResult, _Mapping]] = ..., gap: _Optional[float] = ..., ratio: _Optional[float] = ...) -> None: ...
