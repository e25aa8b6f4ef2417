"""`podlab-nodeagent`: run one node agent (see nodeagent.config for the flags)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys

from nodeagent.agent import NodeAgent, make_runtime
from nodeagent.config import AgentConfig, parse_args
from nodeagent.heartbeat import LeaseHeld
from nodeagent.witness import RECONNECT_OPTIONS
from podlab.client import Client

log = logging.getLogger("podlab.nodeagent")


def start_watchdog(config: AgentConfig) -> subprocess.Popen[bytes]:
    """The fence watchdog, a process of its own in the agent's process group: it outlives
    a frozen or killed agent, and goes with the group when the node is stopped."""
    watchdog = subprocess.Popen([sys.executable, "-m", "nodeagent.watchdog",
                                 "--node-name", config.node_name, "--root-dir", config.root_dir])
    log.info("fence watchdog started pid=%d node=%s", watchdog.pid, config.node_name)
    return watchdog


async def serve(config: AgentConfig) -> None:
    """Run the agent and its gRPC server until cancelled (and the watchdog, when asked for)."""
    watchdog = start_watchdog(config) if config.fence_watchdog and config.runtime == "docker" \
        else None
    try:
        await _serve(config)
    finally:
        if watchdog is not None:
            watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watchdog.wait(5)


async def _serve(config: AgentConfig) -> None:
    from nodeagent.server import start_server

    runtime = make_runtime(config)
    client = Client(config.server, options=RECONNECT_OPTIONS)
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
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config))
    except* LeaseHeld as group:
        message = str(group.exceptions[0])
        log.error("%s node=%s", message, config.node_name)
        print(f"podlab-nodeagent: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
