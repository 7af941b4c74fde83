"""Serving the API with uvicorn under our settings.

`build_server` returns a `uvicorn.Server`; the caller runs ``await server.serve()`` inside its
own event loop (next to the pipeline) and sets ``server.should_exit = True`` to stop it.
Proxy headers are off: the client address decides loopback trust (api/auth.py), so it must be
the socket's peer, never a header a client can write.
"""
from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from api.settings import ApiSettings


def server_config(app: FastAPI, settings: ApiSettings, *, port: int | None = None,
                  log_config: dict | None = None) -> uvicorn.Config:
    """`port` overrides the settings (tests pass 0 for an ephemeral port)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        proxy_headers=False,
        server_header=False,
        # The application owns logging; uvicorn's dictConfig would replace its handlers.
        log_config=log_config,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )


def build_server(app: FastAPI, settings: ApiSettings, *, port: int | None = None
                 ) -> uvicorn.Server:
    return uvicorn.Server(server_config(app, settings, port=port))
