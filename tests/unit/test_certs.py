"""Throwaway certificates (`ektp_sync.certs`): what they are valid for, and that a TLS client
trusting their CA, and only that one, accepts a server presenting them."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from ektp_sync.certs import TlsFiles, make_certificates


def test_a_server_certificate_for_loopback_signed_by_a_fresh_ca(tmp_path: Path) -> None:
    files = make_certificates(tmp_path / "tls")
    assert files == TlsFiles.in_dir(tmp_path / "tls")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert cert.issuer == ca.subject != cert.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not list(tmp_path.glob("tls/*ca*key*")), "the CA's key is never kept"


async def _handshake(files: TlsFiles, trusted: Path, host: str) -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(files.cert, files.key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    try:
        client = ssl.create_default_context(cafile=trusted)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=host
        )
        assert await reader.read() == b"ok"
        writer.close()
    finally:
        server.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_client_trusting_the_ca_accepts_the_server(tmp_path: Path, host: str) -> None:
    files = make_certificates(tmp_path)
    await _handshake(files, files.ca, host)


async def test_a_client_trusting_another_ca_refuses_it(tmp_path: Path) -> None:
    files = make_certificates(tmp_path / "ours")
    other = make_certificates(tmp_path / "theirs")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(files, other.ca, "127.0.0.1")


async def test_a_name_the_certificate_is_not_for_is_refused(tmp_path: Path) -> None:
    files = make_certificates(tmp_path, names=["centre.example"])
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(files, files.ca, "127.0.0.1")
    await _handshake(files, files.ca, "centre.example")
