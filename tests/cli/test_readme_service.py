"""The README's TLS block (section "As a service") runs as written: openssl makes a certificate
for localhost, `serve` uses it, and `solve --remote 127.0.0.1:PORT --tls-ca ... --tls-server-name
localhost` gets a certified result over TLS (issue 13 item 7). The one liberty taken: the server
listens on a free port instead of 50051, and its HOME is the test's directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import grpc
import pytest

from tests.support.servers import REPO, cli, serving

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the block needs openssl"),
]

PORT = "50051"  # the README's


def tls_block() -> list[str]:
    """The block's commands, continuation lines joined."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("TLS with a certificate for localhost", 1)[1]
    block = re.findall(r"```\n(.*?)```", section, flags=re.S)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_tls_block_runs_as_written(tmp_path):
    make_cert, serve, solve = tls_block()
    assert make_cert.startswith("openssl req") and "CN=localhost" in make_cert
    subprocess.run(["bash", "-e", "-c", make_cert], cwd=tmp_path, check=True, capture_output=True)
    assert serve.startswith(".venv/bin/prunecert serve ") and serve.endswith("&")
    flags = serve.removeprefix(".venv/bin/prunecert serve ").removesuffix("&").split()
    flags = [str(tmp_path / f) if f.endswith(".pem") else f for f in flags]
    generated = cli(
        "generate",
        "paper",
        "--d",
        "2",
        "--n",
        "6",
        "--seed",
        "1",
        "--pruning",
        "neurons",
        "--points-per-axis",
        "9",
    )
    assert generated.returncode == 0, generated.stderr
    (tmp_path / "p.json").write_text(generated.stdout)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    credentials = grpc.ssl_channel_credentials((tmp_path / "cert.pem").read_bytes())
    with serving(tmp_path, *flags, credentials=credentials) as served:
        assert f"127.0.0.1:{PORT}" in solve
        command = solve.replace(f"127.0.0.1:{PORT}", served.remote)
        proc = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert proc.returncode == 0, proc.stderr
    assert "status      OPTIMAL" in proc.stdout, proc.stdout
    # Without --tls-server-name the certificate's name does not match 127.0.0.1: the one-line
    # error names the flag.
    with serving(tmp_path, *flags, credentials=credentials) as served:
        bad = solve.replace(" --tls-server-name localhost", "")
        proc = subprocess.run(
            ["bash", "-c", bad.replace(f"127.0.0.1:{PORT}", served.remote)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1 and "--tls-server-name" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
