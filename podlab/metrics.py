"""Prometheus metrics for every component, on prometheus_client.

Each component keeps its metrics in a CollectorRegistry of its own (so tests
can run several components in one process) and serves it with
`serve_metrics`: prometheus_client's HTTP server, which runs on a thread of
its own, wrapped so it lives and dies with an asyncio task.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0)


def render(registry: CollectorRegistry) -> str:
    """The registry in Prometheus' text format."""
    return generate_latest(registry).decode()


async def serve_metrics(registry: CollectorRegistry, host: str, port: int,
                        started: asyncio.Event | None = None) -> None:
    """Serve GET /metrics on host:port until cancelled. A port in use is logged, not fatal."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as err:
        log.warning("metrics disabled: cannot listen on %s:%d: %s", host, port, err)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
        return
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    if started is not None:
        started.set()
    try:
        await asyncio.Event().wait()
    finally:
        server.shutdown()
        thread.join(5)
