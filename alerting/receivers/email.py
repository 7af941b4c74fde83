"""E-mail receiver (`type: email`): multipart mail (plain text + HTML) over SMTP.

    MailTransport.send(message)   the one-method interface; SmtpTransport (aiosmtplib) is the
                                  default, tests swap in nothing: they run a real SMTP server

Security: ``starttls`` (submission, port 587: plain connect, then STARTTLS is required — a
server that does not offer it fails the send, we never fall back to plaintext), ``tls``
(SMTPS, port 465: TLS from the first byte), or ``none`` (only for a relay on loopback). The
server certificate is always verified, against ``ca_file`` when given. The password is a
SecretRef, revealed at send time only.
Errors: connection failures, timeouts and 4xx answers are retryable; 5xx answers (bad
credentials 535, unknown recipient 550), TLS verification failures and a server without
STARTTLS are not. When some recipients are refused and others accepted, the mail counts as
sent (those who got it cannot be unsent) and the refusal is logged.
"""
from __future__ import annotations

import logging
import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal, Mapping, Protocol, runtime_checkable

import aiosmtplib
from pydantic import Field, model_validator

from alerting.model import Notification
from alerting.receivers.base import (DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS, ReceiverContext,
                                     ReceiverError)
from alerting.receivers.im import only_sendable
from alerting.templates.render import MailMessage, TemplateRenderer, TemplateSettings
from core.secrets import SecretRef
from core.settings import StrictModel

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_ADDRESS = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


class EmailSettings(StrictModel):
    type: Literal["email"] = "email"
    host: str = Field(min_length=1, description="SMTP server")
    port: int | None = Field(None, ge=1, le=65535, description="default: 587 starttls, "
                             "465 tls, 25 none")
    security: Literal["starttls", "tls", "none"] = "starttls"
    ca_file: Path | None = Field(None, description="CA that signed the server certificate")
    username: str | None = None
    password: SecretRef | None = None
    from_address: str = Field(pattern=_ADDRESS)
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    timeout_secs: float = Field(DEFAULT_TIMEOUT_SECS, gt=0, le=MAX_TIMEOUT_SECS)
    send_resolved: bool = True
    templates: TemplateSettings = Field(default_factory=TemplateSettings)

    @model_validator(mode="after")
    def _check(self):
        for address in [*self.to, *self.cc]:
            if not re.match(_ADDRESS, address):
                raise ValueError(f"not a mail address: {address!r}")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and self.security == "none":
            raise ValueError("a password is never sent without TLS: use starttls or tls")
        return self


class MailTransportError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        self.retryable = retryable
        super().__init__(message)


@runtime_checkable
class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """aiosmtplib, one connection per mail (alert mail is rare; no idle connection to keep)."""

    def __init__(self, settings: EmailSettings):
        self.settings = settings
        self._tls = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None)

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            _, reply = await aiosmtplib.send(
                message, hostname=s.host, port=s.port or DEFAULT_PORTS[s.security],
                username=s.username, password=s.password.reveal() if s.password else None,
                use_tls=s.security == "tls", start_tls=True if s.security == "starttls" else False,
                tls_context=self._tls, timeout=s.timeout_secs)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise MailTransportError(f"all recipients refused: {codes}",
                                     retryable=all(400 <= code < 500 for code in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailTransportError(f"server answered {exc.code} {exc.message}",
                                     retryable=400 <= exc.code < 500) from None
        except (ssl.SSLCertVerificationError, ssl.SSLError) as exc:
            raise MailTransportError(f"TLS failed: {exc}", retryable=False) from None
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectError,
                aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            if isinstance(exc.__cause__ or exc.__context__, ssl.SSLError):
                raise MailTransportError(f"TLS failed: {exc}", retryable=False) from None
            raise MailTransportError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        except aiosmtplib.SMTPException as exc:
            # What is left is the server lacking something we require (STARTTLS, AUTH):
            # configuration, which a retry does not fix.
            raise MailTransportError(f"{type(exc).__name__}: {exc}", retryable=False) from None
        log.debug("mail accepted: %s", reply)


def build_message(settings: EmailSettings, mail: MailMessage, *, now: float) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = settings.from_address
    message["To"] = ", ".join(settings.to)
    if settings.cc:
        message["Cc"] = ", ".join(settings.cc)
    message["Date"] = formatdate(now, localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"       # RFC 3834: no auto-replies to alerts
    message.set_content(mail.text, subtype="plain", charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    return message


class EmailReceiver:
    type = "email"

    def __init__(self, name: str, settings: EmailSettings, ctx: ReceiverContext,
                 transport: MailTransport | None = None):
        self.name = name
        self.settings = settings
        self._clock = ctx.clock
        self._transport = transport or SmtpTransport(settings)
        self.renderer = TemplateRenderer(settings.templates, ctx.template_metrics)

    async def send(self, notification: Notification,
                   extra: Mapping[str, Any] | None = None) -> None:
        sendable = only_sendable(notification, self.settings.send_resolved)
        if sendable is None:
            return
        mail = self.renderer.mail(sendable, dict(extra or {}))
        try:
            await self._transport.send(build_message(self.settings, mail, now=self._clock()))
        except MailTransportError as exc:
            raise ReceiverError(self.name, f"SMTP {self.settings.host}: {exc}",
                                retryable=exc.retryable) from None


def build(name: str, settings: EmailSettings, ctx: ReceiverContext) -> EmailReceiver:
    return EmailReceiver(name, settings, ctx)
