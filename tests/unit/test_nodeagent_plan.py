"""sync_pod's decisions, as pure functions: back-off, restart policy, init order, phase."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.backoff import CrashBackoff, crash_delay
from nodeagent.plan import plan_pod, pod_phase, should_restart
from nodeagent.runtime.base import EXITED, RUNNING, TYPE_APP, TYPE_INIT, ContainerInfo
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit
UID = "u-1"


def pod(spec: dict) -> v1.Pod:
    return ParseDict({"metadata": {"name": "p", "namespace": "default", "uid": UID},
                      "spec": spec}, v1.Pod())


def ctr(name: str, state: str, exit_code: int = 0, attempt: int = 0, started: float = 100.0,
        finished: float = 101.0, kind: str = TYPE_APP) -> ContainerInfo:
    return ContainerInfo(f"{name}-{attempt}", UID, "p", "default", name, attempt, state,
                         exit_code, started, finished if state == EXITED else 0.0,
                         labels={"io.podlab.container.type": kind})


def test_crash_backoff_restarts_at_once_then_doubles_from_base_to_cap() -> None:
    delays = [crash_delay(n, 10, 300) for n in range(8)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_crash_backoff_uses_attempt_number_and_resets_after_a_long_run() -> None:
    b = CrashBackoff(base=1, cap=8, reset_after=600)
    assert b.delay(ctr("a", EXITED, 1, attempt=3)) == 4
    long_run = ctr("a", EXITED, 1, attempt=5, started=1, finished=700)
    assert b.delay(long_run) == 0
    assert b.delay(ctr("a", EXITED, 1, attempt=6)) == 1


@pytest.mark.parametrize("policy,code,restart", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
    ("Never", 0, False), ("Never", 1, False)])
def test_restart_policy_matrix(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


@pytest.mark.parametrize("policy,code,phase", [
    ("Always", 0, "Running"), ("OnFailure", 0, "Succeeded"), ("OnFailure", 1, "Running"),
    ("Never", 0, "Succeeded"), ("Never", 1, "Failed")])
def test_phase_of_a_pod_whose_only_container_exited(policy: str, code: int, phase: str) -> None:
    p = pod({"restartPolicy": policy, "containers": [{"name": "a", "image": "x"}]})
    containers = [ctr("a", EXITED, code)]
    plan = plan_pod(p, containers, now=1000.0, backoff=CrashBackoff(1, 8))
    assert pod_phase(p, containers, plan) == phase
    assert bool(plan.start) == (phase == "Running")


def test_init_containers_start_one_at_a_time_in_order() -> None:
    p = pod({"initContainers": [{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}],
             "containers": [{"name": "a", "image": "x"}]})
    b = CrashBackoff(1, 8)
    plan = plan_pod(p, [], 1000.0, b)
    assert [s.container.name for s in plan.start] == ["i1"] and not plan.initialized
    plan = plan_pod(p, [ctr("i1", RUNNING, kind=TYPE_INIT)], 1000.0, b)
    assert plan.start == []
    plan = plan_pod(p, [ctr("i1", EXITED, 0, kind=TYPE_INIT)], 1000.0, b)
    assert [s.container.name for s in plan.start] == ["i2"]
    done = [ctr("i1", EXITED, 0, kind=TYPE_INIT), ctr("i2", EXITED, 0, kind=TYPE_INIT)]
    plan = plan_pod(p, done, 1000.0, b)
    assert plan.initialized and [s.container.name for s in plan.start] == ["a"]
    assert pod_phase(p, done, plan) == "Pending"


def test_failed_init_container_fails_a_never_pod_and_is_retried_otherwise() -> None:
    spec = {"initContainers": [{"name": "i1", "image": "x"}], "containers": [{"name": "a", "image": "x"}]}
    failed = [ctr("i1", EXITED, 1, kind=TYPE_INIT)]
    never = pod({**spec, "restartPolicy": "Never"})
    plan = plan_pod(never, failed, 1000.0, CrashBackoff(1, 8))
    assert plan.init_failed and pod_phase(never, failed, plan) == "Failed" and not plan.start
    always = pod(spec)
    plan = plan_pod(always, failed, 1000.0, CrashBackoff(1, 8))
    assert [(s.container.name, s.attempt) for s in plan.start] == [("i1", 1)]


def test_sidecar_init_container_keeps_running_and_the_next_init_starts() -> None:
    p = pod({"initContainers": [{"name": "side", "image": "x", "restartPolicy": "Always"},
                                {"name": "i2", "image": "x"}],
             "containers": [{"name": "a", "image": "x"}]})
    plan = plan_pod(p, [ctr("side", RUNNING, kind=TYPE_INIT)], 1000.0, CrashBackoff(1, 8))
    assert [s.container.name for s in plan.start] == ["i2"]


def test_crashing_container_waits_out_its_back_off() -> None:
    p = pod({"containers": [{"name": "a", "image": "x"}]})
    crashed = [ctr("a", EXITED, 1, attempt=2, started=995.0, finished=1000.0)]
    b = CrashBackoff(10, 300)
    plan = plan_pod(p, crashed, 1005.0, b)
    assert plan.start == [] and plan.backing_off == {"a": 1020.0}
    plan = plan_pod(p, crashed, 1020.0, b)
    assert [(s.container.name, s.attempt) for s in plan.start] == [("a", 3)]


def test_app_containers_never_rerun_init_containers_once_started() -> None:
    p = pod({"initContainers": [{"name": "i1", "image": "x"}], "containers": [{"name": "a", "image": "x"}]})
    plan = plan_pod(p, [ctr("a", RUNNING)], 1000.0, CrashBackoff(1, 8))
    assert plan.initialized and plan.start == []
