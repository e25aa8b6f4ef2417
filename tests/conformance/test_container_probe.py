"""test/e2e/common/node/container_probe.go: "[sig-node] Probing container".

Each pod is built as upstream builds it (initialDelaySeconds 15, default period 10 s).
Upstream runs these one after another and watches each "not restarted" pod for four
minutes; here every pod of the file starts at once (module fixture `probe_pods`) so
they share their delays (restarts are counted from creation rather than from when
each test begins to watch), and a pod expected not to restart is watched for 30 s
past its initial delay (three probe periods) instead of four minutes.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from podlab.client import Client
from tests.conformance._framework import AGNHOST, BUSYBOX, Framework, is_ready, upstream

pytestmark = pytest.mark.conformance

OBSERVE_NO_RESTART = 45.0  # initial delay 15 s + three 10 s periods
RESTART_TIMEOUT = 120.0


def exec_handler(cmd: list[str]) -> dict[str, Any]:
    return {"exec": {"command": cmd}}


def http_get(path: str, port: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}}


def busybox_pod(readiness: dict[str, Any] | None, liveness: dict[str, Any] | None,
                cmd: list[str], startup: dict[str, Any] | None = None) -> dict[str, Any]:
    """Upstream's busyBoxPodSpec / startupPodSpec."""
    c: dict[str, Any] = {"name": "busybox", "image": BUSYBOX, "command": cmd}
    for key, probe in (("readinessProbe", readiness), ("livenessProbe", liveness), ("startupProbe", startup)):
        if probe:
            c[key] = probe
    return {"metadata": {"name": f"busybox-{uuid.uuid4()}", "labels": {"test": "liveness"}},
            "spec": {"containers": [c]}}


def liveness_pod(liveness: dict[str, Any]) -> dict[str, Any]:
    """Upstream's livenessPodSpec: agnhost liveness (/healthz fails 10 s after start)."""
    return {"metadata": {"name": f"liveness-{uuid.uuid4()}", "labels": {"test": "liveness"}},
            "spec": {"containers": [{"name": "agnhost-container", "image": AGNHOST, "args": ["liveness"],
                                     "livenessProbe": liveness}]}}


def webserver_pod(readiness: dict[str, Any] | None, liveness: dict[str, Any] | None) -> dict[str, Any]:
    """Upstream's testWebServerPodSpec: agnhost test-webserver on :80."""
    c: dict[str, Any] = {"name": "test-webserver", "image": AGNHOST,
                         "args": ["test-webserver", "--port", "80"], "ports": [{"containerPort": 80}]}
    if readiness:
        c["readinessProbe"] = readiness
    if liveness:
        c["livenessProbe"] = liveness
    return {"metadata": {"name": f"test-webserver-{uuid.uuid4()}"}, "spec": {"containers": [c]}}


PODS: dict[str, dict[str, Any]] = {
    "readiness-initial-delay": webserver_pod(
        {**http_get("/", 80), "initialDelaySeconds": 15, "failureThreshold": 1}, None),
    "readiness-fails": webserver_pod({**exec_handler(["/bin/false"]), "failureThreshold": 1}, None),
    "cat-health-restart": busybox_pod(None, {
        **exec_handler(["cat", "/tmp/health"]), "initialDelaySeconds": 15, "timeoutSeconds": 5,
        "failureThreshold": 1}, ["/bin/sh", "-c", "echo ok >/tmp/health; sleep 10; rm -rf /tmp/health; sleep 600"]),
    "cat-health-no-restart": busybox_pod(None, {
        **exec_handler(["cat", "/tmp/health"]), "initialDelaySeconds": 15, "timeoutSeconds": 5,
        "failureThreshold": 1}, ["/bin/sh", "-c", "echo ok >/tmp/health; sleep 600"]),
    "healthz-restart": liveness_pod({**http_get("/healthz", 8080), "initialDelaySeconds": 15,
                                     "failureThreshold": 1}),
    "tcp-no-restart": liveness_pod({"tcpSocket": {"port": 8080}, "initialDelaySeconds": 15,
                                    "failureThreshold": 1}),
    "http-no-restart": webserver_pod(None, {**http_get("/", 80), "initialDelaySeconds": 15,
                                            "timeoutSeconds": 5, "failureThreshold": 5}),
    "exec-timeout-restart": busybox_pod(None, {
        **exec_handler(["/bin/sh", "-c", "sleep 10"]), "initialDelaySeconds": 15, "timeoutSeconds": 1,
        "failureThreshold": 1}, ["/bin/sh", "-c", "sleep 600"]),
    "exec-timeout-not-ready": busybox_pod({
        **exec_handler(["/bin/sh", "-c", "sleep 10"]), "initialDelaySeconds": 15, "timeoutSeconds": 1,
        "failureThreshold": 1}, None, ["/bin/sh", "-c", "sleep 600"]),
    "exec-fails-longer-than-timeout": busybox_pod(None, {
        **exec_handler(["/bin/sh", "-c", "sleep 10 & exit 1"]), "initialDelaySeconds": 15,
        "timeoutSeconds": 1, "failureThreshold": 1}, ["/bin/sh", "-c", "sleep 600"]),
    "local-redirect-restart": liveness_pod({**http_get("/redirect?loc=" + urllib.parse.quote("/healthz", safe=""),
                                                       8080), "initialDelaySeconds": 15, "failureThreshold": 1}),
    "startup-fails-restart": busybox_pod(None, {
        **exec_handler(["/bin/true"]), "initialDelaySeconds": 15, "failureThreshold": 1},
        ["/bin/sh", "-c", "sleep 600"],
        startup={**exec_handler(["/bin/false"]), "initialDelaySeconds": 15, "failureThreshold": 3}),
}


