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


def _layout_lines() -> dict[str, str]:
    """The README's Layout block: package path -> its (joined) description."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```")[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if line[:1].strip():  # a new entry starts in the first column
            current, _, rest = line.partition(" ")
            entries[current] = rest
        elif current is not None:
            entries[current] += " " + line.strip()
    return entries


def test_the_layout_section_names_every_package_and_module_of_the_tree():
    root = README.parent / "solver"
    entries = _layout_lines()
    for package in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        key = f"solver/{package.name}/"
        assert key in entries, f"README Layout lacks {key}"
        words = set(entries[key].replace(",", " ").replace("(", " ").replace(")", " ").split())
        for module in sorted(package.glob("*.py")):
            if module.stem in ("__init__", "__main__"):
                continue
            assert module.stem in words, f"README Layout: {key} does not list {module.stem}"


def test_the_design_document_names_only_files_that_exist():
    design = README.parent / "docs" / "design.md"
    paths = set(re.findall(r"`((?:solver|bench|tests|proto)/[\w/]+\.(?:py|proto))`", design.read_text()))
    assert paths
    missing = sorted(p for p in paths if not (README.parent / p).exists())
    assert not missing, missing


def test_every_cited_design_section_exists():
    repo = README.parent
    sections = set(re.findall(r"^## (§\d+) ", (repo / "docs" / "design.md").read_text(), flags=re.M))
    cited = set()
    for folder in ("solver", "clients", "bench", "tests", "proto"):
        for path in (repo / folder).rglob("*"):
            if path.suffix in (".py", ".proto"):
                cited |= set(re.findall(r"docs/design\.md\s+(§\d+)", path.read_text()))
    assert cited and cited <= sections, sorted(cited - sections)
