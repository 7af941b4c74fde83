"""The receiver catalog: `type:` name -> settings model + factory, and building a receiver.

    receiver_catalog()                         a new Registry[ReceiverSpec] of every type below
    validate_receiver(name, raw, catalog)      raw settings -> that type's strict model
    build_receiver(name, raw, ctx, ...)        -> Receiver, metered, rate limited if configured

Types: webhook, email, dingtalk, wecom, feishu, alertmanager, syslog. Registration is explicit
here and happens when the catalog is asked for (nothing registers at import time).

What build_receiver returns (outermost first):
    RateLimitedReceiver   only for settings with an enabled ``rate_limit`` (the IM robots)
    MeteredReceiver       shouwang_receiver_messages_{sent,failed}_total
    <type>Receiver        the receiver itself
All three offer ``name``, ``async send(notification)`` (raising ReceiverError) and ``aclose()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ValidationError

from alerting.receivers import alertmanager, dingtalk, email, feishu, syslog, webhook, wecom
from alerting.receivers.base import MeteredReceiver, Receiver, ReceiverContext
from alerting.receivers.ratelimit import DeferredOutcome, RateLimitedReceiver
from core.errors import ConfigError
from core.registry import Registry


@dataclass(frozen=True)
class ReceiverSpec:
    type: str
    settings: type[BaseModel]
    build: Callable[[str, Any, ReceiverContext], Any]
    description: str = ""


SPECS = (
    ReceiverSpec("webhook", webhook.WebhookSettings, webhook.build,
                 "POST the Alertmanager version-4 webhook payload (bridges, SOAR, ticketing)"),
    ReceiverSpec("email", email.EmailSettings, email.build,
                 "mail over SMTP with STARTTLS or SMTPS: HTML + plain text"),
    ReceiverSpec("dingtalk", dingtalk.DingTalkSettings, dingtalk.build,
                 "DingTalk custom robot, markdown, signed URL (加签), @mobiles"),
    ReceiverSpec("wecom", wecom.WeComSettings, wecom.build,
                 "WeCom (企业微信) group robot, markdown up to 4096 bytes"),
    ReceiverSpec("feishu", feishu.FeishuSettings, feishu.build,
                 "Feishu (飞书) custom bot, interactive card or post, signed body"),
    ReceiverSpec("alertmanager", alertmanager.AlertmanagerSettings, alertmanager.build,
                 "push alerts into an Alertmanager (POST /api/v2/alerts)"),
    ReceiverSpec("syslog", syslog.SyslogSettings, syslog.build,
                 "RFC 5424 syslog to a SOC over UDP or TCP (octet counting)"),
)


def receiver_catalog() -> Registry[ReceiverSpec]:
    catalog: Registry[ReceiverSpec] = Registry("receiver type")
    for spec in SPECS:
        catalog.register(spec.type, spec)
    return catalog


def validate_receiver(name: str, raw: Mapping[str, Any] | BaseModel,
                      catalog: Registry[ReceiverSpec]) -> BaseModel:
    """The strict settings of receiver ``name``; ConfigError names the key that is wrong."""
    data = raw.model_dump() if isinstance(raw, BaseModel) else dict(raw)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ConfigError("a receiver needs a type", key=f"receivers.{name}.type")
    if kind not in catalog:
        raise ConfigError(catalog.unknown_message(kind), key=f"receivers.{name}.type")
    spec = catalog.get(kind)
    try:
        return spec.settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(first["msg"], key=f"receivers.{name}.{where}") from None


def build_receiver(name: str, raw: Mapping[str, Any] | BaseModel, ctx: ReceiverContext, *,
                   catalog: Registry[ReceiverSpec] | None = None,
                   on_deferred: DeferredOutcome | None = None) -> Receiver:
    """Validate and build receiver ``name``; ``on_deferred`` hears the outcome of digests."""
    catalog = catalog if catalog is not None else receiver_catalog()
    settings = raw if type(raw) in {spec.settings for _, spec in catalog.items()} \
        else validate_receiver(name, raw, catalog)
    spec = catalog.get(settings.type)  # type: ignore[attr-defined]
    receiver: Any = MeteredReceiver(spec.build(name, settings, ctx), spec.type, ctx.metrics)
    limit = getattr(settings, "rate_limit", None)
    if limit is not None and limit.enabled:
        receiver = RateLimitedReceiver(receiver, limit, clock=ctx.clock, sleep=ctx.sleep,
                                       metrics=ctx.metrics, on_deferred=on_deferred)
    return receiver
