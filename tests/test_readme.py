"""The README's Python example runs as a newcomer would paste it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_public_api_example_runs_and_prints_a_certified_result():
    blocks = [b for b in _python_blocks() if b.startswith("from solver import")]
    assert len(blocks) == 1
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    status, error, bound = first.split()
    assert status == "OPTIMAL"
    assert float(error) - float(bound) <= 1e-6
    assert float(second) == float(error)  # the certificate, recomputed, is the result's error
