"""PruneCert: certified optimal pruning of small two-layer ReLU networks.

The public Python API. Everything a user needs is importable from here::

    from solver import MinError, PruningMode, paper_problem, solve
    result = solve(paper_problem(2, 24, 1, PruningMode.WEIGHTS, MinError()))

The core values (problem, parameters, results, errors) load eagerly; the engine, the exact
certificate, the generators and the proto/JSON conversion load on first use, so that importing
one core module (as the client library does) does not pull in the solvers. The packages below
are layered (docs/design.md §12); names not listed in ``__all__`` are internal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from solver.core.errors import (
    BackendUnavailableError,
    FieldViolation,
    InvalidProblemError,
    ProblemTooLargeError,
    PruneCertError,
    UnrepresentableError,
)
from solver.core.parameters import ContinuousMode, Heuristic, SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    MinKept,
    Network,
    Neuron,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import (
    FrontierPoint,
    Progress,
    Solution,
    SolveResult,
    SolveStats,
    SolveStatus,
)
from solver.core.validate import Limits, validate_parameters, validate_problem

if TYPE_CHECKING:
    from solver.backends import available_backends
    from solver.engine import certify_and_compare, solve
    from solver.exact.certify import MaskCertificate
    from solver.exact.certify import certify_mask as certify
    from solver.instances.generate import paper_problem
    from solver.io.convert import problem_from_json
    from solver.io.model_export import export_model
    from solver.io.model_import import import_model

# Loaded on first use: public name -> (module, attribute).
_LAZY = {
    "solve": ("solver.engine", "solve"),
    "certify_and_compare": ("solver.engine", "certify_and_compare"),
    "certify": ("solver.exact.certify", "certify_mask"),
    "MaskCertificate": ("solver.exact.certify", "MaskCertificate"),
    "available_backends": ("solver.backends", "available_backends"),
    "paper_problem": ("solver.instances.generate", "paper_problem"),
    "problem_from_json": ("solver.io.convert", "problem_from_json"),
    "import_model": ("solver.io.model_import", "import_model"),
    "export_model": ("solver.io.model_export", "export_model"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'solver' has no attribute {name!r}")


__all__ = [
    # solving and certifying
    "solve",
    "certify",
    "certify_and_compare",
    "available_backends",
    # the problem
    "Problem",
    "Network",
    "Neuron",
    "Activation",
    "PruningMode",
    "BoxGrid",
    "PointSet",
    "Samples",
    "MinError",
    "MinKept",
    "Pareto",
    "Mask",
    "paper_problem",
    "problem_from_json",
    "import_model",
    "export_model",
    "Limits",
    "validate_problem",
    "validate_parameters",
    # parameters
    "SolveParameters",
    "ContinuousMode",
    "Heuristic",
    # results
    "SolveResult",
    "SolveStatus",
    "Solution",
    "FrontierPoint",
    "SolveStats",
    "Progress",
    "MaskCertificate",
    # errors
    "PruneCertError",
    "InvalidProblemError",
    "ProblemTooLargeError",
    "UnrepresentableError",
    "BackendUnavailableError",
    "FieldViolation",
]
