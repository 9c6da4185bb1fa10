"""Real receivers on 127.0.0.1 free ports: the Teams webhook stand-in (HTTP) and SMTP servers (aiosmtpd), plain or
with STARTTLS and a login, using a certificate made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notifier.devreceivers import Inbox, credentials, http_app, smtp_server
from tests.support.emulator import free_port
from tests.support.servers import running

SMTP_USER, SMTP_PASSWORD = "mlops-bot", "Sm7p-P4ssw0rd-xyz"
WEBHOOK_SECRET = "sig=W3bh00k-S1gnature-abc"


@dataclass
class Webhook:
    inbox: Inbox
    base: str

    @property
    def url(self) -> str:
        """Shaped like a Workflows URL: the path and the `sig` query are the secret."""
        return f"{self.base}/webhook/workflows/abc123/triggers/manual/paths/invoke?api-version=1&{WEBHOOK_SECRET}"


@dataclass
class Mailbox:
    inbox: Inbox
    port: int


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    inbox = Inbox()
    with running(http_app(inbox)) as base:
        yield Webhook(inbox, base)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    inbox, port = Inbox(), free_port()
    server = smtp_server(inbox, port)
    server.start()
    try:
        yield Mailbox(inbox, port)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it through NOTIFIER_SMTP_CA_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def secure_mailbox(certificate: tuple[Path, Path]) -> Iterator[Mailbox]:
    """SMTP that requires STARTTLS and a login (SMTP_USER / SMTP_PASSWORD)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    inbox, port = Inbox(), free_port()
    server = smtp_server(inbox, port, starttls=context, authenticator=credentials(SMTP_USER, SMTP_PASSWORD))
    server.start()
    try:
        yield Mailbox(inbox, port)
    finally:
        server.stop()
