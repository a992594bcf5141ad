"""Why a connection failed, from grpc's UNAVAILABLE text, and the setting that fixes it.

grpc reports every failure to connect as UNAVAILABLE "failed to connect to all addresses; last
error: ...", the cause in free text. The texts matched below were measured with grpcio 1.81
against a real `prunecert serve` (tests/cli/test_tls_cli.py runs each case, so a grpc upgrade that
changes a text fails there rather than silently losing the hint):

    plaintext client, TLS server      UNAVAILABLE: ipv4:...: Socket closed
    TLS client, plaintext server      Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL:
                                      ...:WRONG_VERSION_NUMBER: ...
    certificate not trusted           Tls handshake failed ...: CERTIFICATE_VERIFY_FAILED:
                                      self signed certificate: OK
    certificate names another host    Custom verification check failed with error:
                                      UNAUTHENTICATED: Hostname Verification Check failed.
    nothing listening                 Failed to connect to remote host: Connection refused
    unknown host                      errors resolving HOST:PORT: ... Domain name not found

Hints name the CLI flags; the Tls docstring maps each to its Python setting. A text not matched
here keeps grpc's own words, without a hint.

grpc reports only the last address it tried. It resolves localhost to ::1 and 127.0.0.1 (even
where the system resolver gives 127.0.0.1 alone); with the server on 127.0.0.1 only, a TLS
failure there came back as "Connection refused" at ::1 in 4 of 8 calls. So a refusal for a
host given by name is looked into address by address (``refusal_elsewhere``) before the server
is called unreachable.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from prunecert_client._types import Tls

_VERIFY_REASON = re.compile(r"CERTIFICATE_VERIFY_FAILED: ([^:]+)")
# Verification failures that a trusted CA (--tls-ca) cures; others (expired, not yet valid, a
# bad signature) are about the certificate itself.
_UNTRUSTED = ("self signed", "issuer")


@dataclass(frozen=True)
class Diagnosis:
    message: str  # what went wrong, in the user's terms
    hint: str  # what to change, naming the flag
    tls_handshake: bool  # the TLS handshake failed (TlsHandshakeFailed)
    refused: bool = False  # nothing listened (at the address grpc tried last)


def diagnose(details: str, address: str, tls: Tls | None) -> Diagnosis | None:
    """The cause of an UNAVAILABLE with these details, calling to ``address`` with ``tls`` (None:
    plaintext); None when the text is not one measured."""
    host = address.rsplit(":", 1)[0] if ":" in address else address
    if "Hostname Verification Check failed" in details:
        name = tls.server_name if tls and tls.server_name else host
        if tls and tls.server_name:
            hint = f"--tls-server-name {name} is not a name the certificate holds: give one it does"
        else:
            hint = (
                "connect by a name the certificate holds, or give that name with "
                "--tls-server-name NAME (e.g. --tls-server-name localhost)"
            )
        return Diagnosis(f"the server's TLS certificate does not name {name}", hint, True)
    if "CERTIFICATE_VERIFY_FAILED" in details:
        match = _VERIFY_REASON.search(details)
        reason = match.group(1).strip() if match else "verification failed"
        if not any(word in reason for word in _UNTRUSTED):
            return Diagnosis(
                f"the server's TLS certificate was refused ({reason})",
                "the server needs a valid certificate (--tls-cert)",
                True,
            )
        if tls is not None and tls.root_certificate is None and tls.ca_file is None:
            trusted = "by the system's CA roots"
        else:
            trusted = "by the --tls-ca certificate"
        return Diagnosis(
            f"the server's TLS certificate is not trusted {trusted} ({reason})",
            "give the server's certificate, or the CA that signed it, with --tls-ca FILE",
            True,
        )
    if "WRONG_VERSION_NUMBER" in details:
        return Diagnosis(
            "the server does not speak TLS",
            "leave out --tls, --tls-ca and --tls-server-name",
            True,
        )
    if "Tls handshake failed" in details:
        return Diagnosis(
            f"the TLS handshake failed ({details.rsplit('TSI_PROTOCOL_FAILURE): ', 1)[-1]})",
            "check --tls-ca and --tls-server-name against the server's --tls-cert",
            True,
        )
    if "Connection refused" in details:
        return Diagnosis(
            f"the server at {address} is not reachable (connection refused)",
            "is `prunecert serve` running there, on that port? (--remote HOST:PORT)",
            False,
            refused=True,
        )
    if "errors resolving" in details or "DNS resolution failed" in details:
        return Diagnosis(
            f"cannot resolve the host of {address}", "check the host in --remote HOST:PORT", False
        )
    if tls is None and ("Socket closed" in details or "Connection reset" in details):
        return Diagnosis(
            "the server closed the connection before answering; it may expect TLS",
            "if it serves TLS, add --tls (system CA roots) or --tls-ca FILE",
            False,
        )
    return None


def split_address(address: str) -> tuple[str, str]:
    """HOST and PORT of HOST:PORT (an IPv6 host in brackets loses them)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal_elsewhere(
    address: str, tls: Tls | None, failure_at: Callable[[str], str | None]
) -> Diagnosis | None:
    """For a HOST given by name: the first cause other than a refusal that ``failure_at(target)``
    (grpc's UNAVAILABLE text for one call to that one address, None if it got through) finds at
    the addresses the system resolves HOST to, one at a time; None when each refuses."""
    host, port = split_address(address)
    if _is_ip(host):
        return None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    targets = []
    for family, _, _, _, sockaddr in found:
        ip = sockaddr[0]
        target = f"ipv6:[{ip}]:{port}" if family == socket.AF_INET6 else f"ipv4:{ip}:{port}"
        if target not in targets:
            targets.append(target)
    for target in targets:
        details = failure_at(target)
        cause = diagnose(details, address, tls) if details else None
        if cause is not None and not cause.refused:
            return cause
    return None
