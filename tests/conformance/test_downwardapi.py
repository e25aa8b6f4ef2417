"""test/e2e/common/node/downwardapi.go: "[sig-node] Downward API" (environment variables)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.conformance._framework import BUSYBOX, Framework, upstream

pytestmark = pytest.mark.conformance

IPV4 = r"(?:\d+)\.(?:\d+)\.(?:\d+)\.(?:\d+)"
IPV6 = r"(?:[A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4}"


def field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def resource(name: str, res: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"resource": res}}}


def dapi_pod(name: str, env: list[dict[str, Any]], resources: bool = True,
             command: str = "env", **spec: Any) -> dict[str, Any]:
    """Upstream's testDownwardAPI pod (requests 250m/32Mi, limits 1250m/64Mi)."""
    container: dict[str, Any] = {"name": "dapi-container", "image": BUSYBOX,
                                 "command": ["sh", "-c", command], "env": env}
    if resources:
        container["resources"] = {"requests": {"cpu": "250m", "memory": "32Mi"},
                                  "limits": {"cpu": "1250m", "memory": "64Mi"}}
    return {"metadata": {"name": name, "labels": {"name": name}},
            "spec": {"containers": [container], "restartPolicy": "Never", **spec}}


def regexps(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


@upstream("node/downwardapi.go", "should provide pod name, namespace and IP address as env vars "
          "[NodeConformance] [Conformance]")
async def test_should_provide_pod_name_namespace_and_ip_address_as_env_vars(f: Framework) -> None:
    """downwardapi.go: "should provide pod name, namespace and IP address as env vars [NodeConformance]"."""
    name = f"downward-api-{uuid.uuid4()}"
    await f.test_container_output(dapi_pod(name, [
        field("POD_NAME", "metadata.name"), field("POD_NAMESPACE", "metadata.namespace"),
        field("POD_IP", "status.podIP")]), 0, regexps(
        f"POD_NAME={name}", f"POD_NAMESPACE={f.namespace}", f"POD_IP={IPV4}|{IPV6}"))


@upstream("node/downwardapi.go", "should provide host IP as an env var [NodeConformance] [Conformance]")
async def test_should_provide_host_ip_as_an_env_var(f: Framework) -> None:
    """downwardapi.go: "should provide host IP as an env var [NodeConformance]"."""
    await f.test_container_output(dapi_pod(f"downward-api-{uuid.uuid4()}", [field("HOST_IP", "status.hostIP")]),
                                  0, regexps(f"HOST_IP={IPV4}|{IPV6}"))


@upstream("node/downwardapi.go", "should provide host IP and pod IP as an env var if pod uses host network "
          "[LinuxOnly]")
async def test_should_provide_host_ip_and_pod_ip_as_an_env_var_if_pod_uses_host_network(f: Framework) -> None:
    """downwardapi.go: "should provide host IP and pod IP as an env var if pod uses host network [LinuxOnly]"."""
    command = ('[[ "${HOST_IP:?}" == "${POD_IP:?}" ]] && echo \'OK\' || '
               'echo "HOST_IP: \'${HOST_IP}\' != POD_IP: \'${POD_IP}\'"')
    await f.test_container_output(dapi_pod(
        f"downward-api-{uuid.uuid4()}", [field("HOST_IP", "status.hostIP"), field("POD_IP", "status.podIP")],
        resources=False, command=command, hostNetwork=True), 0, regexps("OK"))


@upstream("node/downwardapi.go", "should provide container's limits.cpu/memory and requests.cpu/memory as env "
          "vars [NodeConformance] [Conformance]")
async def test_should_provide_containers_limits_and_requests_as_env_vars(f: Framework) -> None:
    """downwardapi.go: "should provide container's limits.cpu/memory and requests.cpu/memory as env vars
    [NodeConformance]"."""
    await f.test_container_output(dapi_pod(f"downward-api-{uuid.uuid4()}", [
        resource("CPU_LIMIT", "limits.cpu"), resource("MEMORY_LIMIT", "limits.memory"),
        resource("CPU_REQUEST", "requests.cpu"), resource("MEMORY_REQUEST", "requests.memory")]), 0,
        regexps("CPU_LIMIT=2", "MEMORY_LIMIT=67108864", "CPU_REQUEST=1", "MEMORY_REQUEST=33554432"))


@upstream("node/downwardapi.go", "should provide default limits.cpu/memory from node allocatable "
          "[NodeConformance] [Conformance]")
async def test_should_provide_default_limits_from_node_allocatable(f: Framework) -> None:
    """downwardapi.go: "should provide default limits.cpu/memory from node allocatable [NodeConformance]"."""
    await f.test_container_output(dapi_pod(f"downward-api-{uuid.uuid4()}", [
        resource("CPU_LIMIT", "limits.cpu"), resource("MEMORY_LIMIT", "limits.memory")], resources=False),
        0, regexps("CPU_LIMIT=[1-9]", "MEMORY_LIMIT=[1-9]"))


@upstream("node/downwardapi.go", "should provide pod UID as env vars [NodeConformance] [Conformance]")
async def test_should_provide_pod_uid_as_env_vars(f: Framework) -> None:
    """downwardapi.go: "should provide pod UID as env vars [NodeConformance]"."""
    await f.test_container_output(dapi_pod(f"downward-api-{uuid.uuid4()}", [field("POD_UID", "metadata.uid")]),
                                  0, regexps("POD_UID=[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}"))
