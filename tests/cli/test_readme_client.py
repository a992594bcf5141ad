"""The README's client example (section "As a service") runs as written against a real server
(issue 13, item 10: snippets run as written; it defines its problem and mask)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.servers import REPO, serving

pytestmark = pytest.mark.timeout(180)

ADDRESS = "127.0.0.1:50051"  # the README's; the test's server listens on a free port


def client_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [
        block
        for block in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
        if block.startswith("from prunecert_client import")
    ]
    assert len(blocks) == 1, "the README has one client example"
    return blocks[0]


def test_the_client_example_runs_against_a_server(tmp_path):
    code = client_block()
    assert ADDRESS in code
    with serving(tmp_path, "--max-concurrent", "1") as served:
        proc = subprocess.run(
            [sys.executable, "-c", code.replace(ADDRESS, served.remote)],
            cwd=tmp_path,  # as a user would run it: not from the repository
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("OPTIMAL ")
    assert lines[1].startswith("OPTIMAL after ")
    kept, error, status, ratio = lines[2].split()
    assert int(kept) <= 3 and float(error) >= 0 and status == "OPTIMAL"
    # The optimum's own mask: ratio 1 (up to the tolerance 1e-6 on each of the two errors).
    assert float(ratio) == pytest.approx(1.0, rel=1e-3)
    assert "cpsat" in lines[3]
