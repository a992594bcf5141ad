"""TLS as a user meets it (issue 13 item 7): a real `prunecert serve` with a localhost-only
certificate, reached at 127.0.0.1 by `prunecert solve --remote` run as a subprocess, and by the
Python client. Every misconfiguration is one line naming the flag that fixes it, exit 1, no
traceback; a server that is not there is said to be unreachable, not a TLS problem.

The texts these hints are read from are grpc's (prunecert_client._connection lists them): each
case here runs against a real server, so a grpc upgrade that changes one fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from prunecert_client import (
    Client,
    ConnectionFailed,
    Tls,
    TlsHandshakeFailed,
)
from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveStatus
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import Served, cli, free_port, serving
from tests.support.tls import localhost_only, self_signed, write_pair

pytestmark = pytest.mark.timeout(180)


def small():
    return paper_problem(2, 6, 1, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=5)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tls_cli")


@pytest.fixture(scope="module")
def files(workdir) -> dict[str, Path]:
    cert, key = localhost_only()
    cert_file, key_file = write_pair(workdir, cert, key)
    stranger, _ = self_signed()
    stranger_file = workdir / "stranger.pem"
    stranger_file.write_bytes(stranger)
    not_pem = workdir / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    problem = workdir / "problem.json"
    problem.write_text(convert.to_json(convert.problem_to_proto(small())))
    return {
        "cert": cert_file,
        "key": key_file,
        "stranger": stranger_file,
        "not_pem": not_pem,
        "problem": problem,
    }


@pytest.fixture(scope="module")
def tls_server(workdir, files) -> Iterator[Served]:
    credentials = grpc.ssl_channel_credentials(files["cert"].read_bytes())
    flags = ("--tls-cert", str(files["cert"]), "--tls-key", str(files["key"]))
    with serving(workdir, *flags, "--max-concurrent", "1", credentials=credentials) as served:
        yield served


@pytest.fixture(scope="module")
def plain_server(workdir) -> Iterator[Served]:
    with serving(workdir, "--max-concurrent", "1") as served:
        yield served


def solve(files, remote: str, *flags: str):
    return cli("solve", str(files["problem"]), "--remote", remote, *flags)


def assert_one_line_error(run, *words: str, code: int = 1) -> str:
    """The run failed with ``code`` and one stderr line holding every word; that line."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("prunecert: error: "), run.stderr
    for word in words:
        assert word in lines[0], run.stderr
    return lines[0]


# -- the README's case: a localhost certificate at 127.0.0.1 -----------------------------------


def test_localhost_certificate_at_127_0_0_1_with_server_name(tls_server, files):
    run = solve(
        files, tls_server.remote, "--tls-ca", str(files["cert"]), "--tls-server-name", "localhost"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("status      OPTIMAL")


def test_localhost_certificate_at_localhost_needs_no_server_name(tls_server, files):
    run = solve(files, f"localhost:{tls_server.port}", "--tls-ca", str(files["cert"]))
    assert run.returncode == 0, run.stderr


# -- each misconfiguration: one line, its hint, exit 1 ------------------------------------------


def test_wrong_host_name_hints_tls_server_name(tls_server, files):
    run = solve(files, tls_server.remote, "--tls-ca", str(files["cert"]))
    assert_one_line_error(
        run, "does not name 127.0.0.1", "--tls-server-name", f"127.0.0.1:{tls_server.port}"
    )


def test_a_server_name_the_certificate_lacks_is_named(tls_server, files):
    run = solve(
        files, tls_server.remote, "--tls-ca", str(files["cert"]), "--tls-server-name", "example.org"
    )
    assert_one_line_error(run, "does not name example.org", "--tls-server-name example.org")


def test_plaintext_client_to_tls_server_hints_tls(tls_server, files):
    run = solve(files, tls_server.remote)
    assert_one_line_error(run, "may expect TLS", "--tls", "--tls-ca")


def test_tls_client_to_plaintext_server_hints_leaving_tls_out(plain_server, files):
    run = solve(
        files, plain_server.remote, "--tls-ca", str(files["cert"]), "--tls-server-name", "localhost"
    )
    assert_one_line_error(run, "does not speak TLS", "leave out --tls")


def test_untrusted_ca_hints_tls_ca(tls_server, files):
    run = solve(files, f"localhost:{tls_server.port}", "--tls-ca", str(files["stranger"]))
    assert_one_line_error(run, "not trusted by the --tls-ca certificate", "--tls-ca FILE")


def test_system_roots_do_not_trust_a_self_signed_server(tls_server, files):
    run = solve(files, f"localhost:{tls_server.port}", "--tls")
    assert_one_line_error(run, "not trusted by the system's CA roots", "--tls-ca FILE")


@pytest.mark.parametrize("tls", [[], ["--tls"]], ids=["plaintext", "tls"])
def test_a_server_that_is_down_is_unreachable_not_a_tls_problem(files, tls):
    run = solve(files, f"127.0.0.1:{free_port()}", *tls)
    line = assert_one_line_error(run, "not reachable (connection refused)", "prunecert serve")
    assert "TLS" not in line


@pytest.mark.parametrize(
    "which, words",
    [("missing", ["--tls-ca: cannot read", "No such file"]), ("not_pem", ["no PEM certificate"])],
)
def test_a_bad_tls_ca_file_is_a_usage_error(plain_server, files, workdir, which, words):
    path = workdir / "missing.pem" if which == "missing" else files["not_pem"]
    run = solve(files, plain_server.remote, "--tls-ca", str(path))
    assert_one_line_error(run, *words, code=2)


# -- the client package: the same settings and hints -------------------------------------------


def test_client_tls_options(tls_server, files):
    address = tls_server.remote
    settings = [
        Tls(ca_file=files["cert"], server_name="localhost"),
        Tls.from_file(files["cert"], "localhost"),
        Tls(root_certificate=files["cert"].read_bytes(), server_name="localhost"),
    ]
    for tls in settings:
        with Client(address, tls=tls) as client:
            assert client.solve(small(), timeout=60).status == SolveStatus.OPTIMAL
    with pytest.raises(ValueError, match="not both"):
        Tls(root_certificate=b"x", ca_file=files["cert"])


def test_client_errors_carry_the_hints(tls_server):
    """The CLI's lines are these exceptions' text: the cases above cover the causes; here, the
    types and attributes a Python caller gets."""
    address = f"localhost:{tls_server.port}"  # also the address-by-address look (_connection)
    with Client(address, tls=True) as client, pytest.raises(TlsHandshakeFailed) as info:
        client.server_info(timeout=30)
    assert isinstance(info.value, ConnectionFailed)
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert "--tls-ca FILE" in info.value.hint
    assert str(info.value).startswith(f"cannot connect to {address}: ")
    # A plaintext client to a TLS server: likely TLS, not known to be, so no TlsHandshakeFailed.
    with Client(tls_server.remote) as client, pytest.raises(ConnectionFailed) as info:
        client.server_info(timeout=30)
    assert not isinstance(info.value, TlsHandshakeFailed)
    assert "--tls" in info.value.hint


def test_client_refuses_a_ca_file_that_is_not_pem(files):
    with pytest.raises(ValueError, match="no PEM certificate"):
        Client("127.0.0.1:1", tls=Tls(ca_file=files["not_pem"]))
