"""Docker for tests and benchmarks: the kit check, one run's containers and their clean-up,
and a real cluster on Docker. The e2e and conformance tiers share these (their
`docker_kit` fixture lives in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MIRROR = REPO / "compose" / "images" / "mirror.yaml"
RUN_ID = uuid.uuid4().hex[:6]


def remove_node(node: str, network: str = "") -> None:
    """Remove every container and volume the agent of `node` made (any state), and `network` if given."""
    from nodeagent.runtime.docker import remove_node_leftovers

    remove_node_leftovers([node], network)


KIT_IMAGES = ("podlab/pause:3.9", "busybox:latest", "podlab/busybox:1.35.0", "nginx:latest", "ubuntu:14.04",
              "podlab/agnhost:2.53")


def _docker_ok() -> str | None:
    """None when the engine answers and has the kit images; else why not."""
    try:
        import docker
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as err:  # noqa: BLE001
        return f"no Docker engine: {err}"
    missing = []
    for image in KIT_IMAGES:
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001
            missing.append(image)
    client.close()
    return f"kit images missing: {missing} (run compose/images/build.sh)" if missing else None


@dataclass
class DockerKit:
    run_id: str
    network: str
    mirror: str

    def node(self, suffix: str) -> str:
        return f"e2e-{self.run_id}-{suffix}"


def _cleanup(kit: DockerKit) -> None:
    import docker
    client = docker.from_env(timeout=60)
    try:
        for c in client.containers.list(all=True, filters={"label": "io.podlab.managed=true"}):
            if c.labels.get("io.podlab.node", "").startswith(f"e2e-{kit.run_id}-"):
                c.remove(force=True)
        for v in client.volumes.list(filters={"label": "io.podlab.managed=true"}):
            if (v.attrs.get("Labels") or {}).get("io.podlab.node", "").startswith(f"e2e-{kit.run_id}-"):
                v.remove(force=True)
        for n in client.networks.list(names=[kit.network]):
            n.remove()
    finally:
        client.close()


def docker_kit_session() -> Iterator[DockerKit]:
    """The body of the session's `docker_kit` fixture: skip (fail in CI) without the engine
    or the kit images; remove everything the run made at the end."""
    problem = _docker_ok()
    if problem:
        if os.environ.get("PODLAB_REQUIRE_ALL_TIERS") == "1":
            pytest.fail(f"e2e tier required but unavailable: {problem}")
        pytest.skip(problem)
    kit = DockerKit(RUN_ID, f"podlab-e2e-{RUN_ID}", str(MIRROR) if MIRROR.exists() else "")
    untag_stale_mirror_pulls()
    try:
        yield kit
    finally:
        _cleanup(kit)


def kit_tags() -> set[str]:
    """Every tag compose/images/build.sh gives its images (primaries and aliases)."""
    import re

    text = (REPO / "compose" / "images" / "build.sh").read_text()
    return {tag for words in re.findall(r'^    \[[a-z]+\]="([^"]+)"$', text, re.M) for tag in words.split()}


def untag_stale_mirror_pulls() -> None:
    """Untag every upstream name an earlier run "pulled" from the mirror (a re-tag) that no
    longer names its mirror image: after a kit rebuild, an IfNotPresent pull would keep
    the old image under that name for ever. The kit's own tags (build.sh's) are never
    touched: other checkouts sharing the engine build and use them."""
    import docker

    from nodeagent.runtime.docker import load_mirror

    if not MIRROR.exists():
        return
    own = kit_tags()
    client = docker.from_env(timeout=30)
    try:
        for name, local in load_mirror(str(MIRROR)).items():
            if name == local or name in own:
                continue
            try:
                current = client.images.get(name).id
                wanted = client.images.get(local).id
            except docker.errors.ImageNotFound:
                continue
            if current != wanted:
                with contextlib.suppress(docker.errors.APIError):  # a container still uses it
                    client.images.remove(name, noprune=True)
    finally:
        client.close()


Body = Callable[..., Awaitable[None]]


def run_async(coro: Awaitable[Any], timeout: float = 240) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(main())


def docker_cli(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout




def docker_cluster(etcd: Any, kit: DockerKit, prefix: str, nodes: int = 2,
                   agent_flags: tuple[str, ...] = ()) -> Any:
    """A LocalCluster (etcd wiped, control plane, scheduler, `nodes` agents) on Docker."""
    from tests.integration.conftest import wipe
    from tests.support.cluster import LocalCluster

    wipe(etcd.endpoint)
    return LocalCluster(etcd, nodes=nodes, runtime="docker", node_prefix=kit.node(prefix),
                        agent_flags=("--mirror", kit.mirror, "--pod-network", kit.network,
                                     "--backoff-base", "1", *agent_flags))
