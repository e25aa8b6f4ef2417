"""`podlab-fence-watchdog`: stop a node's pods when its agent stops renewing its lease.

The agent fences itself when it cannot renew its lease, but only while it
runs: a frozen, hung or killed agent cannot stop anything, and its pods would
keep running beside their replacements. This small process runs beside each
agent (in the lab, its own container; with `podlab up`, its own process) and
needs nothing but the agent's beacon file (nodeagent.fence_beacon) and the
container engine. It follows the agent's own rule (`fence_beacon.fence_due`):
when neither a lease renewal nor evidence of an outage that is everyone's
(the API's storage down, or peers that cannot renew either: see
nodeagent.witness; such an outage must stop no pod) is more recent than the
fence timeout, it kills the node's running pod containers: app and init
containers first, then the sandboxes. It keeps doing so while the beacon stays stale, so
nothing it stopped comes back, and does nothing once the lease is renewed.

    podlab-fence-watchdog --node-name node1 --root-dir /var/lib/podlab/lab/node1
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nodeagent.fence_beacon import beacon_path, read_beacon, should_fence
from nodeagent.runtime.base import LABEL_MANAGED, LABEL_NODE, LABEL_TYPE, TYPE_SANDBOX

log = logging.getLogger("podlab.nodeagent.watchdog")


class PodContainers(Protocol):
    """The node's pod containers on the engine."""

    def stop_running(self) -> int:
        """Kill every running pod container of the node (sandboxes last); how many."""


class DockerPodContainers:
    """A node's pod containers on a Docker engine, by their io.podlab labels."""

    def __init__(self, node_name: str, base_url: str | None = None) -> None:
        import docker  # only this process needs the SDK at import time

        self._docker = docker
        self._api = (docker.APIClient(base_url=base_url, timeout=10) if base_url
                     else docker.from_env(timeout=10).api)
        self.node_name = node_name

    def stop_running(self) -> int:
        running = self._api.containers(filters={
            "status": "running", "label": [f"{LABEL_MANAGED}=true", f"{LABEL_NODE}={self.node_name}"]})
        apps = [c for c in running if (c.get("Labels") or {}).get(LABEL_TYPE) != TYPE_SANDBOX]
        sandboxes = [c for c in running if c not in apps]
        stopped = 0
        for c in apps + sandboxes:
            try:
                self._api.kill(c["Id"])
                stopped += 1
            except self._docker.errors.APIError as err:  # gone or already stopped meanwhile
                log.debug("kill %s: %s", c["Id"][:12], err)
        return stopped


@dataclass
class Watchdog:
    """Reads the beacon at `path` every `interval` s and fences when `should_fence` says so.
    `fence_timeout` overrides the beacon's own (None: the agent's)."""

    path: Path
    containers: PodContainers
    interval: float = 0.5
    fence_timeout: float | None = None
    clock: Callable[[], float] = time.monotonic  # the beacon's clock
    fenced_since: float | None = field(default=None, init=False)  # the renewal fenced for

    def check(self) -> int:
        """One look; the number of containers stopped."""
        beacon = read_beacon(self.path)
        if beacon is None or not should_fence(beacon, self.clock(), self.fence_timeout):
            if self.fenced_since is not None:
                log.info("lease renewed again: the agent is back in charge")
                self.fenced_since = None
            return 0
        stopped = self.containers.stop_running()
        if self.fenced_since != beacon.renewed_at:
            self.fenced_since = beacon.renewed_at
            held = (f", last outage evidence {self.clock() - beacon.held_at:.1f}s ago"
                    if beacon.held_at else "")
            log.warning("lease not renewed for %.1fs (agent says: %s%s): fencing, %d pod "
                        "container(s) stopped", self.clock() - beacon.renewed_at, beacon.reason,
                        held, stopped)
        elif stopped:
            log.warning("fenced: %d pod container(s) stopped again", stopped)
        return stopped

    def run(self) -> None:
        while True:
            try:
                self.check()
            except Exception as err:  # noqa: BLE001 - the engine may be away; look again
                log.warning("fence check failed: %r", err)
            time.sleep(self.interval)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser("podlab-fence-watchdog", description=__doc__.splitlines()[0])
    p.add_argument("--node-name", required=True)
    p.add_argument("--root-dir", default="", help="the agent's --root-dir (default "
                   "/var/lib/podlab/<node>); the beacon is ROOT/fence/beacon.json")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between looks")
    p.add_argument("--fence-timeout", type=float, default=None,
                   help="override the agent's fence timeout (s)")
    p.add_argument("--docker-url", default=None, help="the engine (default: the environment's)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    try:
        from podlab.logs import setup_logging
        setup_logging("fence-watchdog")
    except ImportError:  # pragma: no cover
        logging.basicConfig(level=logging.INFO)
    path = beacon_path(a.root_dir or f"/var/lib/podlab/{a.node_name}")
    log.info("fence watchdog for node=%s beacon=%s interval=%ss", a.node_name, path, a.interval)
    watchdog = Watchdog(path, DockerPodContainers(a.node_name, a.docker_url), a.interval,
                        a.fence_timeout)
    try:
        watchdog.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
