"""Rendering notifications into what people read: IM title + markdown, mail subject + HTML + text.

Templates are Jinja2 in a sandbox (a user template can read the context, call nothing
dangerous). Defaults live in ``alerting/templates/<zh|en>/``; a receiver may point any of the
five templates at its own file (``templates:`` in its settings). Each output kind has its own
escaping, applied to every ``{{ value }}`` so a template author cannot forget it:

    html      Jinja2 autoescape: ``<script>`` in a label prints as ``&lt;script&gt;``.
    markdown  ``& < >`` become entities, ``[ ]`` become full-width brackets and newlines become
              spaces, so a hostile value (an attacker's User-Agent) can neither inject HTML
              into a robot's markdown, nor a clickable link, nor a heading of its own.
    text      as is (plain-text mail; headers are checked by the mail library).

Contract: rendering never raises. A template that fails (syntax error, unknown variable, a
sandbox violation, a missing override file) is replaced by a built-in plain-text rendering that
always works, and shouwang_template_render_errors_total{template} counts it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jinja2 import FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape
from prometheus_client import CollectorRegistry, Counter
from pydantic import Field, FilePath, field_validator

from alerting.model import Notification
from alerting.templates.view import notification_view, zone
from core.settings import StrictModel

log = logging.getLogger(__name__)

DEFAULTS_DIR = Path(__file__).parent
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_MAX_ALERTS_LISTED = 20
MAX_TITLE_CHARS = 200
TemplateKind = Literal["title", "body", "subject", "html", "text"]

# kind -> (default file name, escaping)
KINDS: dict[str, tuple[str, str]] = {
    "title": ("im_title.j2", "text"),
    "body": ("im_body.md.j2", "markdown"),
    "subject": ("mail_subject.j2", "text"),
    "html": ("mail_body.html.j2", "html"),
    "text": ("mail_body.txt.j2", "text"),
}
_SINGLE_LINE = ("title", "subject")


class TemplateSettings(StrictModel):
    """The ``templates:`` block of a receiver."""

    language: Literal["zh", "en"] | None = Field(
        None, description="zh or en; unset: the notification's own language")
    timezone: str = Field(DEFAULT_TIMEZONE, description="zone that times are shown in")
    max_alerts_listed: int = Field(DEFAULT_MAX_ALERTS_LISTED, ge=1, le=500,
                                   description="alerts listed one by one; the rest are counted")
    title: FilePath | None = Field(None, description="IM title template file")
    body: FilePath | None = Field(None, description="IM markdown body template file")
    subject: FilePath | None = Field(None, description="mail subject template file")
    html: FilePath | None = Field(None, description="mail HTML body template file")
    text: FilePath | None = Field(None, description="mail plain-text body template file")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (KeyError, ValueError):    # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai, UTC)") from None
        return value


class TemplateMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.render_errors = Counter(
            "shouwang_template_render_errors_total",
            "templates that failed to render (a plain-text fallback was sent instead)",
            ["template"], registry=registry)


@dataclass(frozen=True)
class ImMessage:
    title: str
    markdown: str
    fallback: bool = False      # True when a template failed and the plain text was used


@dataclass(frozen=True)
class MailMessage:
    subject: str
    html: str
    text: str
    fallback: bool = False


_MD_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "［", "]": "］",
                             "\r": " ", "\n": " "})


def markdown_escape(value: Any) -> Any:
    """Finalizer of the markdown environment: neutralize a printed value (Markup passes)."""
    if isinstance(value, Markup) or value is None:
        return "" if value is None else value
    if isinstance(value, (int, float)):
        return value
    return str(value).translate(_MD_ESCAPES)


def _url(value: Any) -> Markup:
    """Filter ``url``: an http(s) link safe inside markdown ``( )`` and HTML attributes;
    anything else (javascript:, data:) prints as nothing."""
    text = str(value or "").strip()
    if not re.match(r"(?i)^https?://", text):
        return Markup("")
    safe = "".join(ch if ch.isascii() and ch not in ' "\'<>()[]`\\' else
                   "".join(f"%{byte:02X}" for byte in ch.encode()) for ch in text)
    return Markup(safe)


def _environment(escaping: str) -> SandboxedEnvironment:
    options: dict[str, Any] = {"undefined": StrictUndefined, "trim_blocks": True,
                               "lstrip_blocks": True, "keep_trailing_newline": False}
    if escaping == "html":
        options["autoescape"] = True
    elif escaping == "markdown":
        options["finalize"] = markdown_escape
    env = SandboxedEnvironment(loader=FileSystemLoader(str(DEFAULTS_DIR)), **options)
    env.filters["url"] = _url
    return env


class TemplateRenderer:
    """Renders one receiver's notifications with its settings; never raises (see module)."""

    def __init__(self, settings: TemplateSettings, metrics: TemplateMetrics):
        self.settings = settings
        self.metrics = metrics
        self._tz = zone(settings.timezone)
        self._envs = {name: _environment(name) for name in ("html", "markdown", "text")}

    def im(self, notification: Notification, extra: dict[str, Any] | None = None) -> ImMessage:
        context = self._context(notification, extra)
        title, bad_title = self._render("title", context)
        body, bad_body = self._render("body", context)
        return ImMessage(title, body, bad_title or bad_body)

    def mail(self, notification: Notification,
             extra: dict[str, Any] | None = None) -> MailMessage:
        context = self._context(notification, extra)
        subject, bad_subject = self._render("subject", context)
        html, bad_html = self._render("html", context)
        text, bad_text = self._render("text", context)
        return MailMessage(subject, html, text, bad_subject or bad_html or bad_text)

    def _context(self, notification: Notification, extra: dict[str, Any] | None
                 ) -> dict[str, Any]:
        language = self.settings.language or notification.language
        if language not in ("zh", "en"):
            language = "zh"
        return notification_view(notification, language=language, tz=self._tz,
                                 max_alerts_listed=self.settings.max_alerts_listed,
                                 extra=extra)

    def _render(self, kind: str, context: dict[str, Any]) -> tuple[str, bool]:
        """(rendered text, True when the fallback was used)."""
        file_name, escaping = KINDS[kind]
        override: Path | None = getattr(self.settings, kind)
        name = str(override) if override else f"{context['language']}/{file_name}"
        try:
            template = self._load(escaping, override, name)
            text = template.render(context)
        except Exception as exc:  # noqa: BLE001 - any template failure must fall back
            self.metrics.render_errors.labels(template=name).inc()
            log.warning("template %s failed to render (%s: %s); sending plain text",
                        name, type(exc).__name__, exc)
            return fallback_text(kind, context), True
        if kind in _SINGLE_LINE:
            text = " ".join(text.split())[:MAX_TITLE_CHARS]
        return text.strip() + ("" if kind in _SINGLE_LINE else "\n"), False

    def _load(self, escaping: str, override: Path | None, name: str) -> Template:
        env = self._envs[escaping]
        if override is None:
            return env.get_template(name)
        # Read at every render so an edited file applies without a restart; a removed file
        # falls back like any other failure.
        return env.from_string(override.read_text(encoding="utf-8"))


def fallback_text(kind: str, context: dict[str, Any]) -> str:
    """Plain text from the context alone: no template, cannot fail. Values are put on one line
    each (and escaped for markdown), so a hostile value cannot shape the message either."""
    def value(item: Any) -> str:
        text = " ".join(str(item).split())
        return markdown_escape(text) if kind == "body" else text

    head = (f"[{context['status_text']}:{context['alerts_total']}] "
            f"{value(context['rule'])} ({context['top']['severity_text']})")
    if kind in _SINGLE_LINE:
        return head[:MAX_TITLE_CHARS]
    lines = [head]
    for alert in context["alerts"]:
        fields = (alert["status_text"], alert["rule"], alert["system"], alert["component"],
                  alert["host"], alert["source_ip"], alert["starts_at"], alert["summary"])
        lines.append("- " + " ".join(value(field) for field in fields if field))
    if context["alerts_not_listed"]:
        lines.append(f"+{context['alerts_not_listed']}")
    if kind == "body":
        return "  \n".join(lines) + "\n"          # two spaces: a markdown line break
    text = "\n".join(lines) + "\n"
    return f"<pre>{escape(text)}</pre>\n" if kind == "html" else text
