"""Exec without the engine (podlab-nsexec): the command sees what `docker exec` would."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from conftest import DockerKit, run_async

from nodeagent.runtime.docker import DockerRuntime
from nodeagent.runtime.nsexec import HELPER
from tests.conftest import require_tier

pytestmark = pytest.mark.e2e

LABEL = "io.podlab.test"
# What an exec'd command can observe of where it runs.
FACTS = ["id", "hostname", "pwd", "cat /proc/self/cgroup",
         "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs)' /proc/self/status",
         "env | grep -v -e '^SHLVL=' -e '^_=' -e '^PWD=' | sort", "ls /", "readlink /proc/self/ns/net",
         "readlink /proc/self/ns/pid", "readlink /proc/self/ns/mnt",
         "ls /proc/$$/fd"]  # no descriptor of the agent's reaches the container


@pytest.fixture(scope="module")
def helper() -> str:
    found = shutil.which(HELPER)
    if found is None:
        require_tier("e2e", f"{HELPER} not on PATH (scripts/bootstrap.sh builds it)")
    if os.geteuid() != 0:
        require_tier("e2e", f"{HELPER} needs root")
    assert found is not None
    return found


@pytest.fixture
def containers(docker_kit: DockerKit) -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=60)
    try:
        yield client
    finally:
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            c.remove(force=True)
        client.close()


def _start(client: docker.DockerClient, **kwargs: object) -> str:
    c = client.containers.run("podlab/busybox:latest", ["sh", "-c", "cd /tmp && exec sleep 3600"],
                              detach=True, labels={LABEL: "nsexec"}, name=f"nsexec-{uuid.uuid4().hex[:8]}",
                              **kwargs)
    return str(c.id)


async def _both(rt: DockerRuntime, cid: str, cmd: str) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    """(direct, through the engine) results of `sh -c cmd`."""
    direct = await rt.exec(cid, ["sh", "-c", cmd], 10)
    engine = await rt.bridge_call(rt._exec, cid, ["sh", "-c", cmd])  # the engine path, for reference
    return (direct.exit_code, direct.stdout), (engine.exit_code, engine.stdout)


@pytest.mark.parametrize("settings", [
    {},
    {"user": "nobody", "environment": {"GREETING": "hello world", "PATH": "/bin:/usr/bin"},
     "working_dir": "/etc", "cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE"],
     "security_opt": ["no-new-privileges"], "hostname": "custom"},
    {"user": "1234:5678", "mem_limit": "64m", "pids_limit": 50},
], ids=["defaults", "user-env-caps", "numeric-user-limits"])
def test_a_command_entered_directly_sees_what_docker_exec_shows(helper: str, containers: docker.DockerClient,
                                                                 settings: dict[str, object]) -> None:
    cid = _start(containers, **settings)
    leak = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leak, True)  # a careless descriptor in the agent

    async def body() -> None:
        rt = DockerRuntime("nsexec-test", exec_helper=helper)
        try:
            for fact in FACTS:
                direct, engine = await _both(rt, cid, fact)
                assert direct == engine, fact
        finally:
            await rt.close()
    try:
        run_async(body())
    finally:
        os.close(leak)


def test_direct_exec_goes_around_the_engine(helper: str, containers: docker.DockerClient) -> None:
    cid = _start(containers)

    def engine_execs(since: float) -> int:
        until = time.time() + 0.5
        events = containers.events(since=since, until=until, decode=True,
                                   filters={"container": cid, "event": "exec_create"})
        return sum(1 for _ in events)

    async def body() -> None:
        rt = DockerRuntime("nsexec-test", exec_helper=helper)
        try:
            since = time.time() - 0.5
            for _ in range(5):
                assert (await rt.exec(cid, ["true"], 10)).exit_code == 0
            assert await asyncio.to_thread(engine_execs, since) == 0
            await rt.bridge_call(rt._exec, cid, ["true"])  # the engine's path is seen
            assert await asyncio.to_thread(engine_execs, since) == 1
        finally:
            await rt.close()
    run_async(body())


def test_exit_codes_output_and_a_timeout_that_kills_the_command(helper: str,
                                                                containers: docker.DockerClient) -> None:
    cid = _start(containers)

    async def body() -> None:
        rt = DockerRuntime("nsexec-test", exec_helper=helper)
        try:
            result = await rt.exec(cid, ["sh", "-c", "echo out; echo err >&2; exit 3"], 10)
            assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
            missing = await rt.exec(cid, ["no-such-command"], 10)
            assert missing.exit_code == 127 and b"executable file not found" in missing.stderr
            with pytest.raises(TimeoutError):
                await rt.exec(cid, ["sh", "-c", "touch /tmp/started; sleep 300; touch /tmp/finished"], 1)
            ps = await rt.exec(cid, ["ps", "-o", "args"], 10)
            assert b"sleep 300" not in ps.stdout  # killed with the helper, not left running
        finally:
            await rt.close()
    run_async(body())


def test_a_stopped_container_is_reported_by_the_engine(helper: str, containers: docker.DockerClient) -> None:
    cid = _start(containers)

    async def body() -> None:
        rt = DockerRuntime("nsexec-test", exec_helper=helper)
        try:
            assert (await rt.exec(cid, ["true"], 10)).exit_code == 0
            await asyncio.to_thread(containers.api.kill, cid)
            with pytest.raises(Exception, match="is not running"):
                await rt.exec(cid, ["true"], 10)
        finally:
            await rt.close()
    run_async(body())


def test_a_helper_gone_since_start_falls_back_to_the_engine(helper: str, containers: docker.DockerClient,
                                                            tmp_path: Path) -> None:
    cid = _start(containers)
    copy = tmp_path / HELPER
    shutil.copy(helper, copy)

    async def body() -> None:
        rt = DockerRuntime("nsexec-test", exec_helper=str(copy))
        try:
            copy.unlink()
            result = await rt.exec(cid, ["sh", "-c", "echo via the engine"], 10)
            assert (result.exit_code, result.stdout) == (0, b"via the engine\n")
        finally:
            await rt.close()
    run_async(body())
