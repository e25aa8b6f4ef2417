"""The pure half of sync_pod: given a pod and what the runtime holds, what to do next.

`plan_pod` decides which containers start now (init containers in order,
sidecar init containers kept running, app containers by restartPolicy with
CrashLoopBackOff), and `pod_phase` is the kubelet's getPhase. Neither does I/O,
so the restart-policy matrix is testable without any runtime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nodeagent.backoff import CrashBackoff
from nodeagent.runtime.base import CREATED, EXITED, RUNNING, TYPE_APP, TYPE_INIT, ContainerInfo
from podlab.v1 import objects_pb2 as v1

PENDING, RUNNING_PHASE, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL = (SUCCEEDED, FAILED)


@dataclass
class Start:
    container: v1.Container
    type: str  # init / app
    attempt: int


@dataclass
class Plan:
    start: list[Start] = field(default_factory=list)
    initialized: bool = False
    init_failed: bool = False
    # exited containers waiting out their back-off -> when they may restart
    backing_off: dict[str, float] = field(default_factory=dict)

    @property
    def wake_at(self) -> float | None:
        return min(self.backing_off.values()) if self.backing_off else None


def is_sidecar(c: v1.Container) -> bool:
    return c.restart_policy == "Always"


def restart_policy(pod: v1.Pod) -> str:
    return pod.spec.restart_policy or "Always"


def should_restart(policy: str, exit_code: int) -> bool:
    """Whether an exited container of a pod with `policy` is to be restarted."""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def by_name(containers: Iterable[ContainerInfo]) -> dict[str, list[ContainerInfo]]:
    """Each container name's attempts, newest first."""
    out: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        out.setdefault(info.container_name, []).append(info)
    for attempts in out.values():
        attempts.sort(key=lambda i: i.attempt, reverse=True)
    return out


@dataclass
class _Planner:
    """Builds one Plan: what starts now, what waits out its back-off."""

    plan: Plan
    now: float
    backoff: CrashBackoff
    finished: bool

    def start(self, c: v1.Container, kind: str, attempt: int) -> None:
        if not self.finished:
            self.plan.start.append(Start(c, kind, attempt))

    def restart_or_wait(self, c: v1.Container, kind: str, info: ContainerInfo) -> None:
        if self.finished:
            return
        ready_at = self.backoff.ready_at(info)
        if ready_at <= self.now:
            self.start(c, kind, info.attempt + 1)
        else:
            self.plan.backing_off[c.name] = ready_at

    def init_containers(self, pod: v1.Pod, latest: dict[str, ContainerInfo], policy: str) -> None:
        """Before any app container: the init containers one by one, sidecars kept running."""
        plan = self.plan
        plan.initialized = True
        for ic in pod.spec.init_containers:
            info = latest.get(ic.name)
            if info is None or info.state == CREATED:
                self.start(ic, TYPE_INIT, info.attempt if info else 0)
                plan.initialized = False
                return
            if info.state == RUNNING:
                if is_sidecar(ic):
                    continue
                plan.initialized = False
                return
            # exited
            if not is_sidecar(ic) and info.exit_code == 0:
                continue
            plan.initialized = False
            if not is_sidecar(ic) and policy == "Never":
                plan.init_failed = True
            else:
                self.restart_or_wait(ic, TYPE_INIT, info)
            return


def plan_pod(pod: v1.Pod, containers: Iterable[ContainerInfo], now: float,
             backoff: CrashBackoff, finished: bool = False) -> Plan:
    """What to start now. Idempotent: the same inputs give the same plan.

    `finished`: the pod is done on this node (terminal, evicted, being deleted):
    nothing starts and nothing backs off; `initialized` and `init_failed` are
    still what the containers say.
    """
    policy = restart_policy(pod)
    latest = {name: a[0] for name, a in by_name(containers).items()}
    planner = _Planner(Plan(), now, backoff, finished)
    plan = planner.plan
    if any(c.name in latest for c in pod.spec.containers):  # the app has started
        plan.initialized = True
        for ic in pod.spec.init_containers:  # sidecars keep running beside the app
            info = latest.get(ic.name)
            if is_sidecar(ic) and info is not None and info.state == EXITED:
                planner.restart_or_wait(ic, TYPE_INIT, info)
    else:
        planner.init_containers(pod, latest, policy)
    if not plan.initialized:
        return plan
    for c in pod.spec.containers:
        info = latest.get(c.name)
        if info is None or info.state == CREATED:
            planner.start(c, TYPE_APP, info.attempt if info else 0)
        elif info.state == EXITED and should_restart(policy, info.exit_code):
            planner.restart_or_wait(c, TYPE_APP, info)
    return plan


def pod_phase(pod: v1.Pod, containers: Iterable[ContainerInfo], plan: Plan) -> str:
    """The kubelet's getPhase over the app containers' latest attempts."""
    if plan.init_failed:
        return FAILED
    if not plan.initialized:
        return PENDING
    policy = restart_policy(pod)
    latest = {name: a[0] for name, a in by_name(containers).items()}
    waiting = running = stopped = failed = 0
    for c in pod.spec.containers:
        info = latest.get(c.name)
        if info is None or (info.state == CREATED and info.attempt == 0):
            waiting += 1
        elif info.state == RUNNING:
            running += 1
        else:
            stopped += 1
            if info.state == EXITED and info.exit_code != 0:
                failed += 1
    if waiting:
        return PENDING
    if running:
        return RUNNING_PHASE
    if stopped:
        if policy == "Always" or (policy == "OnFailure" and failed):
            return RUNNING_PHASE
        return FAILED if failed else SUCCEEDED
    return PENDING
