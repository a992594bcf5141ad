from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Activation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_UNSPECIFIED: _ClassVar[Activation]
    ACTIVATION_IDENTITY: _ClassVar[Activation]
    ACTIVATION_RELU: _ClassVar[Activation]

class PruningMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRUNING_MODE_UNSPECIFIED: _ClassVar[PruningMode]
    PRUNING_MODE_NEURONS: _ClassVar[PruningMode]
    PRUNING_MODE_WEIGHTS: _ClassVar[PruningMode]
ACTIVATION_UNSPECIFIED: Activation
ACTIVATION_IDENTITY: Activation
ACTIVATION_RELU: Activation
PRUNING_MODE_UNSPECIFIED: PruningMode
PRUNING_MODE_NEURONS: PruningMode
PRUNING_MODE_WEIGHTS: PruningMode

class Matrix(_message.Message):
    __slots__ = ("rows", "cols", "values")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class TwoLayerNetwork(_message.Message):
    __slots__ = ("hidden_weights", "hidden_biases", "output_weights", "output_bias", "output_activation", "outputs", "output_biases")
    HIDDEN_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_BIASES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BIAS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BIASES_FIELD_NUMBER: _ClassVar[int]
    hidden_weights: Matrix
    hidden_biases: _containers.RepeatedScalarFieldContainer[float]
    output_weights: _containers.RepeatedScalarFieldContainer[float]
    output_bias: float
    output_activation: Activation
    outputs: int
    output_biases: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, hidden_weights: _Optional[_Union[Matrix, _Mapping]] = ..., hidden_biases: _Optional[_Iterable[float]] = ..., output_weights: _Optional[_Iterable[float]] = ..., output_bias: _Optional[float] = ..., output_activation: _Optional[_Union[Activation, str]] = ..., outputs: _Optional[int] = ..., output_biases: _Optional[_Iterable[float]] = ...) -> None: ...

class Neuron(_message.Message):
    __slots__ = ("weights", "bias", "activation")
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.RepeatedScalarFieldContainer[float]
    bias: float
    activation: Activation
    def __init__(self, weights: _Optional[_Iterable[float]] = ..., bias: _Optional[float] = ..., activation: _Optional[_Union[Activation, str]] = ...) -> None: ...

class Samples(_message.Message):
    __slots__ = ("points", "values")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    points: Matrix
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, points: _Optional[_Union[Matrix, _Mapping]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("neuron", "network", "samples")
    NEURON_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    neuron: Neuron
    network: TwoLayerNetwork
    samples: Samples
    def __init__(self, neuron: _Optional[_Union[Neuron, _Mapping]] = ..., network: _Optional[_Union[TwoLayerNetwork, _Mapping]] = ..., samples: _Optional[_Union[Samples, _Mapping]] = ...) -> None: ...

class BoxGrid(_message.Message):
    __slots__ = ("low", "high", "points_per_axis")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    POINTS_PER_AXIS_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    points_per_axis: int
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ..., points_per_axis: _Optional[int] = ...) -> None: ...

class Domain(_message.Message):
    __slots__ = ("box_grid", "points")
    BOX_GRID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    box_grid: BoxGrid
    points: Matrix
    def __init__(self, box_grid: _Optional[_Union[BoxGrid, _Mapping]] = ..., points: _Optional[_Union[Matrix, _Mapping]] = ...) -> None: ...

class MinError(_message.Message):
    __slots__ = ("max_kept",)
    MAX_KEPT_FIELD_NUMBER: _ClassVar[int]
    max_kept: int
    def __init__(self, max_kept: _Optional[int] = ...) -> None: ...

class MinKept(_message.Message):
    __slots__ = ("max_error",)
    MAX_ERROR_FIELD_NUMBER: _ClassVar[int]
    max_error: float
    def __init__(self, max_error: _Optional[float] = ...) -> None: ...

class Pareto(_message.Message):
    __slots__ = ("max_kept",)
    MAX_KEPT_FIELD_NUMBER: _ClassVar[int]
    max_kept: int
    def __init__(self, max_kept: _Optional[int] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("min_error", "min_kept", "pareto")
    MIN_ERROR_FIELD_NUMBER: _ClassVar[int]
    MIN_KEPT_FIELD_NUMBER: _ClassVar[int]
    PARETO_FIELD_NUMBER: _ClassVar[int]
    min_error: MinError
    min_kept: MinKept
    pareto: Pareto
    def __init__(self, min_error: _Optional[_Union[MinError, _Mapping]] = ..., min_kept: _Optional[_Union[MinKept, _Mapping]] = ..., pareto: _Optional[_Union[Pareto, _Mapping]] = ...) -> None: ...

class Problem(_message.Message):
    __slots__ = ("network", "target", "domain", "pruning", "objective")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PRUNING_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    network: TwoLayerNetwork
    target: Target
    domain: Domain
    pruning: PruningMode
    objective: Objective
    def __init__(self, network: _Optional[_Union[TwoLayerNetwork, _Mapping]] = ..., target: _Optional[_Union[Target, _Mapping]] = ..., domain: _Optional[_Union[Domain, _Mapping]] = ..., pruning: _Optional[_Union[PruningMode, str]] = ..., objective: _Optional[_Union[Objective, _Mapping]] = ...) -> None: ...
