"""Configuration of `shouwang agent`: the `agent:` and `spool:` blocks, plus the `node:`,
`pipeline:` and `sources:` blocks the server uses too (same source types, same models).

The server side (`agents:` in the server's configuration) lives in server_settings.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model, field_validator

from core.components import ComponentSpec
from core.registry import Registry
from core.secrets import SecretRef
from core.settings import NodeSettings, PipelineSettings, StrictModel, component_union

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DEFAULT_SPOOL_MAX_BYTES = 1 << 30
MIN_SPOOL_MAX_BYTES = 64 * 1024


class ServerTarget(StrictModel):
    """One server the agent may ship to."""

    url: str = Field(description="base URL of the server's API, e.g. https://10.0.0.5:8700")
    token: SecretRef = Field(description="API token with the agent role: env:NAME or "
                             "file:/path")
    public_key: Path = Field(description="the server's SM2 public key (PEM): batches are "
                             "encrypted to it")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not re.match(r"^https?://[^/\s]+$", value):
            raise ValueError("url must be http(s)://host[:port] (no path)")
        return value


class AgentBlock(StrictModel):
    """The `agent:` block."""

    id: str = Field(description="this agent's id; the server's agents.trusted names it")
    identity_key: Path = Field(description="this agent's SM2 private key (PEM) that signs "
                               "every batch (`shouwang crypto keygen --out ... --pubout ...`)")
    identity_passphrase: SecretRef | None = Field(None, description="passphrase of an "
                                                  "encrypted identity_key")
    servers: list[ServerTarget] = Field(min_length=1, description="tried in this order; the "
                                        "agent stays with the first that answers")
    heartbeat_secs: float = Field(30.0, gt=0, le=3600, description="interval of the "
                                  "shouwang.agent heartbeat event")
    request_timeout_secs: float = Field(30.0, gt=0, le=600, description="longest wait for a "
                                        "server's answer to one batch")
    retry_max_secs: float = Field(30.0, gt=0, le=3600, description="longest pause between "
                                  "rounds of attempts while no server answers")
    failback_secs: float = Field(300.0, gt=0, description="after failing over, try the first "
                                 "server again after this long")
    max_in_flight: int = Field(8, ge=1, le=64, description="batches on their way at once; "
                               "1 keeps the spool order exactly")
    rekey_after_secs: float = Field(3600.0, ge=1, description="new channel session key after "
                                    "this long")
    metrics_listen: str | None = Field(None, description="host:port serving the agent's "
                                       "Prometheus metrics (off by default)")

    @field_validator("id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        if not re.match(AGENT_ID_PATTERN, value):
            raise ValueError("agent id must be letters, digits, '_', '.' or '-' (at most 64)")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("metrics_listen must be host:port")
        return value


class AgentSpoolSettings(StrictModel):
    """The `spool:` block: where batches wait for a server."""

    max_bytes: int = Field(DEFAULT_SPOOL_MAX_BYTES, ge=MIN_SPOOL_MAX_BYTES, description=
                           "spool size past which the oldest batches are evicted (counted, "
                           "and reported by an event)")
    compression_level: int = Field(3, ge=1, le=19, description="zstd level of spooled and "
                                   "shipped batches")


def agent_settings_model(sources: Registry[ComponentSpec]) -> type[BaseModel]:
    """The root model of an agent configuration, with one variant per registered source."""
    source_type = component_union([spec.settings for _, spec in sources.items()])
    return create_model(
        "ShouwangAgentSettings",
        __base__=StrictModel,
        __doc__="Configuration of `shouwang agent`.",
        node=(NodeSettings, Field(default_factory=NodeSettings)),
        agent=(AgentBlock, ...),
        spool=(AgentSpoolSettings, Field(default_factory=AgentSpoolSettings)),
        pipeline=(PipelineSettings, Field(default_factory=PipelineSettings)),
        sources=(dict[str, source_type], Field(default_factory=dict,
                                               description="sources keyed by an id you choose")),
    )


def load_agent_settings(path: str | Path, sources: Registry[ComponentSpec]) -> Any:
    """Validated agent settings; errors name file, line and key (core.configfile)."""
    from core.configfile import load_layers

    return agent_settings_from(load_layers(path), sources)


def agent_settings_from(document, sources: Registry[ComponentSpec]) -> Any:
    """Validated agent settings from an already read ConfigDocument."""
    from core.configfile import validate

    def hint(error: dict) -> str | None:
        if error.get("type") != "union_tag_invalid":
            return None
        return sources.unknown_message(str(error.get("ctx", {}).get("tag", "")))

    return validate(agent_settings_model(sources), document, hint=hint)
