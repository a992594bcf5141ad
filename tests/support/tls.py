"""Self-signed certificates for the TLS tests (server and CLI)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(host: str = "localhost", ip: str | None = "127.0.0.1") -> tuple[bytes, bytes]:
    """A self-signed certificate for ``host`` (and the address ``ip``, unless None), and its
    key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    names: list[x509.GeneralName] = [x509.DNSName(host)]
    if ip is not None:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def localhost_only() -> tuple[bytes, bytes]:
    """A certificate naming localhost only (CN and SAN, no IP address): what a user makes with
    ``openssl req -x509 -subj /CN=localhost -addext subjectAltName=DNS:localhost``, which
    127.0.0.1 does not match unless the client names the server (--tls-server-name)."""
    return self_signed("localhost", ip=None)


def write_pair(directory: Path, cert: bytes, key: bytes, stem: str = "server") -> tuple[Path, Path]:
    """``STEM-cert.pem`` and ``STEM-key.pem`` in ``directory``: the files `serve` reads."""
    cert_file, key_file = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    return cert_file, key_file
