"""Throwaway TLS certificates: a private CA and a server certificate signed by it, made at run
time for the demo, the tests and `ektp-sync certs`.

Meant for loopback and trials. A real deployment's centre gets a certificate from the
ministry's own CA (or a public one); the office nodes then verify it with `--central-ca`.
Keys are EC P-256 (fast to make; every TLS 1.2/1.3 client takes them) and written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ektp_sync.keyfiles import read_or_create

#: what a certificate made here is valid for, unless told otherwise
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
VALID_DAYS = 30
CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "server.pem", "server-key.pem"


@dataclass(frozen=True)
class TlsFiles:
    """Where a CA certificate, a server certificate and its key are (PEM)."""

    ca: Path  # what a client trusts (`--central-ca`, `ektp-sync status --ca`)
    cert: Path  # what a server presents (`--tls-cert`)
    key: Path  # its private key (`--tls-key`), 0600

    @classmethod
    def in_dir(cls, directory: Path) -> TlsFiles:
        return cls(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)


def make_certificates(
    directory: Path, names: Sequence[str] = LOOPBACK_NAMES, days: int = VALID_DAYS
) -> TlsFiles:
    """A fresh CA and a server certificate for `names` (IP addresses and DNS names) in
    `directory`. The CA's own key is never written: nothing more can be signed with it, so
    leaking the directory later cannot mint a certificate the nodes would trust."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    files = TlsFiles.in_dir(directory)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ektp-sync throwaway CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    server = (
        _builder(server_name, ca_name, server_key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files.key.unlink(missing_ok=True)  # a new certificate needs its own key, not an old one
    read_or_create(
        files.key,
        lambda: server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a little clock skew is no failure
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt
