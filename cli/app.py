"""The composition root: the one place where components are registered and the application is
built from the validated configuration.

    load_settings(path)  -> validated settings (errors name file, line and key)
    Monitor(settings)    -> store + sources + pipeline + API, started by `shouwang run`
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from core.components import ComponentSpec
from core.configfile import ConfigDocument, load_layers, validate
from core.registry import Registry
from core.settings import NodeSettings, PipelineSettings, StrictModel, component_union


@dataclass
class Registries:
    sources: Registry[ComponentSpec]
    stores: Registry[ComponentSpec]
    parsers: Registry[Any]


def default_registries() -> Registries:
    """Every component Shouwang ships, registered explicitly."""
    from collectors import file_tail, host_metrics, prom_scrape, syslog
    from collectors.parsers.catalog import ALL_PARSERS
    from collectors.packets import source as packets
    from collectors.probes import source as probes
    from storage import elasticsearch, sqlite

    registries = Registries(Registry("source type"), Registry("store type"), Registry("format"))
    for spec in (file_tail.SPEC, syslog.SPEC, host_metrics.SPEC, probes.SPEC, prom_scrape.SPEC,
                 packets.SPEC):
        registries.sources.register(spec.type, spec)
    for spec in (sqlite.SPEC, elasticsearch.SPEC):
        registries.stores.register(spec.type, spec)
    for parser in ALL_PARSERS:
        registries.parsers.register(parser.name, parser)
    return registries


def settings_model(registries: Registries) -> type[BaseModel]:
    """The root settings model, with one variant per registered component type."""
    from alerting.settings import AlertingSettings
    from api.settings import ApiSettings
    from detectors.settings import DetectionSettings
    from collectors.agent.server_settings import AgentsSettings

    source_type = component_union([spec.settings for _, spec in registries.sources.items()])
    store_type = component_union([spec.settings for _, spec in registries.stores.items()])
    default_store = registries.stores.get("sqlite").settings
    return create_model(
        "ShouwangSettings",
        __base__=StrictModel,
        __doc__="Shouwang configuration (config/default.yaml and its *.local.yaml overrides).",
        node=(NodeSettings, Field(default_factory=NodeSettings)),
        api=(ApiSettings, Field(default_factory=ApiSettings)),
        store=(store_type, Field(default_factory=lambda: default_store(type="sqlite"),
                                 description="where events are kept")),
        pipeline=(PipelineSettings, Field(default_factory=PipelineSettings)),
        detection=(DetectionSettings, Field(default_factory=DetectionSettings)),
        alerting=(AlertingSettings | None, Field(None, description="alert lifecycle, routing "
                                                 "and receivers (example: config/alerting.yaml)")),
        sources=(dict[str, source_type], Field(default_factory=dict,
                                               description="sources keyed by an id you choose")),
        agents=(AgentsSettings | None, Field(None, description="agents this server accepts "
                                             "batches from (collectors/agent/README.md)")),
    )


def _hint(registries: Registries):
    def hint(error: dict) -> str | None:
        if error.get("type") != "union_tag_invalid":
            return None
        tag = str(error.get("ctx", {}).get("tag", ""))
        loc = error.get("loc", ())
        registry = registries.stores if loc and loc[0] == "store" else registries.sources
        return registry.unknown_message(tag)
    return hint


def load_settings(path: str | Path, registries: Registries | None = None):
    return settings_from(load_layers(path), registries or default_registries())


def settings_from(document: ConfigDocument, registries: Registries):
    """Validated settings from an already read ConfigDocument (see load_settings)."""
    settings = validate(settings_model(registries), document, hint=_hint(registries))
    _check_sigma_scheduled(settings, document)
    if settings.alerting is not None:
        from alerting.config import check_receivers, check_references

        check_references(settings.alerting, document)
        check_receivers(settings.alerting, document)
    return settings, document, registries


def _check_sigma_scheduled(settings, document: ConfigDocument) -> None:
    """Scheduled Sigma queries run inside Elasticsearch, over the rules of sigma_dirs."""
    scheduled = settings.detection.sigma_scheduled
    if not scheduled.enabled:
        return
    from core.configfile import locate
    from core.errors import ConfigError

    problem = None
    if settings.store.type != "elasticsearch":
        problem = (f"needs store.type elasticsearch (the queries run inside the cluster), "
                   f"not {settings.store.type}")
    elif not settings.detection.sigma_dirs:
        problem = "needs detection.sigma_dirs (the rules to run)"
    if problem:
        loc = ("detection", "sigma_scheduled", "enabled")
        file, line = locate(document.node, loc)
        raise ConfigError(problem, file=file or document.files[0], line=line,
                          key=".".join(loc))


def build_scheduled_sigma(settings, *, registry, data_dir: Path, deliver):
    """The Sigma rules run as scheduled Elasticsearch queries (detectors/sigma/scheduled.py),
    or None when detection or `detection.sigma_scheduled` is off. The cluster is the store's:
    same hosts, credentials and TLS settings, and its data streams are what is searched."""
    detection = settings.detection
    if not (detection.enabled and detection.sigma_scheduled.enabled):
        return None
    from detectors.sigma.scheduled import ScheduledSigma
    from storage.elasticsearch import build_client
    from storage.es_requests import stream_pattern

    store = settings.store
    return ScheduledSigma(detection.sigma_scheduled, detection.sigma_dirs,
                          client_factory=lambda: build_client(store),
                          index=stream_pattern(store.namespace), deliver=deliver,
                          registry=registry, state_path=data_dir / "sigma-scheduled.json")
