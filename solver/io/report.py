"""Human-readable rendering of certified results (CLI and demo)."""

from __future__ import annotations

import numpy as np

from solver.core.problem import BoxGrid, Mask, MinError, MinKept, Problem, PruningMode
from solver.core.result import SolveResult, SolveStatus


def describe_mask(mask: Mask) -> str:
    if mask.neurons is not None:
        kept = np.flatnonzero(mask.neurons).tolist()
        return f"units kept: {kept}"
    lines = []
    hidden = np.asarray(mask.hidden_weights, dtype=bool)
    output = np.asarray(mask.output_weights, dtype=bool)
    several = output.ndim == 2
    output = output.reshape(-1, hidden.shape[0])
    for i in np.flatnonzero(output.any(axis=0)):
        inputs = np.flatnonzero(hidden[i]).tolist()
        kept = (
            "output weight"
            if not several
            else f"output weights {np.flatnonzero(output[:, i]).tolist()}"
        )
        lines.append(f"unit {i}: {kept} + hidden weights from inputs {inputs}")
    return "\n".join(lines) if lines else "nothing kept"


def format_result(problem: Problem, result: SolveResult) -> str:
    mode = "neurons" if problem.pruning == PruningMode.NEURONS else "weights"
    objective = type(problem.objective).__name__
    lines = [f"status      {result.status.name}"]
    if result.detail:
        lines.append(f"detail      {result.detail}")
    lines.append(
        f"problem     {mode} pruning, {objective}, n={problem.network.n}, d={problem.network.d}"
        + (f", k={problem.network.outputs} outputs" if problem.network.outputs > 1 else "")
    )
    sol = result.solution
    if sol is not None:
        unit = "units" if mode == "neurons" else "weights"
        lines.append(f"kept        {sol.kept} of {problem.max_kept_possible()} {unit}")
    cont = result.continuous
    box_optimum = cont is not None and cont.grid_error is not None  # continuous optimize mode
    if sol is not None:
        if box_optimum:
            domain = "over the whole box"
        elif isinstance(problem.domain, BoxGrid):
            domain = "on the grid points"
        else:
            domain = "on the given points"
        lines.append(f"error       {sol.error:.12g}   ({domain}: exact, rounded up)")
    if cont is not None:
        where = ", ".join(f"{x:.6g}" for x in cont.worst_point)
        lines.append(
            f"continuous  {cont.error:.12g}   (exact max over the whole box, at ({where}))"
        )
    if box_optimum:
        lines.append(f"grid error  {cont.grid_error:.12g}   (the same mask on the grid points)")
    if result.stats.formulation == "heuristic":
        pass  # a heuristic proves no bound
    elif isinstance(problem.objective, MinKept):
        lines.append(f"bound       kept >= {int(result.objective_bound)}   (rigorous)")
    elif box_optimum:
        verdict = "certified" if cont.optimal else "NOT certified"
        lines.append(
            f"bound       {result.objective_bound:.12g}   (rigorous lower bound on the "
            f"optimum over the box)"
        )
        lines.append(
            f"tolerance   {result.tolerance:.3g}   (box optimum in [bound, continuous]: "
            f"{verdict}, {len(cont.rounds)} round(s))"
        )
    elif result.status != SolveStatus.INFEASIBLE:
        lines.append(
            f"bound       {result.objective_bound:.12g}   (rigorous lower bound on the optimum)"
        )
        if sol is not None and isinstance(problem.objective, MinError):
            lines.append(
                f"tolerance   {result.tolerance:.3g}   (the optimum lies in [bound, error])"
            )
    s = result.stats
    if s.backend:
        lines.append(
            f"time        {s.wall_time_seconds:.2f} s  ({s.backend}, {s.formulation}, "
            f"{s.points_used} of {s.points_total} points, {s.rounds} round(s), "
            f"scale {s.scale:.3g})"
        )
    else:  # no backend answered (a remote solve interrupted before its result came back)
        lines.append(f"time        {s.wall_time_seconds:.2f} s")
    if result.cross_check is not None:
        c = result.cross_check
        verdict = "agrees" if c.agrees else "DISAGREES"
        lines.append(f"cross-check {c.backend}: {verdict} ({c.detail})")
    if result.frontier:
        lines.append("frontier    kept   error            bound            certified")
        for p in result.frontier:
            lines.append(
                f"            {p.kept:<6d} {p.error:<16.10g} {p.error_bound:<16.10g} {p.certified}"
            )
    if sol is not None:
        lines.append(describe_mask(sol.mask))
    return "\n".join(lines)


def format_certificate(kept: int, error: float, optimum: SolveResult | None) -> str:
    """`prunecert certify`: a mask's kept count and exact error, and beside them the optimum for
    the same budget when it was solved for."""
    lines = [f"kept        {kept}", f"error       {error:.12g}   (exact, rounded up)"]
    if optimum is not None and optimum.solution is not None:
        best = optimum.solution.error
        status, bound = optimum.status.name, optimum.objective_bound
        lines.append(f"optimum     {best:.12g}   ({status}, same budget, bound {bound:.12g})")
        ratio = f"{error / best:.6g}" if best > 0 else "-"
        lines.append(f"gap         {max(0.0, error - best):.6g}   ratio {ratio}")
    return "\n".join(lines)
