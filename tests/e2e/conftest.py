"""e2e fixtures: a real Docker engine with the offline kit images, and cleanup.

Without Docker or the kit images these tests skip -- except in CI
(PODLAB_REQUIRE_ALL_TIERS=1), where a missing tier is a failure.
Everything a test run starts is labelled io.podlab.managed=true and
io.podlab.node=<a node name unique to this run>, and removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

KIT_IMAGES = ("podlab/pause:3.9", "busybox:latest", "nginx:latest", "ubuntu:14.04")
REPO = Path(__file__).resolve().parents[2]
MIRROR = REPO / "compose" / "images" / "mirror.yaml"
RUN_ID = uuid.uuid4().hex[:6]


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


@pytest.fixture(scope="session")
def docker_kit() -> Iterator[DockerKit]:
    problem = _docker_ok()
    if problem:
        if os.environ.get("PODLAB_REQUIRE_ALL_TIERS") == "1":
            pytest.fail(f"e2e tier required but unavailable: {problem}")
        pytest.skip(problem)
    kit = DockerKit(RUN_ID, f"podlab-e2e-{RUN_ID}", str(MIRROR) if MIRROR.exists() else "")
    try:
        yield kit
    finally:
        _cleanup(kit)


Body = Callable[..., Awaitable[None]]


def run_async(coro: Awaitable[Any], timeout: float = 240) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(main())


def docker_cli(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


# -- a real cluster (etcd, control plane, scheduler, two agents on Docker) and podctl ----------

class Podctl:
    """The user's `podctl ...` lines, run as a subprocess against the e2e cluster."""

    def __init__(self, server: str, argv: Sequence[str] = (sys.executable, "-m", "podctl"),
                 env: dict[str, str] | None = None) -> None:
        self.server = server
        self.argv = list(argv)  # how podctl is run: the checkout's module, or an installed script
        self.env = env

    def __call__(self, *args: str, check: bool = True, stdin: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.argv, "--server", self.server, *args], env=self.env,
                                capture_output=True, text=True, input=stdin, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"podctl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def status(self, pod: str) -> str:
        """The STATUS column of `podctl get pod POD`."""
        lines = self("get", "pod", pod, check=False).stdout.splitlines()
        return lines[1].split()[2] if len(lines) > 1 else ""

    def wait_status(self, pod: str, status: str, timeout: float = 90) -> None:
        from tests.support.procs import wait_for

        wait_for(lambda: self.status(pod) == status, timeout, interval=0.3,
                 message=f"pod {pod} to be {status} (now {self.status(pod)!r})")


@pytest.fixture(scope="module")
def seeds_cluster(etcd: Any, docker_kit: DockerKit) -> Iterator[Any]:
    from tests.integration.conftest import wipe
    from tests.support.cluster import LocalCluster

    wipe(etcd.endpoint)
    cluster = LocalCluster(etcd, nodes=2, runtime="docker", node_prefix=docker_kit.node("n"),
                           agent_flags=("--mirror", docker_kit.mirror, "--pod-network", docker_kit.network,
                                        "--backoff-base", "1"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def podctl(seeds_cluster: Any) -> Iterator[Podctl]:
    from tests.support.procs import wait_for

    ctl = Podctl(seeds_cluster.server_address)
    wait_for(lambda: ctl("get", "nodes", check=False).stdout.count(" Ready ") == 2, 30,
             message="both nodes Ready")
    yield ctl
    ctl("delete", "pod", "--all", "--grace-period=0", "--force", check=False)
