"""E-mail receiver against a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS required on
submission, SMTPS, AUTH only over TLS, a certificate from a CA made in the fixture."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from tests.alerting.test_receivers_support import make_alert, make_context, make_notification

USER, PASSWORD = "alerts@ipo.example.cn", "mail-pw"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject, issuer, key, signer, *, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Shouwang test CA")])
    ca_cert = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    server_cert = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                       ca_name, server_key, ca_key, ca=False,
                       san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder, context


class Mailbox:
    """aiosmtpd handler: keeps accepted mail; some recipients are refused."""

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope, session.ssl is not None, session.authenticated))
        return "250 OK queued"


def authenticate(server, session, envelope, mechanism, auth_data):
    # handled=False: let aiosmtpd answer 535 itself (its default stays silent on failure).
    return AuthResult(success=auth_data.login.decode() == USER
                      and auth_data.password.decode() == PASSWORD, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(pki):
    """Start (mode) -> (mailbox, port): "starttls" = submission with STARTTLS required,
    "tls" = SMTPS."""
    _, context = pki
    started = []

    def start(mode: str):
        mailbox, port = Mailbox(), free_port()
        options = dict(authenticator=authenticate, auth_require_tls=True)
        if mode == "starttls":
            controller = Controller(mailbox, hostname="127.0.0.1", port=port,
                                    tls_context=context, require_starttls=True, **options)
        else:
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; SMTPS is TLS from
            # the first byte, so the check is not needed there.
            options["auth_require_tls"] = False
            controller = Controller(mailbox, hostname="127.0.0.1", port=port,
                                    ssl_context=context, **options)
        controller.start()
        started.append(controller)
        return mailbox, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


def mail_settings(port, pki_folder, **extra):
    return {"type": "email", "host": "127.0.0.1", "port": port, "security": "starttls",
            "ca_file": str(pki_folder / "ca.pem"), "username": USER,
            "password": "env:SMTP_PASSWORD", "from_address": "shouwang@ipo.example.cn",
            "to": ["soc@ipo.example.cn"], "cc": ["ops@ipo.example.cn"], "timeout_secs": 5,
            **extra}


def parse(envelope):
    return email.message_from_bytes(envelope.original_content, policy=email.policy.default)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_multipart_mail_over_tls_with_auth(smtp_server, pki, password, security):
    mailbox, port = smtp_server(security)
    receiver = build_receiver("mail", mail_settings(port, pki[0], security=security),
                              make_context())
    alert = make_alert(labels={"user_agent": "<script>alert(1)</script>"},
                       annotations={"summary": "UA <script>alert(1)</script>"})
    await receiver.send(make_notification(alert))
    envelope, over_tls, authenticated = mailbox.messages[0]
    # aiosmtpd marks only STARTTLS sessions as TLS; the SMTPS port speaks nothing but TLS.
    assert authenticated and (over_tls or security == "tls")
    assert sorted(envelope.rcpt_tos) == ["ops@ipo.example.cn", "soc@ipo.example.cn"]
    message = parse(envelope)
    assert message["Subject"] == "[守望][告警:1] 特别重大事件（I 级） SSH brute force - patent-exam"
    assert message["Cc"] == "ops@ipo.example.cn"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "开始时间：2025-11-25 21:43:35 CST" in text
    assert "&lt;script&gt;" in html and "<script>" not in html


async def test_unknown_ca_is_not_retryable(smtp_server, pki, password):
    _, port = smtp_server("tls")
    settings = mail_settings(port, pki[0], security="tls")
    del settings["ca_file"]                        # the system CAs do not know the test CA
    receiver = build_receiver("mail", settings, make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert not failure.value.retryable


async def test_wrong_password_is_not_retryable_and_not_shown(smtp_server, pki, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "guess-123")
    _, port = smtp_server("starttls")
    receiver = build_receiver("mail", mail_settings(port, pki[0]), make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert not failure.value.retryable and "535" in str(failure.value)
    assert "guess-123" not in str(failure.value)


@pytest.mark.parametrize("recipient, retryable", [("nobody@ipo.example.cn", False),
                                                  ("full@ipo.example.cn", True)])
async def test_refused_recipients(smtp_server, pki, password, recipient, retryable):
    mailbox, port = smtp_server("starttls")
    receiver = build_receiver("mail", mail_settings(port, pki[0], to=[recipient], cc=[]),
                              make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.retryable is retryable and mailbox.messages == []


async def test_one_refused_recipient_does_not_stop_the_others(smtp_server, pki, password):
    mailbox, port = smtp_server("starttls")
    receiver = build_receiver("mail", mail_settings(
        port, pki[0], to=["soc@ipo.example.cn", "nobody@ipo.example.cn"], cc=[]),
        make_context())
    await receiver.send(make_notification())
    assert mailbox.messages[0][0].rcpt_tos == ["soc@ipo.example.cn"]


async def test_server_down_is_retryable(pki, password):
    receiver = build_receiver("mail", mail_settings(free_port(), pki[0]), make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.retryable


def test_password_needs_tls():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="never sent without TLS"):
        build_receiver("mail", {"type": "email", "host": "127.0.0.1", "security": "none",
                                "username": "u", "password": "env:X", "from_address": "a@b.c",
                                "to": ["d@e.f"]}, make_context())