@pytest.fixture(scope="module")
def probe_pods(conformance_cluster: Any) -> Iterator[tuple[str, dict[str, str], float]]:
    """Every pod of this file, created at once in one namespace: (namespace, key -> pod name,
    when they were created)."""
    namespace = f"container-probe-{uuid.uuid4().hex[:5]}"

    async def setup() -> dict[str, str]:
        async with Client(conformance_cluster.server_address) as client:
            f = Framework(client, "", namespace)
            await f.setup()
            return {key: (await f.create_pod(manifest)).metadata.name for key, manifest in PODS.items()}

    async def teardown() -> None:
        async with Client(conformance_cluster.server_address) as client:
            await Framework(client, "", namespace).teardown()

    started = time.monotonic()
    try:
        yield namespace, asyncio.run(setup()), started
    finally:
        asyncio.run(teardown())


@pytest_asyncio.fixture
async def probes(conformance_cluster: Any, probe_pods: tuple[str, dict[str, str], float]
                 ) -> AsyncIterator[tuple[Framework, dict[str, str], float]]:
    namespace, names, started = probe_pods
    async with Client(conformance_cluster.server_address) as client:
        yield Framework(client, "", namespace), names, started


def restarts(pod: Any) -> int:
    return pod.status.container_statuses[0].restart_count if pod.status.container_statuses else 0


async def run_liveness_test(f: Framework, name: str, expect: int, started: float,
                            timeout: float = RESTART_TIMEOUT) -> None:
    """Upstream's RunLivenessTest: wait until not Pending with restartCount 0, then watch the
    restart count until it reaches `expect` (or, for 0, until the observation time ends)."""
    await f.wait_pod(name, lambda p: p.status.phase != "Pending", "not Pending")
    initial = 0  # the pods of this file all started together: count from their creation
    deadline = started + (OBSERVE_NO_RESTART if expect == 0 else timeout)
    observed, last = 0, initial
    while time.monotonic() < deadline:
        count = restarts(await f.get_pod(name))
        assert count >= last, f"restart count of pod {name} went down from {last} to {count}"
        observed, last = count - initial, count
        if expect > 0 and observed >= expect:
            break
        await asyncio.sleep(1)
    if expect == 0:
        assert observed == 0, f"pod {name} restarted {observed} times, expected none"
    else:
        assert observed >= expect, f"pod {name} restarted {observed} times, expected {expect}"


Probes = tuple[Framework, dict[str, str], float]


@upstream("node/container_probe.go", "with readiness probe should not be ready before initial delay and never "
          "restart [NodeConformance] [Conformance]")
async def test_with_readiness_probe_should_not_be_ready_before_initial_delay_and_never_restart(
        probes: Probes) -> None:
    """container_probe.go: "with readiness probe should not be ready before initial delay and never
    restart" (ConformanceIt)."""
    f, names, _ = probes
    pod = await f.wait_ready(names["readiness-initial-delay"], 90)
    assert pod.status.phase == "Running" and is_ready(pod)
    ready = next(c for c in pod.status.conditions if c.type == "Ready").last_transition_time
    started = pod.status.container_statuses[0].state.running.started_at
    assert ready.ToMilliseconds() - started.ToMilliseconds() >= 15_000 - 1000, \
        "Pod became ready before its 15s initial delay"  # timestamps have second precision upstream
    assert restarts(pod) == 0


@upstream("node/container_probe.go", "with readiness probe that fails should never be ready and never restart "
          "[NodeConformance] [Conformance]")
async def test_with_readiness_probe_that_fails_should_never_be_ready_and_never_restart(probes: Probes) -> None:
    """container_probe.go: "with readiness probe that fails should never be ready and never restart"
    (ConformanceIt; Consistently for 30 s instead of a minute)."""
    f, names, started = probes
    name = names["readiness-fails"]
    while time.monotonic() < started + 30:
        assert not is_ready(await f.get_pod(name)), "pod should not be ready"
        await asyncio.sleep(1)
    pod = await f.get_pod(name)
    assert not is_ready(pod) and restarts(pod) == 0


@upstream("node/container_probe.go", 'should be restarted with a exec "cat /tmp/health" liveness probe '
          "[NodeConformance] [Conformance]")
async def test_should_be_restarted_with_a_exec_cat_tmp_health_liveness_probe(probes: Probes) -> None:
    """container_probe.go: 'should be restarted with a exec "cat /tmp/health" liveness probe'."""
    f, names, started = probes
    await run_liveness_test(f, names["cat-health-restart"], 1, started)


@upstream("node/container_probe.go", 'should *not* be restarted with a exec "cat /tmp/health" liveness probe '
          "[NodeConformance] [Conformance]")
async def test_should_not_be_restarted_with_a_exec_cat_tmp_health_liveness_probe(probes: Probes) -> None:
    """container_probe.go: 'should *not* be restarted with a exec "cat /tmp/health" liveness probe'."""
    f, names, started = probes
    await run_liveness_test(f, names["cat-health-no-restart"], 0, started)


@upstream("node/container_probe.go", "should be restarted with a /healthz http liveness probe "
          "[NodeConformance] [Conformance]")
async def test_should_be_restarted_with_a_healthz_http_liveness_probe(probes: Probes) -> None:
    """container_probe.go: "should be restarted with a /healthz http liveness probe" (ConformanceIt)."""
    f, names, started = probes
    await run_liveness_test(f, names["healthz-restart"], 1, started)


@upstream("node/container_probe.go", "should *not* be restarted with a tcp:8080 liveness probe "
          "[NodeConformance] [Conformance]")
async def test_should_not_be_restarted_with_a_tcp_8080_liveness_probe(probes: Probes) -> None:
    """container_probe.go: "should *not* be restarted with a tcp:8080 liveness probe" (ConformanceIt)."""
    f, names, started = probes
    await run_liveness_test(f, names["tcp-no-restart"], 0, started)


@upstream("node/container_probe.go", "should *not* be restarted with a /healthz http liveness probe "
          "[NodeConformance] [Conformance]")
async def test_should_not_be_restarted_with_a_healthz_http_liveness_probe(probes: Probes) -> None:
    """container_probe.go: "should *not* be restarted with a /healthz http liveness probe" (ConformanceIt;
    upstream's probe is on "/" port 80 of test-webserver)."""
    f, names, started = probes
    await run_liveness_test(f, names["http-no-restart"], 0, started)


@upstream("node/container_probe.go", "should be restarted with an exec liveness probe with timeout "
          "[MinimumKubeletVersion:1.20] [NodeConformance]")
async def test_should_be_restarted_with_an_exec_liveness_probe_with_timeout(probes: Probes) -> None:
    """container_probe.go: "should be restarted with an exec liveness probe with timeout"."""
    f, names, started = probes
    await run_liveness_test(f, names["exec-timeout-restart"], 1, started)


@upstream("node/container_probe.go", "should not be ready with an exec readiness probe timeout "
          "[MinimumKubeletVersion:1.20] [NodeConformance]")
async def test_should_not_be_ready_with_an_exec_readiness_probe_timeout(probes: Probes) -> None:
    """container_probe.go: "should not be ready with an exec readiness probe timeout"
    (runReadinessFailTest: never Ready while watched)."""
    f, names, started = probes
    name = names["exec-timeout-not-ready"]
    await f.wait_running(name)
    while time.monotonic() < started + OBSERVE_NO_RESTART:
        assert not is_ready(await f.get_pod(name)), "pod should not be ready"
        await asyncio.sleep(1)


@upstream("node/container_probe.go", "should be restarted with a failing exec liveness probe that took longer "
          "than the timeout")
async def test_should_be_restarted_with_a_failing_exec_liveness_probe_that_took_longer_than_the_timeout(
        probes: Probes) -> None:
    """container_probe.go: "should be restarted with a failing exec liveness probe that took longer than
    the timeout"."""
    f, names, started = probes
    await run_liveness_test(f, names["exec-fails-longer-than-timeout"], 1, started)


@upstream("node/container_probe.go", "should be restarted with a local redirect http liveness probe")
async def test_should_be_restarted_with_a_local_redirect_http_liveness_probe(probes: Probes) -> None:
    """container_probe.go: "should be restarted with a local redirect http liveness probe"."""
    f, names, started = probes
    await run_liveness_test(f, names["local-redirect-restart"], 1, started)


@upstream("node/container_probe.go", "should be restarted startup probe fails")
async def test_should_be_restarted_startup_probe_fails(probes: Probes) -> None:
    """container_probe.go: "should be restarted startup probe fails": the liveness probe would
    succeed, the startup probe fails three times."""
    f, names, started = probes
    await run_liveness_test(f, names["startup-fails-restart"], 1, started)
