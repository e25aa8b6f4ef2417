"""e2e fixtures: a two-node cluster on Docker and podctl.

The Docker kit (`docker_kit`, in tests/conftest.py, from tests/support/dockerkit.py)
skips these tests without Docker or the kit images -- except in CI
(PODLAB_REQUIRE_ALL_TIERS=1), where a missing tier is a failure.
Everything a test run starts is labelled io.podlab.managed=true and
io.podlab.node=<a node name unique to this run>, and removed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.support.dockerkit import (  # noqa: F401 - the e2e tests import these from here
    KIT_IMAGES,
    MIRROR,
    REPO,
    RUN_ID,
    Body,
    DockerKit,
    docker_cli,
    docker_cluster,
    run_async,
)

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
    cluster = docker_cluster(etcd, docker_kit, "n")
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
