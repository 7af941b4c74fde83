"""Receivers: where notifications go (webhook, email, IM robots, Alertmanager, syslog).

See base.py for the contract and catalog.py for the types and how one is built."""
