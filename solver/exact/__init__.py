"""The trusted base: exact dyadic arithmetic, evaluation, mask certificates and the exact box
error. Nothing here calls a solver.

The package re-exports the arithmetic (``from solver import exact; exact.round_up(...)``).
"""

from solver.exact.arithmetic import (
    Dyadic,
    absolute,
    add,
    ceil_scaled,
    constant,
    floor_scaled,
    from_floats,
    matmul,
    mul,
    relu,
    round_down,
    round_up,
    sub,
    to_fraction,
)

__all__ = [
    "Dyadic",
    "absolute",
    "add",
    "ceil_scaled",
    "constant",
    "floor_scaled",
    "from_floats",
    "matmul",
    "mul",
    "relu",
    "round_down",
    "round_up",
    "sub",
    "to_fraction",
]
