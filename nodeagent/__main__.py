"""`podlab-nodeagent`: run one node agent (see nodeagent.config for the flags)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nodeagent.agent import NodeAgent, make_runtime
from nodeagent.config import AgentConfig, parse_args
from podlab.client import Client

log = logging.getLogger("podlab.nodeagent")


async def serve(config: AgentConfig) -> None:
    """Run the agent and its gRPC server until cancelled."""
    from nodeagent.server import start_server

    runtime = make_runtime(config)
    client = Client(config.server)
    agent = NodeAgent(config, client, runtime)
    server = await start_server(agent, config.listen)
    try:
        await agent.run()
    finally:
        await server.stop(1.0)
        await runtime.close()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        from podlab.logs import setup_logging
        setup_logging("nodeagent")
    except ImportError:  # pragma: no cover
        logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config))


if __name__ == "__main__":
    main()
