"""The server's own safety checks (ServerConfig.check, load_config): a server started from
Python refuses what `prunecert serve` refuses, with violations naming the field and the flag."""

from __future__ import annotations

import socket
import time
from functools import partial

import pytest

from prunecert.v1 import service_pb2
from solver.core.errors import ConfigurationError, InvalidProblemError, status_name
from solver.io.wire import MAX_MESSAGE_BYTES, MESSAGE_SIZE_OPTIONS, SERVICE_NAME
from solver.service.server import ServerConfig, create_server, is_loopback, load_config
from tests.support.servers import free_port
from tests.support.tls import self_signed

PUBLIC = "0.0.0.0"


def violations(call) -> list[tuple[str, str | None]]:
    with pytest.raises(ConfigurationError) as info:
        call()
    return [(v.field, v.flag) for v in info.value.violations]


def test_configuration_error_is_bad_input():
    # The CLI prints each violation and exits 2; a status, were it ever sent, is the caller's.
    assert issubclass(ConfigurationError, InvalidProblemError)
    assert status_name(ConfigurationError([])) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_without_tokens_is_fine(host):
    assert is_loopback(host)
    ServerConfig(host=host).check()


def test_public_address_without_tokens_is_refused():
    with pytest.raises(ConfigurationError) as info:
        ServerConfig(host=PUBLIC).check()
    [violation] = info.value.violations
    assert (violation.field, violation.flag) == ("host", "--host")
    assert PUBLIC in violation.description
    assert "--insecure" in violation.description and "--token-file" in violation.description


def test_public_address_with_tokens_or_insecure_is_allowed():
    ServerConfig(host=PUBLIC, tokens=frozenset({"t"})).check()
    ServerConfig(host=PUBLIC, insecure=True).check()


@pytest.mark.parametrize("given", ["tls_cert", "tls_key"])
def test_tls_certificate_and_key_go_together(given):
    assert violations(ServerConfig(**{given: b"PEM"}).check) == [("tls_cert", "--tls-cert")]


def test_every_violation_is_listed():
    config = ServerConfig(host=PUBLIC, tls_key=b"PEM", max_concurrent=0, max_time_limit=0.0)
    assert violations(config.check) == [
        ("host", "--host"),
        ("tls_cert", "--tls-cert"),
        ("max_concurrent", "--max-concurrent"),
        ("max_time_limit", "--max-time-limit"),
    ]


def test_create_server_refuses_before_starting_anything():
    port = free_port()
    start = time.monotonic()
    with pytest.raises(ConfigurationError):
        create_server(ServerConfig(host=PUBLIC, port=port))
    assert time.monotonic() - start < 5  # no worker process was started
    with socket.socket() as sock:  # and the port was never bound
        sock.bind((PUBLIC, port))


# -- load_config: the files `prunecert serve` names ---------------------------------------------


def test_load_config_reads_tokens(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("# one per line\n\n  alpha  \nbeta\n")
    config = load_config(tokens_file=path, host=PUBLIC, port=0)
    assert config.tokens == frozenset({"alpha", "beta"})
    assert (config.host, config.port, config.tls_cert) == (PUBLIC, 0, None)


@pytest.mark.parametrize("content", [None, b"", b"# only a comment\n\n", b"\xff\xfe token"])
def test_unusable_tokens_file(tmp_path, content):
    path = tmp_path / "tokens.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError) as info:
        load_config(tokens_file=path)
    [violation] = info.value.violations
    assert (violation.field, violation.flag) == ("tokens", "--token-file")
    assert str(path) in violation.description


def test_load_config_reads_the_tls_files(tmp_path):
    cert, key = self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    config = load_config(tls_cert_file=tmp_path / "cert.pem", tls_key_file=tmp_path / "key.pem")
    assert (config.tls_cert, config.tls_key) == (cert, key)


def test_load_config_tls_pairing(tmp_path):
    call = partial(load_config, tls_cert_file=tmp_path / "cert.pem")
    assert violations(call) == [("tls_cert", "--tls-cert")]


def test_load_config_unreadable_tls_file(tmp_path):
    call = partial(
        load_config, tls_cert_file=tmp_path / "missing.pem", tls_key_file=tmp_path / "key.pem"
    )
    assert violations(call) == [("tls_cert", "--tls-cert")]


def test_load_config_checks_settings_before_reading_files(tmp_path):
    call = partial(
        load_config,
        host=PUBLIC,
        max_concurrent=0,
        tls_cert_file=tmp_path / "missing.pem",
        tls_key_file=tmp_path / "missing.pem",
    )
    assert violations(call) == [("host", "--host"), ("max_concurrent", "--max-concurrent")]


# -- what server and client share ------------------------------------------------------------------


def test_wire_constants():
    assert (
        SERVICE_NAME
        == "prunecert.v1.PruningSolver"
        == service_pb2.DESCRIPTOR.services_by_name["PruningSolver"].full_name
    )
    assert dict(MESSAGE_SIZE_OPTIONS) == {
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    }


@pytest.mark.parametrize("address", [":8787", "127.0.0.1:0", "localhost:8787", "[::1]:8787"])
def test_dask_dashboard_on_loopback_is_fine(address):
    ServerConfig(dask_dashboard=address).check()


@pytest.mark.parametrize("address", ["0.0.0.0:8787", "8787", "host:port", ":99999"])
def test_dask_dashboard_off_loopback_or_malformed_is_refused(address):
    tokens = frozenset({"t"})  # tokens protect gRPC, never the dashboard
    assert violations(ServerConfig(tokens=tokens, dask_dashboard=address).check) == [
        ("dask_dashboard", "--dask-dashboard")
    ]


def test_dask_dashboard_off_loopback_with_insecure_is_allowed():
    ServerConfig(dask_dashboard="0.0.0.0:8787", insecure=True).check()
