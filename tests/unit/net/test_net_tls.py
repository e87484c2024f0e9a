"""Connecting to the checked address keeps TLS about the hostname: SNI carries it and the
certificate is verified against it, not against the address."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from net_servers import resolver_to

from cadenza.net import safe_client


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates(tmp: Path, dns_name: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for ``dns_name``: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test ca"))
        .issuer_name(_name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextlib.contextmanager
def _tls_server(cert: Path, key: Path, seen_sni: list[str | None]) -> Iterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        seen_sni.append(name)

    context.sni_callback = remember
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve_one() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        thread.join(timeout=5)


def test_tls_uses_the_hostname_while_connecting_to_the_address(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "media.test")
    trust = ssl.create_default_context(cafile=str(ca))
    seen: list[str | None] = []
    resolver = resolver_to({"media.test": ["127.0.0.1"]})
    with (
        _tls_server(cert, key, seen) as port,
        safe_client(allow_private=True, resolver=resolver, verify=trust) as client,
    ):
        response = client.get(f"https://media.test:{port}/a.mp3")
    assert response.content == b"secure"
    assert seen == ["media.test"]


def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "other.test")
    trust = ssl.create_default_context(cafile=str(ca))
    resolver = resolver_to({"media.test": ["127.0.0.1"]})
    with (
        _tls_server(cert, key, []) as port,
        safe_client(allow_private=True, resolver=resolver, verify=trust) as client,
        pytest.raises(httpx.ConnectError, match="certificate"),
    ):
        client.get(f"https://media.test:{port}/a.mp3")
