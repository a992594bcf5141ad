"""Running the README's shell blocks as a newcomer would: from a fresh directory whose .venv is
the repository's, under `bash -e`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.servers import REPO

README = REPO / "README.md"


def shell_block(heading: str, index: int = 0) -> str:
    """The index-th ``` block after the README line ``heading``."""
    section = README.read_text(encoding="utf-8").split(heading, 1)[1]
    return re.findall(r"```\n(.*?)```", section, flags=re.S)[index]


def run_block(block: str, directory: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``block`` under `bash -e` in ``directory`` (given a .venv link to the repository's)."""
    venv = directory / ".venv"
    if not venv.exists():
        venv.symlink_to(REPO / ".venv")
    return subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
