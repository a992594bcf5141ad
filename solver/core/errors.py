"""The engine's exceptions, one small tree.

    PruneCertError
    ├── InvalidProblemError      a problem or parameter is malformed; lists field violations
    │   └── ProblemTooLargeError a size exceeds a configured limit
    ├── UnrepresentableError     the exact integer scaling cannot represent the instance
    └── BackendUnavailableError  an unknown or uninstalled backend was requested

Time limits, infeasibility and cancellation are statuses of a result, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its path (e.g. ``network.hidden_weights``) and what is wrong with it."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class PruneCertError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidProblemError(PruneCertError):
    """The problem (or the parameters) violate the contract; ``violations`` names each field."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation):
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


class ProblemTooLargeError(InvalidProblemError):
    """A size is over the configured limits (the service maps it to RESOURCE_EXHAUSTED)."""


class UnrepresentableError(PruneCertError):
    """The fixed-point model cannot represent the instance within the requested tolerance."""


class BackendUnavailableError(PruneCertError):
    """The requested backend is unknown or its solver is not installed."""
