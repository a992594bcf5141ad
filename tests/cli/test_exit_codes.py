"""Exit codes by status (issue 13, item 3): each SolveStatus has its own documented code, usage
errors stay 2, failures 1; `--require-optimal` says why a result is not OPTIMAL and refuses flags
that can never give OPTIMAL. Every status here comes from a real solve (CANCELLED: the Ctrl-C
tests in test_cli.py and test_remote_interrupt.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import json_format

from prunecert.v1 import solve_pb2
from solver.cli.app import build_parser, main
from solver.cli.common import EXIT_FAILURE, EXIT_STATUS_HELP, EXIT_USAGE, STATUS_EXIT_CODES
from solver.core.problem import Mask, MinError, MinKept, PruningMode
from solver.core.result import SolveStatus
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO, cli

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def write(tmp_path: Path, problem, name: str = "p.json") -> str:
    path = tmp_path / name
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status_of(out: str) -> int:
    return json_format.Parse(out, solve_pb2.SolveResult()).status


# An unreachable max_error: the exact solve proves INFEASIBLE; a heuristic finds nothing and
# proves nothing (NO_SOLUTION). The full network's error here is far above 0.01.
UNREACHABLE = MinKept(max_error=0.01)


@pytest.mark.parametrize(
    ("mode", "objective", "flags", "status", "code"),
    [
        (N, MinError(), [], solve_pb2.SOLVE_STATUS_OPTIMAL, 0),
        (W, MinError(max_kept=3), ["--heuristic", "best"], solve_pb2.SOLVE_STATUS_FEASIBLE, 3),
        (W, UNREACHABLE, [], solve_pb2.SOLVE_STATUS_INFEASIBLE, 4),
        (W, UNREACHABLE, ["--heuristic", "best"], solve_pb2.SOLVE_STATUS_NO_SOLUTION, 5),
    ],
    ids=["optimal", "feasible", "infeasible", "no_solution"],
)
def test_each_status_has_its_exit_code(tmp_path, capsys, mode, objective, flags, status, code):
    path = write(tmp_path, paper_problem(2, 6, 1, mode, objective, points_per_axis=5))
    got, out, err = run(capsys, "solve", path, "--json", *flags)
    assert status_of(out) == status
    assert got == code, err
    assert err == ""  # no --require-optimal: the status speaks through the code alone


def test_the_codes_are_distinct_and_avoid_usage_and_failure():
    codes = [STATUS_EXIT_CODES[s] for s in SolveStatus if s != SolveStatus.UNSPECIFIED]
    assert len(set(codes)) == len(codes) == 5
    assert STATUS_EXIT_CODES[SolveStatus.OPTIMAL] == 0
    assert EXIT_USAGE not in codes and EXIT_FAILURE not in codes
    assert STATUS_EXIT_CODES[SolveStatus.CANCELLED] == 130  # what a shell shows for Ctrl-C


def documented_codes(text: str) -> dict[str, int]:
    """``CODE  STATUS`` pairs in a text (the help's table, the README's)."""
    pairs = re.findall(
        r"^\s*(\d+)\s+(OPTIMAL|FEASIBLE|INFEASIBLE|NO_SOLUTION|CANCELLED)\b", text, re.M
    )
    return {name: int(code) for code, name in pairs}


def test_solve_help_and_readme_document_the_codes(capsys):
    want = {s.name: c for s, c in STATUS_EXIT_CODES.items()}
    assert documented_codes(EXIT_STATUS_HELP) == want
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    help_text = capsys.readouterr().out
    assert documented_codes(help_text) == want
    assert re.search(r"^\s*2\s+bad input", help_text, re.M)
    assert "--require-optimal" in help_text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert documented_codes(readme) == want


# -- --require-optimal ------------------------------------------------------------------------------


def test_require_optimal_is_silent_on_an_optimal_result(tmp_path, capsys):
    path = write(tmp_path, paper_problem(2, 6, 1, N, MinError(), points_per_axis=5))
    code, out, err = run(capsys, "solve", path, "--require-optimal")
    assert code == 0 and err == ""
    assert out.startswith("status      OPTIMAL")


def test_require_optimal_refuses_a_heuristic(tmp_path, capsys):
    path = write(tmp_path, paper_problem(2, 4, 1, N, MinError(), points_per_axis=5))
    code, out, err = run(capsys, "solve", path, "--heuristic", "best", "--require-optimal")
    assert (code, out) == (2, "")
    assert err.startswith("prunecert: error: --require-optimal: a heuristic run is never OPTIMAL")


def test_require_optimal_names_the_status_of_a_non_optimal_result(tmp_path, capsys):
    path = write(tmp_path, paper_problem(2, 6, 1, W, UNREACHABLE, points_per_axis=5))
    code, out, err = run(capsys, "solve", path, "--require-optimal")
    assert code == 4
    assert out.startswith("status      INFEASIBLE")  # the result is printed all the same
    assert err == (
        "prunecert: error: --require-optimal: the result is INFEASIBLE, not OPTIMAL: no mask "
        "reaches max_error 0.01, not even the full network\n"
    )


def test_certify_require_optimal(tmp_path, capsys):
    problem = paper_problem(2, 6, 1, N, MinError(), points_per_axis=5)
    path = write(tmp_path, problem)
    mask = tmp_path / "mask.json"
    mask.write_text(convert.to_json(convert.mask_to_proto(Mask(neurons=[True, False] * 3))))
    code, out, err = run(capsys, "certify", path, str(mask), "--require-optimal")
    assert (code, out) == (2, "")
    assert err.startswith("prunecert: error: --require-optimal: needs --compare")
    code, out, err = run(capsys, "certify", path, str(mask), "--compare", "--require-optimal")
    assert (code, err) == (0, "")
    assert "(OPTIMAL, same budget" in out
    code, out, err = run(capsys, "certify", path, str(mask), "--time-limit", "-1")
    assert code == 2
    assert err.startswith("prunecert: error: --time-limit: must be a finite number >= 0")


def test_exit_code_of_a_real_process(tmp_path):
    # Through the console entry point: the code reaches the shell (sys.exit(main())).
    path = write(tmp_path, paper_problem(2, 6, 1, W, UNREACHABLE, points_per_axis=5))
    proc = cli("solve", path)
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout.startswith("status      INFEASIBLE")
    assert proc.stderr == ""


def test_every_flag_says_its_default():
    """Issue 13, item 10: each flag's help states its default (or that it is required);
    positional arguments have a help text."""
    import argparse

    def walk(parser, path):
        yield path, parser
        for action in parser._actions:  # argparse has no public way to list sub-parsers
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*path, name))

    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    missing = []
    for path, parser in walk(build_parser(), ("prunecert",)):
        for action in parser._actions:
            if isinstance(action, skip):
                continue
            text = action.help or ""
            if not action.option_strings:
                ok = bool(text)
            else:
                ok = "default" in text or "required" in text
            if not ok:
                missing.append((" ".join(path), action.option_strings or action.dest))
    assert missing == []


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"prunecert \S+ \(ortools \S+, Python 3\.\d+\.\d+\)\n", out), out
