"""Configuration models shared by every component, and the way the root model is assembled.

Every model is strict (`extra="forbid"`): a typo is an error, not a silently ignored key.
Polymorphic blocks carry a `type:` key and are validated against the model registered for that
type (a pydantic discriminated union built from the registries at start-up).
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(StrictModel):
    queue_max_events: int = Field(20_000, ge=1, description="events the queue holds before "
                                  "sources wait (backpressure)")
    batch_max_events: int = Field(2_000, ge=1, description="events written to the store at once")
    batch_max_wait_secs: float = Field(0.05, gt=0, le=60, description="how long a partial batch "
                                       "waits for more events")


class NodeSettings(StrictModel):
    name: str = Field(default_factory=socket.gethostname,
                      description="this node's name (host.name of events it collects)")
    data_dir: Path = Field(Path("var"), description="where state lives: store, offsets, spools; "
                           "relative paths are relative to the working directory")


def component_union(models: list[type[BaseModel]]) -> Any:
    """The type of a polymorphic block: one of `models`, chosen by its `type` key."""
    if not models:
        raise ValueError("no component models registered")
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]
