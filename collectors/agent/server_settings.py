"""The server's `agents:` block: its SM2 identity and the agents it trusts.

    agents:
      identity_key: /etc/shouwang/server.key      # SM2 private key (PEM); agents hold its .pub
      identity_passphrase: env:SHOUWANG_SERVER_KEY_PASSPHRASE   # if the PEM is encrypted
      window_secs: 300                             # batches older/newer than this: rejected
      trusted:
        web-01: {public_key: /etc/shouwang/agents/web-01.pub}

Without this block the agent endpoint is not mounted (404). `build_receiver` loads the keys;
unreadable or malformed keys are errors at start, naming the file.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from collectors.agent.settings import AGENT_ID_PATTERN
from core.secrets import SecretRef
from core.settings import StrictModel

DEFAULT_MAX_BATCH_BYTES = 16 << 20
DEFAULT_MAX_BATCH_EXPANDED_BYTES = 128 << 20
DEFAULT_MAX_BATCH_EVENTS = 50_000


class TrustedAgent(StrictModel):
    public_key: Path = Field(description="the agent's SM2 public key (PEM)")


class AgentsSettings(StrictModel):
    identity_key: Path = Field(description="this server's SM2 private key (PEM): agents encrypt "
                               "session keys to its public key")
    identity_passphrase: SecretRef | None = Field(None, description="passphrase of an "
                                                  "encrypted identity_key")
    trusted: dict[str, TrustedAgent] = Field(default_factory=dict, description="agent ids and "
                                             "their public keys; others are rejected")
    window_secs: float = Field(300.0, ge=5, le=86400, description="accepted clock difference "
                               "between an agent and this server")
    max_batch_bytes: int = Field(DEFAULT_MAX_BATCH_BYTES, ge=1024, description="largest "
                                 "sealed batch accepted (413 beyond)")
    max_batch_expanded_bytes: int = Field(DEFAULT_MAX_BATCH_EXPANDED_BYTES, ge=1024,
                                          description="largest decompressed batch accepted")
    max_batch_events: int = Field(DEFAULT_MAX_BATCH_EVENTS, ge=1, description="most events "
                                  "in one batch (413 beyond)")

    @field_validator("trusted")
    @classmethod
    def _agent_ids(cls, trusted: dict[str, TrustedAgent]) -> dict[str, TrustedAgent]:
        import re

        for agent_id in trusted:
            if not re.match(AGENT_ID_PATTERN, agent_id):
                raise ValueError(f"agent id {agent_id!r} must be letters, digits, '_', '.' or "
                                 "'-' (at most 64)")
        return trusted


def build_receiver(settings: AgentsSettings):
    """The ChannelReceiver for these settings (keys read now)."""
    from crypto.channel import ChannelReceiver
    from crypto.settings import load_signing_key, load_verify_key

    identity = load_signing_key(settings.identity_key, settings.identity_passphrase)
    keys = {agent_id: load_verify_key(agent.public_key)
            for agent_id, agent in settings.trusted.items()}
    return ChannelReceiver(identity, keys, window_secs=settings.window_secs)
