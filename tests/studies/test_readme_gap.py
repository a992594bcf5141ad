"""The README's gap-study commands (section "The exponential gap, measured"): each parses and
validates as written, and the results in docs/gap/ are the ones the local command produces (its
study, as the command's flags describe it, is the one recorded in docs/gap/fits.json). Running the
study itself takes hours; tests/studies/test_gap*.py run the same code on small studies."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex

from solver.cli.app import build_parser
from solver.cli.gap import study_from_args
from tests.support.servers import REPO

PREFIX = [".venv/bin/prunecert"]


def gap_commands() -> list[list[str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The exponential gap, measured", 1)[1]
    block = re.findall(r"```\n(.*?)```", section, flags=re.S)[0]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[: len(PREFIX)] == PREFIX, line
            commands.append(words[len(PREFIX) :])
    return commands


def test_the_readme_gap_commands_parse_and_describe_the_study_in_docs_gap():
    local, remote = gap_commands()
    parser = build_parser()
    local_args = parser.parse_args(local)
    study = study_from_args(local_args)
    recorded = json.loads((REPO / "docs" / "gap" / "fits.json").read_text(encoding="utf-8"))
    # JSON turns tuples into lists: compare through the same round trip.
    assert json.loads(json.dumps(dataclasses.asdict(study))) == recorded["study"]
    assert local_args.out == "docs/gap"
    remote_args = parser.parse_args(remote)
    assert remote_args.remote and study_from_args(remote_args) == study  # the same study
    summary = (REPO / "docs" / "gap" / "summary.md").read_text(encoding="utf-8")
    assert "Wall time" in summary
    for d in study.dims:
        assert (REPO / "docs" / "gap" / f"gap_d{d}.png").exists()
    assert (REPO / "docs" / "gap" / "rates.png").exists()
