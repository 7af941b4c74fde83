"""`shouwang agent --config FILE`: run collectors on this host and ship their events to the
servers named in the file's `agent:` block (collectors/agent/README.md).

Keys: `shouwang crypto keygen --out agent.key --pubout agent.pub` makes the agent's SM2
identity; the server's `agents.trusted` lists agent.pub under the agent's id.
Exit codes: 0 after SIGINT/SIGTERM, 2 on a bad configuration or unreadable key.
"""
from __future__ import annotations

import asyncio
import os

AGENT_CONFIG_ENV = "SHOUWANG_AGENT_CONFIG"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("agent", help="run collectors here and ship events to "
                                   "Shouwang servers (encrypted, signed, spooled)")
    default = os.environ.get(AGENT_CONFIG_ENV)
    parser.add_argument("--config", "-c", default=default, required=default is None,
                        metavar="FILE", help=f"agent configuration (or ${AGENT_CONFIG_ENV}); "
                        "FILE.local.yaml beside it overrides")
    parser.add_argument("--check", action="store_true", help="validate the configuration and "
                        "keys, then exit")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cli.app import default_registries
    from collectors.agent.runner import Agent
    from collectors.agent.settings import load_agent_settings

    registries = default_registries()
    settings = load_agent_settings(args.config, registries.sources)
    if args.check:
        from collectors.agent.keys import agent_key_problems
        from collectors.agent.runner import load_links
        from core.errors import InputError

        errors = [str(p) for p in agent_key_problems(settings.agent) if p.severity == "error"]
        if errors:  # all of them at once, as check-config reports them
            raise InputError("\n  ".join(errors))
        links = load_links(settings)
        print(f"agent {settings.agent.id}: configuration OK, {len(settings.sources)} "
              f"source(s), {len(links)} server(s)")
        return 0
    agent = Agent(settings, registries.sources, registries.parsers)
    return asyncio.run(agent.run())
