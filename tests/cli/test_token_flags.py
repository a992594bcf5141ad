"""The client's token flags (issue 13 item 7): --token-file, also spelt --tokens-file as the
server spells it, read as the server reads its tokens file (blank lines and # comments skipped),
and $PRUNECERT_TOKEN when no file is given; against a real server that requires a token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO, Served, serving

pytestmark = pytest.mark.timeout(180)

TOKEN = "tok-3f9a"


def run(*argv: str, token_variable: str | None = None) -> subprocess.CompletedProcess:
    """`prunecert ARGV` with PRUNECERT_TOKEN set to ``token_variable`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "PRUNECERT_TOKEN"}
    if token_variable is not None:
        env["PRUNECERT_TOKEN"] = token_variable
    return subprocess.run(
        [sys.executable, "-m", "solver.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tokens")


@pytest.fixture(scope="module")
def files(workdir) -> dict[str, Path]:
    problem = paper_problem(2, 6, 1, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=5)
    out = {
        "problem": workdir / "problem.json",
        # The server's tokens file: a comment and a blank line first, as `serve` allows.
        "tokens": workdir / "tokens.txt",
        "wrong": workdir / "wrong.txt",
        "empty": workdir / "empty.txt",
    }
    out["problem"].write_text(convert.to_json(convert.problem_to_proto(problem)))
    out["tokens"].write_text(f"# the lab's token\n\n  {TOKEN}  \n")
    out["wrong"].write_text("not-the-token\n")
    out["empty"].write_text("# nothing here\n\n")
    return out


@pytest.fixture(scope="module")
def server(workdir, files) -> Iterator[Served]:
    with serving(workdir, "--tokens-file", str(files["tokens"]), "--max-concurrent", "1") as s:
        yield s


def solve(server, files, *flags, token_variable=None):
    argv = ("solve", str(files["problem"]), "--remote", server.remote, *flags)
    return run(*argv, token_variable=token_variable)


@pytest.mark.parametrize("flag", ["--token-file", "--tokens-file"])
def test_the_servers_tokens_file_works_with_either_spelling(server, files, flag):
    done = solve(server, files, flag, str(files["tokens"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("status      OPTIMAL")


def test_the_token_from_the_environment(server, files):
    done = solve(server, files, token_variable=TOKEN)
    assert done.returncode == 0, done.stderr


def test_the_file_wins_over_the_environment(server, files):
    done = solve(server, files, "--token-file", str(files["tokens"]), token_variable="nope")
    assert done.returncode == 0, done.stderr
    refused = solve(server, files, "--token-file", str(files["wrong"]), token_variable=TOKEN)
    assert refused.returncode == 1


@pytest.mark.parametrize("variable", [None, "", "wrong-token"], ids=["unset", "empty", "wrong"])
def test_no_or_a_wrong_token_is_refused(server, files, variable):
    refused = solve(server, files, token_variable=variable)
    assert refused.returncode == 1
    assert refused.stderr.startswith("prunecert: error: ")
    assert "token" in refused.stderr.lower()
    assert "Traceback" not in refused.stderr


def test_a_file_without_a_token_is_a_usage_error(server, files):
    done = solve(server, files, "--token-file", str(files["empty"]))
    assert done.returncode == 2
    assert done.stderr == f"prunecert: error: --token-file: {files['empty']} holds no token\n"


def test_help_names_the_alias_and_the_variable():
    text = " ".join(run("solve", "--help").stdout.split())
    assert "--token-file FILE, --tokens-file FILE" in text
    assert "PRUNECERT_TOKEN" in text
