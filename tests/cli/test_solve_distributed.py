"""`prunecert solve-distributed` (solver/cli/cubes.py): one problem file solved as cubes on a
local Dask cluster of two workers, printed like `prunecert solve` with the cubes listed."""

from __future__ import annotations

import argparse
import dataclasses
import json

from solver.cli import cubes
from solver.cli.common import EXIT_OPTIMAL
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.readme import run_block, shell_block


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="prunecert")
    cubes.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_solve_distributed_prints_a_certified_result_and_its_cubes(tmp_path, capsys):
    problem = paper_problem(2, 9, 1, PruningMode.NEURONS, points_per_axis=9)
    problem = dataclasses.replace(problem, objective=MinError())
    path = tmp_path / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    code = _run(["solve-distributed", str(path), "--cubes", "4", "--workers", "2", "--json"])
    out = capsys.readouterr().out
    assert code == EXIT_OPTIMAL
    assert json.loads(out)["status"] == "SOLVE_STATUS_OPTIMAL"
    code = _run(
        ["solve-distributed", str(path), "--cubes", "4", "--cube-rule", "kink", "--workers", "2"]
    )
    out = capsys.readouterr().out
    assert code == EXIT_OPTIMAL
    assert "cubes: " in out and "rule kink" in out


def test_a_bad_worker_count_is_refused_by_its_flag(tmp_path, capsys):
    problem = paper_problem(2, 6, 1, PruningMode.NEURONS, points_per_axis=9)
    path = tmp_path / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    code = _run(["solve-distributed", str(path), "--workers", "0"])
    assert code != EXIT_OPTIMAL
    assert "--workers" in capsys.readouterr().err


def test_the_readme_block_runs_as_written(tmp_path):
    proc = run_block(shell_block("### One hard instance on many workers"), tmp_path)
    assert proc.returncode in (0, 3), proc.stderr  # OPTIMAL, or FEASIBLE on a slow machine
    assert "cubes: " in proc.stdout and "rule magnitude" in proc.stdout
