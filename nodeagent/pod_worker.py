"""One asyncio task per pod: `sync_pod` reconciles the pod with the runtime.

Events (the pod changed, a container event, a timer) only wake the worker;
every pass lists the pod's containers afresh and decides from that, so a pass
can run at any time, any number of times. The worker directs; the decisions
live in `nodeagent.plan` and `nodeagent.specs` (pure), starting in
`nodeagent.container_start`, stopping in `nodeagent.pod_stop`, the status in
`nodeagent.status` (pure), written through the context's `PodApi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from nodeagent.container_start import ContainerStarter, running_sandbox
from nodeagent.plan import FAILED, SUCCEEDED, TERMINAL, Plan, plan_pod, pod_phase
from nodeagent.pod_stop import kill_failed_probes, stop_containers, stop_sandboxes, teardown
from nodeagent.runtime.base import RUNNING, ContainerInfo, SandboxInfo
from nodeagent.specs import (
    DEFAULT_GRACE,
    active_deadline,
    default_pull_policy,
    grace_period,
    pod_labels,
)
from nodeagent.status import StatusInputs, build_status
from nodeagent.volumes import VolumeError
from nodeagent.worker_context import WorkerContext
from podlab.events import WARNING
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent.worker")

# Kept importable from here: they were defined in this module.
__all__ = ["DEFAULT_GRACE", "EvictionRequest", "PodOutcome", "PodWorker", "WorkerContext",
           "default_pull_policy", "grace_period", "pod_labels"]

EVICTED = "Evicted"
# A sync that fails (the API, the runtime) is retried after 1 s, doubling to 10 s (the kubelet's
# pod worker back-off period); runtime events meanwhile do not bring it forward (the failed
# pass's own containers make such events: that was a hot loop), a change of the pod does.
SYNC_RETRY = 1.0
SYNC_RETRY_CAP = 10.0


@dataclass(frozen=True)
class PodOutcome:
    """How the pod ended on this node: its terminal phase, with reason and message."""

    phase: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class EvictionRequest:
    """Node-pressure eviction asked for: stop the pod within `grace` s, report `message`."""

    message: str
    grace: float


class PodWorker:
    """Serialises all work on one pod. `update()` feeds the desired pod (None = gone).

    Every field is read and written from the worker's own task, except `update`,
    `wake` and `evict`, which the agent calls from its task (same loop).
    """

    def __init__(self, ctx: WorkerContext, pod: v1.Pod | None) -> None:
        self.ctx = ctx
        self.pod = pod
        self.uid = pod.metadata.uid if pod is not None else ""
        self.pod_ip = pod.status.pod_ip if pod is not None else ""
        self.outcome: PodOutcome | None = None
        if pod is not None and pod.status.phase in TERMINAL:
            self.outcome = PodOutcome(pod.status.phase, pod.status.reason, pod.status.message)
        self.eviction: EvictionRequest | None = None
        self.evicted = asyncio.Event()  # set once an eviction has stopped the pod and said so
        self.done = False
        self.starter = ContainerStarter(ctx, self)
        self._wake = asyncio.Event()
        self._wake_at: float | None = None
        self._urgent = False  # the pod changed (or is evicted) since the last pass
        self._sync_failures = 0  # passes failed in a row
        self._retry_at: float | None = None  # while failing: no pass before this unless urgent
        self._last_status = b""
        self._backoff_reported: set[tuple[str, int]] = set()

    # -- driving --------------------------------------------------------------------

    def update(self, pod: v1.Pod | None) -> None:
        if pod is not None and self.pod is not None and \
                pod.metadata.resource_version == self.pod.metadata.resource_version:
            return
        self.pod = pod
        self._urgent = True
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def _may_sync(self, now: float) -> bool:
        """Not while a failed pass waits out its back-off, unless the pod itself changed."""
        return self._retry_at is None or now >= self._retry_at or self._urgent

    def evict(self, message: str, grace: float) -> None:
        """Stop the pod for node pressure and report it Failed/Evicted with `message`.
        `evicted` is set when its containers are stopped and the status is written."""
        if self.eviction is None and self.outcome is None:
            self.eviction = EvictionRequest(message, grace)
        self._urgent = True
        self.wake()

    @property
    def finished(self) -> bool:
        """The pod reached a terminal phase on this node (or is being evicted)."""
        return self.outcome is not None or self.eviction is not None

    def event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        if self.ctx.recorder is not None and self.pod is not None:
            self.ctx.recorder.pod_event(self.pod, type_, reason, message, container)

    def log(self, level: int, msg: str, *args: object) -> None:
        pod = self.pod
        name = f"{pod.metadata.namespace}/{pod.metadata.name}" if pod else "?"
        log.log(level, msg + " node=%s pod=%s uid=%s", *args, self.ctx.node_name, name, self.uid)

    async def run(self) -> None:
        """Sync until the pod is gone from this node (deleted and cleaned up)."""
        clock = self.ctx.clock
        while not self.done:
            timeout = self.ctx.resync_period
            if self._wake_at is not None:
                timeout = max(0.0, min(timeout, self._wake_at - clock.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it can eat a cancel on 3.11
                    await self._wake.wait()
            self._wake.clear()
            if self.ctx.fenced() or not self._may_sync(clock.time()):
                continue
            self._urgent = False
            try:
                self.done = await self.sync_pod()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - keep the worker alive; retry later
                self._sync_failures += 1
                delay = min(SYNC_RETRY * 2 ** min(self._sync_failures - 1, 10), SYNC_RETRY_CAP)
                self.log(logging.WARNING, "sync failed: %r; retrying in %.0fs", err, delay)
                self._retry_at = self._wake_at = clock.time() + delay
            else:
                self._sync_failures, self._retry_at = 0, None

    # -- the sync -------------------------------------------------------------------

    async def sync_pod(self) -> bool:
        """One idempotent pass. Returns True when the pod is finished on this node."""
        containers, sandboxes = await self.ctx.runtime.list_all(self.uid)
        pod = self.pod
        if pod is None:
            self.log(logging.INFO, "pod removed from the API; killing")
            await teardown(self.ctx, self, None, containers, sandboxes, grace=0)
            return True
        if pod.metadata.HasField("deletion_timestamp"):
            await self._terminate(pod, containers, sandboxes)
            return True
        now = self.ctx.clock.time()
        containers = await self._check_sandbox(containers, sandboxes)
        containers = await self._enforce(pod, containers, now)
        plan, phase, containers = await self._advance(pod, containers, sandboxes, now)
        if self.outcome is None and any(c.state == RUNNING for c in containers):
            await self._refresh_volumes(pod)
        await self._publish(pod, containers, plan, phase)
        if self.outcome is not None and self.outcome.reason == EVICTED:
            self.evicted.set()
        self._report_backoff(pod, plan, containers)
        deadline = active_deadline(pod, now) if self.outcome is None else None
        wake = [t for t in (plan.wake_at, deadline, *self.starter.wake_times(now)) if t is not None]
        self._wake_at = min(wake) if wake else None
        return False

    # -- the steps of a sync ------------------------------------------------------------

    async def _check_sandbox(self, containers: list[ContainerInfo],
                             sandboxes: list[SandboxInfo]) -> list[ContainerInfo]:
        """A sandbox that died under running containers took their network: stop them."""
        rt = self.ctx.runtime
        sandbox = running_sandbox(sandboxes)
        if sandbox is None and any(c.state == RUNNING for c in containers):
            await asyncio.gather(*(rt.stop_container(c.id, 0) for c in containers
                                   if c.state == RUNNING))
            containers = await rt.list_containers(self.uid)
        if sandbox is not None:
            self.pod_ip = sandbox.ip or self.pod_ip
        return containers

    async def _enforce(self, pod: v1.Pod, containers: list[ContainerInfo],
                       now: float) -> list[ContainerInfo]:
        """Kill what must not run on: an eviction asked for, failed liveness or startup
        probes, an exceeded active deadline. Returns the containers as they are then."""
        rt = self.ctx.runtime
        if self.eviction is not None and self.outcome is None:
            message = self.eviction.message
            self.log(logging.WARNING, "evicting: %s", message)
            await stop_containers(self.ctx, self, pod, containers, self.eviction.grace)
            self.outcome = PodOutcome(FAILED, EVICTED, message)
            self.event(WARNING, EVICTED, message)
            containers = await rt.list_containers(self.uid)
        if await kill_failed_probes(self.ctx, self, pod, containers):
            containers = await rt.list_containers(self.uid)
        deadline = active_deadline(pod, now)
        if self.outcome is None and deadline is not None and now >= deadline:
            self.log(logging.INFO, "active deadline exceeded; killing")
            await stop_containers(self.ctx, self, pod, containers, grace_period(pod))
            self.outcome = PodOutcome(FAILED, "DeadlineExceeded",
                                      "Pod was active on the node longer than the specified deadline")
            containers = await rt.list_containers(self.uid)
        return containers

    async def _advance(self, pod: v1.Pod, containers: list[ContainerInfo],
                       sandboxes: list[SandboxInfo], now: float,
                       ) -> tuple[Plan, str, list[ContainerInfo]]:
        """Start what the plan says, or, once the pod is finished, stop what still runs.
        Returns the plan, the phase and the containers to report."""
        rt, backoff = self.ctx.runtime, self.ctx.backoff
        plan = plan_pod(pod, containers, now, backoff, finished=self.outcome is not None)
        phase = pod_phase(pod, containers, plan)
        if self.outcome is None and phase in TERMINAL:
            self.outcome = PodOutcome(phase)
        if self.outcome is not None:
            running = [c for c in containers if c.state == RUNNING]
            if running:  # sidecars of a finished pod
                await asyncio.gather(*(rt.stop_container(c.id, grace_period(pod)) for c in running))
            await stop_sandboxes(self.ctx, [sb for sb in sandboxes if sb.state == RUNNING])
            containers = await rt.list_containers(self.uid)
            return plan_pod(pod, containers, now, backoff, finished=True), phase, containers
        if plan.start:
            await self.starter.start_all(pod, plan.start, sandboxes)
            containers = await rt.list_containers(self.uid)
            plan = plan_pod(pod, containers, self.ctx.clock.time(), backoff)
            phase = pod_phase(pod, containers, plan)
        return plan, phase, containers

    def _report_backoff(self, pod: v1.Pod, plan: Plan, containers: list[ContainerInfo]) -> None:
        """One BackOff event per container attempt waiting out its back-off."""
        if self.ctx.recorder is None or not plan.backing_off:
            return
        latest: dict[str, int] = {}
        for c in containers:
            latest[c.container_name] = max(latest.get(c.container_name, -1), c.attempt)
        for name in plan.backing_off:
            key = (name, latest.get(name, 0))
            if key not in self._backoff_reported:
                self._backoff_reported.add(key)
                self.event(WARNING, "BackOff", "Back-off restarting failed container "
                           f"{name} in pod {pod.metadata.name}_{pod.metadata.namespace}({self.uid})",
                           name)

    async def _terminate(self, pod: v1.Pod, containers: list[ContainerInfo],
                         sandboxes: list[SandboxInfo]) -> None:
        """A graceful deletion: stop within the grace, report the last status, remove
        everything, confirm the deletion."""
        grace = grace_period(pod)
        self.log(logging.INFO, "terminating with grace %ss", grace)
        await stop_containers(self.ctx, self, pod, containers, grace)
        await stop_sandboxes(self.ctx, sandboxes)
        containers = await self.ctx.runtime.list_containers(self.uid)
        plan = plan_pod(pod, containers, self.ctx.clock.time(), self.ctx.backoff, finished=True)
        phase = pod_phase(pod, containers, plan)
        if phase not in TERMINAL:
            phase = FAILED if any(c.exit_code for c in containers) else SUCCEEDED
        try:
            await self._publish(pod, containers, plan, phase)
        except Exception as err:  # noqa: BLE001 - the deletion goes on regardless
            self.log(logging.DEBUG, "final status not written: %r", err)
        await teardown(self.ctx, self, pod, [], [], grace=0)
        await self.ctx.api.confirm_delete(pod)
        self.log(logging.INFO, "terminated and deletion confirmed")

    async def _refresh_volumes(self, pod: v1.Pod) -> None:
        """A running pod's configMap, secret, downwardAPI and projected files follow their sources."""
        try:
            await self.ctx.volumes.refresh(pod, self.pod_ip, self.ctx.host_ip)
        except VolumeError as err:
            self.log(logging.WARNING, "volumes: %s", err)

    async def _publish(self, pod: v1.Pod, containers: list[ContainerInfo], plan: Plan,
                       phase: str) -> None:
        """Write the status when it changed; keep the stored pod as the worker's."""
        outcome = self.outcome or PodOutcome(phase)
        inputs = StatusInputs(
            phase=outcome.phase, plan=plan, pod_ip=self.pod_ip, host_ip=self.ctx.host_ip,
            now=self.ctx.clock.time(), blocked=self.starter.waiting_reasons(pod),
            reason=outcome.reason, message=outcome.message,
            messages=await self.ctx.volumes.files.termination_messages(pod, containers))
        status = build_status(pod, containers, inputs, self.ctx.probes)
        blob = status.SerializeToString(deterministic=True)
        if blob == self._last_status:
            return
        updated = v1.Pod()
        updated.CopyFrom(pod)
        updated.status.CopyFrom(status)
        stored = await self.ctx.api.write_status(updated)
        self._last_status = blob
        if stored is not None and self.pod is not None and \
                stored.metadata.uid == self.pod.metadata.uid:
            self.pod = stored
