"""`shouwang check-config [FILE]`: validate the configuration and build every component without
starting anything, then run health checks (data directory writable, secrets resolvable, which
watched files exist, the SM2 key files of agents:). Exit 0 when all is well, 1 with warnings,
2 when the config is invalid or a key file it names cannot be used.

FILE may also be an agent's configuration (it has an `agent:` block, `shouwang agent`): then
its sources, its own identity key and the servers' public keys are checked.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cli.common import add_config_argument
from core.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, ShouwangError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check-config", help="validate the configuration (server or "
                                   "agent) and build its components without starting them")
    add_config_argument(parser, positional=True)
    parser.set_defaults(handler=run)


def _data_dir_writable(path: Path) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".check-"):
            pass
    except OSError as exc:
        return f"data directory {path} is not writable: {exc.strerror}"
    return None


def _secret_problems(named_secrets) -> list[str]:
    problems = []
    for config_key, secret in named_secrets:
        if secret is None:
            continue
        try:
            secret.reveal()
        except ShouwangError as exc:
            problems.append(f"{config_key}: {exc}")
    return problems


def _api_secrets(settings):
    for token_id, token in (getattr(settings.api, "tokens", None) or {}).items():
        yield f"api.tokens.{token_id}", getattr(token, "secret", None)


def _agent_secrets(settings):
    for number, server in enumerate(settings.agent.servers):
        yield f"agent.servers.{number}.token", server.token


def _health(data_dir: Path, named_secrets, key_problems) -> tuple[list[str], int | None]:
    """Warnings (data directory, secrets, keys) and, when a key file cannot be used, the
    exit code: key errors end the check, each named on stderr."""
    warnings: list[str] = []
    problem = _data_dir_writable(data_dir)
    if problem:
        warnings.append(problem)
    warnings += _secret_problems(named_secrets)
    errors = [problem for problem in key_problems if problem.severity == "error"]
    for problem in errors:
        print(f"shouwang check-config: error: {problem}", file=sys.stderr)
    warnings += [str(problem) for problem in key_problems if problem.severity != "error"]
    return warnings, EXIT_ERROR if errors else None


def _finish(warnings: list[str]) -> int:
    for warning in warnings:
        print(f"warning: {warning}")
    return EXIT_FINDINGS if warnings else EXIT_OK


def run(args) -> int:
    from cli.app import default_registries
    from core.configfile import load_layers

    document = load_layers(args.config)
    registries = default_registries()
    if "agent" in document.data:
        return _check_agent(document, registries)
    return _check_server(document, registries)


def _check_server(document, registries) -> int:
    from cli.app import settings_from
    from cli.monitor import Monitor
    from collectors.agent.keys import server_key_problems

    settings, document, registries = settings_from(document, registries)
    warnings, failed = _health(Path(settings.node.data_dir), _api_secrets(settings),
                               server_key_problems(settings.agents, document))
    if failed is not None:
        return failed
    # Building is the real check: it is what `run` does before it starts anything.
    with open(os.devnull, "w") as quiet:
        monitor = Monitor(settings, registries, config_files=document.files, out=quiet)
    print(f"configuration OK: {', '.join(document.files)}")
    print(f"  store: {settings.store.type}")
    for source in monitor.sources:
        for what in source.describe():
            print(f"  source [{source.id}] {what}")
    print(f"  API: {monitor.api_url}")
    if settings.agents is not None:
        print(f"  agents: {len(settings.agents.trusted)} trusted, keys loaded")
    return _finish(warnings)


def _check_agent(document, registries) -> int:
    from collectors.agent.keys import agent_key_problems
    from collectors.agent.settings import agent_settings_from
    from core.components import BuildContext
    from core.metrics import PipelineMetrics
    from prometheus_client import CollectorRegistry

    settings = agent_settings_from(document, registries.sources)
    warnings, failed = _health(Path(settings.node.data_dir), _agent_secrets(settings),
                               agent_key_problems(settings.agent, document))
    if failed is not None:
        return failed
    registry = CollectorRegistry()
    context = BuildContext(data_dir=Path(settings.node.data_dir), registry=registry,
                           metrics=PipelineMetrics(registry), parsers=registries.parsers,
                           hostname=settings.node.name)
    sources = [registries.sources.get(source.type).build(source_id, source, context)
               for source_id, source in settings.sources.items()]
    print(f"agent configuration OK: {', '.join(document.files)}")
    print(f"  agent: {settings.agent.id}, keys loaded")
    for server in settings.agent.servers:
        print(f"  server: {server.url}")
    for source in sources:
        for what in source.describe():
            print(f"  source [{source.id}] {what}")
    return _finish(warnings)
