"""Serving the REST app: HTTPS only, with client certificates signed by the cluster CA."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from controlplane.api import Api
from controlplane.rest.app import make_app


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS for the API: this server's certificate, and every client must show one the CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve_https(api: Api, host: str, port: int, context: ssl.SSLContext) -> tuple[web.AppRunner, int]:
    """Start serving on host:port (0 = a free port); returns the runner (cleanup() stops it) and the port."""
    runner = web.AppRunner(make_app(api), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    return runner, sockets[0].getsockname()[1] if sockets else port
