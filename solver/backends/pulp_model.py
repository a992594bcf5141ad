"""CBC and HiGHS through PuLP, on the shared float64 model (solver/backends/floatmip.py).

Both backends (solver/backends/cbc.py, solver/backends/highs.py) build one PuLP problem from the
same FloatMip and set the tolerances the safety margin assumes (primal and dual feasibility and
integrality 1e-9, relative and absolute gap 0).
floatmip.finish lowers each reported dual bound by the margin (floatmip's docstring)

    margin = delta * A + eps_int * (H + A) + (4 eps_feas + eps_gap) * (1 + A),

A the largest row activity and H the largest row sum of |coefficients|, and cross-checks it
against the exact error of the returned choice.

This module holds what they share: the PuLP problem of a FloatMip.
"""

from __future__ import annotations

from solver.backends import floatmip

SEED_RANGE = 2**31 - 1  # solvers take a signed 32-bit seed


def pulp_problem(mip: floatmip.FloatMip):
    """The PuLP problem of a FloatMip, and its variables in FloatMip order."""
    import pulp

    problem = pulp.LpProblem("prunecert", pulp.LpMinimize)
    variables = [
        problem.add_variable(
            name, lowBound=lo, upBound=hi, cat=pulp.LpInteger if integer else pulp.LpContinuous
        )
        for name, lo, hi, integer in zip(mip.names, mip.lower, mip.upper, mip.integer, strict=True)
    ]
    # Every variable enters the objective (most with 0) so that PuLP registers it even when it
    # appears in no row: PuLP only knows the variables of the objective and the rows.
    objective = dict.fromkeys(range(mip.num_vars), 0.0)
    objective.update(dict(mip.objective))
    problem.setObjective(pulp.LpAffineExpression([(variables[i], a) for i, a in objective.items()]))
    for n, row in enumerate(mip.rows):
        expr = pulp.LpAffineExpression(
            [(variables[i], a) for i, a in zip(row.index, row.coef, strict=True)]
        )
        problem.addConstraint(
            pulp.LpConstraint(expr, sense=pulp.LpConstraintLE, rhs=row.rhs), name=f"r{n}"
        )
    return problem, variables
