"""One asyncio task per pod: `sync_pod` reconciles the pod with the runtime.

Events (the pod changed, a container event, a timer) only wake the worker;
every pass lists the pod's containers afresh and decides from that, so a pass
can run at any time, any number of times. The decisions themselves live in
`nodeagent.plan` (pure); this module performs them and reports status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nodeagent.backoff import CrashBackoff, crash_delay
from nodeagent.env import ContainerConfigError, ObjectGetter, build_env, expand
from nodeagent.hooks import HookError, run_handler
from nodeagent.images import ensure_image
from nodeagent.plan import FAILED, SUCCEEDED, TERMINAL, Plan, Start, plan_pod, pod_phase
from nodeagent.probes import ProbeManager, kill_grace
from nodeagent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_TYPE,
    RUNNING,
    TYPE_INIT,
    TYPE_SANDBOX,
    ContainerInfo,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    PortMapping,
    Runtime,
    SandboxInfo,
    SandboxSpec,
)
from nodeagent.status import StatusInputs, build_status
from nodeagent.volumes import PreparedVolume, VolumeError, VolumeManager
from podlab.events import NORMAL, WARNING, EventRecorder
from podlab.quantity import cpu_millis, to_bytes
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent.worker")

DEFAULT_GRACE = 30


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for :latest or no tag, else IfNotPresent."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def grace_period(pod: v1.Pod) -> int:
    if pod.metadata.HasField("deletion_grace_period_seconds"):
        return max(0, pod.metadata.deletion_grace_period_seconds)
    if pod.spec.HasField("termination_grace_period_seconds"):
        return max(0, pod.spec.termination_grace_period_seconds)
    return DEFAULT_GRACE


def _pod_grace(pod: v1.Pod) -> int:
    """The pod's own termination grace (a probe kill is not a deletion)."""
    if pod.spec.HasField("termination_grace_period_seconds"):
        return max(0, pod.spec.termination_grace_period_seconds)
    return DEFAULT_GRACE


def pod_labels(pod: v1.Pod, node: str) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_NODE: node, LABEL_POD_UID: pod.metadata.uid,
            LABEL_POD_NAME: pod.metadata.name,
            LABEL_POD_NAMESPACE: pod.metadata.namespace or "default"}


@dataclass
class WorkerContext:
    """What every pod worker shares with the agent."""

    node_name: str
    host_ip: str
    runtime: Runtime
    volumes: VolumeManager
    probes: ProbeManager
    getter: ObjectGetter
    backoff: CrashBackoff
    allocatable: dict[str, str]
    # Writes a pod's status; returns the stored pod, or None when the pod is gone.
    write_status: Callable[[v1.Pod], Awaitable[v1.Pod | None]]
    # Confirms a graceful deletion (client.delete grace 0 with the uid).
    confirm_delete: Callable[[v1.Pod], Awaitable[None]]
    fenced: Callable[[], bool] = lambda: False
    resync_period: float = 60.0
    recorder: EventRecorder | None = None


@dataclass
class _Blocked:
    reason: str
    message: str
    failures: int
    retry_at: float
    since: float
    fresh: bool = True  # failed in this pass: report ErrImagePull, later ImagePullBackOff
    backoff_reported: bool = False  # the BackOff event of this failure is recorded


@dataclass
class PodWorker:
    """Serialises all work on one pod. `update()` feeds the desired pod (None = gone)."""

    ctx: WorkerContext
    pod: v1.Pod | None
    uid: str = ""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _blocked: dict[str, _Blocked] = field(default_factory=dict)
    _last_status: bytes = b""
    _final: tuple[str, str, str] | None = None  # phase, reason, message once terminal
    _pod_ip: str = ""
    _wake_at: float | None = None
    # node-pressure eviction asked for: (message, grace); `evicted` is set once stopped
    _evict: tuple[str, float] | None = None
    evicted: asyncio.Event = field(default_factory=asyncio.Event)
    _backoff_reported: set[tuple[str, int]] = field(default_factory=set)
    done: bool = False

    def __post_init__(self) -> None:
        if self.pod is not None:
            self.uid = self.pod.metadata.uid
            self._pod_ip = self.pod.status.pod_ip
            if self.pod.status.phase in TERMINAL:
                self._final = (self.pod.status.phase, self.pod.status.reason,
                               self.pod.status.message)

    # -- driving --------------------------------------------------------------------

    def update(self, pod: v1.Pod | None) -> None:
        if pod is not None and self.pod is not None and \
                pod.metadata.resource_version == self.pod.metadata.resource_version:
            return
        self.pod = pod
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def evict(self, message: str, grace: float) -> None:
        """Stop the pod for node pressure and report it Failed/Evicted with `message`.
        `evicted` is set when its containers are stopped and the status is written."""
        if self._evict is None and self._final is None:
            self._evict = (message, grace)
        self.wake()

    @property
    def finished(self) -> bool:
        """The pod reached a terminal phase on this node (or is being evicted)."""
        return self._final is not None or self._evict is not None

    def _event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        if self.ctx.recorder is not None and self.pod is not None:
            self.ctx.recorder.pod_event(self.pod, type_, reason, message, container)

    def _log(self, level: int, msg: str, *args: object) -> None:
        pod = self.pod
        name = f"{pod.metadata.namespace}/{pod.metadata.name}" if pod else "?"
        log.log(level, msg + " node=%s pod=%s uid=%s", *args, self.ctx.node_name, name, self.uid)

    async def run(self) -> None:
        """Sync until the pod is gone from this node (deleted and cleaned up)."""
        while not self.done:
            timeout = self.ctx.resync_period
            if self._wake_at is not None:
                timeout = max(0.0, min(timeout, self._wake_at - time.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it can eat a cancel on 3.11
                    await self._wake.wait()
            self._wake.clear()
            if self.ctx.fenced():
                continue
            try:
                self.done = await self.sync_pod()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - keep the worker alive; retry soon
                self._log(logging.WARNING, "sync failed: %r; retrying", err)
                self._wake_at = time.time() + 1.0

    # -- the sync -------------------------------------------------------------------

    async def sync_pod(self) -> bool:
        """One idempotent pass. Returns True when the pod is finished on this node."""
        rt = self.ctx.runtime
        containers, sandboxes = await rt.list_all(self.uid)
        pod = self.pod
        if pod is None:
            self._log(logging.INFO, "pod removed from the API; killing")
            await self._teardown(containers, sandboxes, grace=0, pod=None)
            return True
        if pod.metadata.HasField("deletion_timestamp"):
            await self._terminate(pod, containers, sandboxes)
            return True

        now = time.time()
        sandbox = self._running_sandbox(sandboxes)
        if sandbox is None and any(c.state == RUNNING for c in containers):
            # The sandbox died under the containers: they lost their network.
            await asyncio.gather(*(rt.stop_container(c.id, 0) for c in containers
                                   if c.state == RUNNING))
            containers = await rt.list_containers(self.uid)
        if sandbox is not None:
            self._pod_ip = sandbox.ip or self._pod_ip
        if self._evict is not None and self._final is None:
            message, grace = self._evict
            self._log(logging.WARNING, "evicting: %s", message)
            await self._kill_all(pod, containers, grace)
            self._final = (FAILED, "Evicted", message)
            self._event(WARNING, "Evicted", message)
            containers = await rt.list_containers(self.uid)
        if await self._check_liveness(pod, containers):
            containers = await rt.list_containers(self.uid)

        deadline = self._deadline(pod)
        if self._final is None and deadline is not None and now >= deadline:
            self._log(logging.INFO, "active deadline exceeded; killing")
            await self._kill_all(pod, containers, grace_period(pod))
            self._final = (FAILED, "DeadlineExceeded",
                           "Pod was active on the node longer than the specified deadline")
            containers = await rt.list_containers(self.uid)

        plan = plan_pod(pod, containers, now, self.ctx.backoff)
        phase = pod_phase(pod, containers, plan)
        if self._final is None and phase in TERMINAL:
            self._final = (phase, "", "")
        if self._final is not None:
            running = [c for c in containers if c.state == RUNNING]
            if running:  # sidecars of a finished pod
                await asyncio.gather(*(rt.stop_container(c.id, grace_period(pod)) for c in running))
            for sb in sandboxes:
                if sb.state == RUNNING:
                    await rt.stop_container(sb.id, 0)
            containers = await rt.list_containers(self.uid)
            plan = plan_pod(pod, containers, now, self.ctx.backoff)
            plan.start = []
            plan.backing_off = {}
        elif plan.start:
            await self._start_all(pod, plan.start, sandboxes)
            containers = await rt.list_containers(self.uid)
            plan = plan_pod(pod, containers, time.time(), self.ctx.backoff)
            phase = pod_phase(pod, containers, plan)
        await self._publish(pod, containers, plan, phase)
        if self._final is not None and self._final[1] == "Evicted":
            self.evicted.set()
        self._report_backoff(pod, plan, containers)
        wake = [t for t in (plan.wake_at, deadline if self._final is None else None,
                            *(b.retry_at for b in self._blocked.values()),
                            # ErrImagePull turns into ImagePullBackOff before the retry
                            *(b.since + min(1.0, (b.retry_at - b.since) / 2)
                              for b in self._blocked.values()
                              if b.reason == "ErrImagePull" and b.retry_at > now))
                if t is not None]
        self._wake_at = min(wake) if wake else None
        return False

    # -- pieces ---------------------------------------------------------------------

    @staticmethod
    def _running_sandbox(sandboxes: list[SandboxInfo]) -> SandboxInfo | None:
        running = [s for s in sandboxes if s.state == RUNNING]
        return max(running, key=lambda s: s.attempt) if running else None

    def _deadline(self, pod: v1.Pod) -> float | None:
        if not pod.spec.HasField("active_deadline_seconds"):
            return None
        start = pod.status.start_time.ToMilliseconds() / 1000 if pod.status.HasField(
            "start_time") else time.time()
        return start + pod.spec.active_deadline_seconds

    async def _check_liveness(self, pod: v1.Pod, containers: list[ContainerInfo]) -> bool:
        """Keep the prober in step with the running containers; kill those whose liveness
        or startup probe failed. True when something was killed."""
        probes = self.ctx.probes
        running = {c.container_name: c.id for c in containers if c.state == RUNNING}
        probes.sync(pod, running, self._pod_ip)
        killed = []
        for c in containers:
            failure = probes.failure(self.uid, c.container_name, c.id) if c.state == RUNNING else None
            if failure is None:
                continue
            self._log(logging.INFO, "container %s failed %s probe; restarting", c.container_name,
                      failure.kind)
            self._event(NORMAL, "Killing", failure.message, c.container_name)
            killed.append((c, kill_grace(failure, _pod_grace(pod))))
        await asyncio.gather(*(self.ctx.runtime.stop_container(c.id, grace) for c, grace in killed))
        for c, _ in killed:
            probes.container_stopped(self.uid, c.container_name)
        return bool(killed)

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
                self._event(WARNING, "BackOff", "Back-off restarting failed container "
                            f"{name} in pod {pod.metadata.name}_{pod.metadata.namespace}({self.uid})",
                            name)

    async def _ensure_sandbox(self, pod: v1.Pod, sandboxes: list[SandboxInfo]) -> SandboxInfo:
        current = self._running_sandbox(sandboxes)
        if current is not None:
            return current
        rt = self.ctx.runtime
        for old in sandboxes:
            await rt.remove_container(old.id)
        attempt = max((s.attempt for s in sandboxes), default=-1) + 1
        labels = pod_labels(pod, self.ctx.node_name)
        labels.update({LABEL_TYPE: TYPE_SANDBOX, LABEL_CONTAINER_NAME: "POD",
                       LABEL_ATTEMPT: str(attempt)})
        # hostIP 0.0.0.0 means "every address of this node": on a Docker host shared by
        # several nodes, that is the node's own host IP, not every address of the machine.
        ports = [PortMapping(p.container_port, p.host_port, p.protocol or "TCP",
                             p.host_ip if p.host_ip not in ("", "0.0.0.0") else self.ctx.host_ip)
                 for c in list(pod.spec.init_containers) + list(pod.spec.containers)
                 for p in c.ports if p.host_port]
        hosts: dict[str, list[str]] = {}
        for alias in pod.spec.host_aliases:
            for h in alias.hostnames:
                hosts.setdefault(h, []).append(alias.ip)
        spec = SandboxSpec(pod.metadata.uid, pod.metadata.name, pod.metadata.namespace or "default",
                           attempt, pod.spec.hostname or pod.metadata.name, labels,
                           host_network=pod.spec.host_network, ports=ports, extra_hosts=hosts)
        sandbox = await rt.run_sandbox(spec)
        if pod.spec.host_network:
            sandbox.ip = self.ctx.host_ip
        self._pod_ip = sandbox.ip
        self._log(logging.INFO, "sandbox %s started ip=%s", sandbox.id[:12], sandbox.ip)
        return sandbox

    async def _start_all(self, pod: v1.Pod, starts: list[Start],
                         sandboxes: list[SandboxInfo]) -> None:
        now = time.time()
        runnable = [s for s in starts if self._blocked.get(s.container.name) is None
                    or self._blocked[s.container.name].retry_at <= now]
        if not runnable:
            return
        sandbox = await self._ensure_sandbox(pod, sandboxes)
        try:
            prepared = await self.ctx.volumes.setup(pod, self._pod_ip, self.ctx.host_ip)
        except VolumeError as err:
            for s in runnable:
                self._block(s.container.name, "ContainerCreating", str(err))
            self._event(WARNING, "FailedMount", str(err))
            self._log(logging.WARNING, "volumes: %s", err)
            return
        for s in runnable:
            ok = await self._start(pod, s, sandbox, prepared)
            if s.type == TYPE_INIT and not ok:
                break

    def _block(self, name: str, reason: str, message: str) -> None:
        prev = self._blocked.get(name)
        failures = prev.failures + 1 if prev else 1
        delay = crash_delay(failures + 1, self.ctx.backoff.base, self.ctx.backoff.cap)
        now = time.time()
        self._blocked[name] = _Blocked(reason, message, failures, now + delay, now)

    async def _start(self, pod: v1.Pod, s: Start, sandbox: SandboxInfo,
                     prepared: dict[str, PreparedVolume]) -> bool:
        """Create, start and postStart one container attempt. False when it could not."""
        c, rt = s.container, self.ctx.runtime
        try:
            env = await build_env(pod, c, self.ctx.getter, self._pod_ip, self.ctx.host_ip,
                                  self.ctx.allocatable)
            mounts = self.ctx.volumes.mounts(c, prepared)
        except ContainerConfigError as err:
            self._block(c.name, "CreateContainerConfigError", str(err))
            self._event(WARNING, "Failed", f"Error: {err}", c.name)
            self._log(logging.WARNING, "container %s: %s", c.name, err)
            return False
        except VolumeError as err:
            self._block(c.name, "ContainerCreating", str(err))
            self._event(WARNING, "FailedMount", str(err), c.name)
            self._log(logging.WARNING, "container %s: %s", c.name, err)
            return False
        try:
            await ensure_image(rt, c.image, c.image_pull_policy or default_pull_policy(c.image),
                               lambda type_, reason, message: self._event(type_, reason, message, c.name))
        except ImagePullError as err:
            self._block(c.name, err.reason, err.message)
            self._event(WARNING, "Failed", f"Error: {err.reason}", c.name)
            self._log(logging.WARNING, "container %s: %s: %s", c.name, err.reason, err.message)
            return False
        self._blocked.pop(c.name, None)
        labels = pod_labels(pod, self.ctx.node_name)
        labels.update({LABEL_CONTAINER_NAME: c.name, LABEL_ATTEMPT: str(s.attempt),
                       LABEL_TYPE: s.type})
        spec = ContainerSpec(
            pod.metadata.uid, pod.metadata.name, pod.metadata.namespace or "default", c.name,
            s.attempt, s.type, c.image, labels,
            command=[expand(x, env) for x in c.command], args=[expand(x, env) for x in c.args],
            env=env, working_dir=c.working_dir, mounts=mounts, tty=c.tty, stdin=c.stdin)
        limits = c.resources.limits
        if limits.get("cpu"):
            spec.nano_cpus = cpu_millis(limits["cpu"]) * 1_000_000
        if limits.get("memory"):
            spec.memory_limit = to_bytes(limits["memory"])
        sc, psc = c.security_context, pod.spec.security_context
        user = sc.run_as_user if sc.HasField("run_as_user") else (
            psc.run_as_user if psc.HasField("run_as_user") else None)
        group = sc.run_as_group if sc.HasField("run_as_group") else (
            psc.run_as_group if psc.HasField("run_as_group") else None)
        if user is not None:
            spec.user = f"{user}:{group}" if group is not None else str(user)
        spec.read_only_rootfs = sc.read_only_root_filesystem
        # Keep the newest exited attempt for `logs --previous`; drop older ones.
        for old in await rt.list_containers(self.uid):
            if old.container_name == c.name and old.attempt < s.attempt - 1:
                await rt.remove_container(old.id)
        try:
            cid = await rt.create_container(spec, sandbox)
            self._event(NORMAL, "Created", f"Created container {c.name}", c.name)
            await rt.start_container(cid)
        except ContainerRuntimeError as err:
            if not any(sb.id == sandbox.id and sb.state == RUNNING for sb in await rt.list_sandboxes(self.uid)):
                # The sandbox died under us, so there were no namespaces to join: no fault of
                # the container's, and no back-off. The next sync makes a new sandbox at once.
                self._log(logging.WARNING, "sandbox %s died before %s could join it; recreating it",
                          sandbox.id[:12], c.name)
                self.wake()
                return False
            self._block(c.name, "RunContainerError", str(err))
            self._event(WARNING, "Failed", f"Error: {err}", c.name)
            self._log(logging.WARNING, "container %s failed to start: %s", c.name, err)
            return False
        self._log(logging.INFO, "container %s attempt %d started", c.name, s.attempt)
        self._event(NORMAL, "Started", f"Started container {c.name}", c.name)
        self.ctx.probes.container_started(pod, c, cid, self._pod_ip)
        if c.lifecycle.HasField("post_start"):
            try:
                await run_handler(rt, cid, c, c.lifecycle.post_start, self._pod_ip,
                                  timeout=float(grace_period(pod) or DEFAULT_GRACE))
            except HookError as err:
                self._log(logging.WARNING, "postStart of %s failed: %s; killing", c.name, err)
                self._event(WARNING, "FailedPostStartHook", str(err), c.name)
                await rt.stop_container(cid, grace_period(pod))
                return False
        return True

    async def _kill_all(self, pod: v1.Pod | None, containers: list[ContainerInfo],
                        grace: float) -> None:
        """preStop, SIGTERM, SIGKILL after `grace`: every running container at once."""
        rt = self.ctx.runtime
        deadline = time.monotonic() + grace
        specs = {c.name: c for c in (list(pod.spec.init_containers) + list(pod.spec.containers))} \
            if pod is not None else {}

        async def stop(info: ContainerInfo) -> None:
            spec = specs.get(info.container_name)
            if spec is not None and grace > 0 and spec.lifecycle.HasField("pre_stop"):
                try:
                    await run_handler(rt, info.id, spec, spec.lifecycle.pre_stop, self._pod_ip,
                                      timeout=grace)
                except HookError as err:
                    self._log(logging.INFO, "preStop of %s failed: %s", info.container_name, err)
                    self._event(WARNING, "FailedPreStopHook", str(err), info.container_name)
            self._event(NORMAL, "Killing", f"Stopping container {info.container_name}",
                        info.container_name)
            await rt.stop_container(info.id, max(0.0, deadline - time.monotonic()))
            self.ctx.probes.container_stopped(self.uid, info.container_name)

        running = [c for c in containers if c.state == RUNNING]
        apps = [c for c in running if c.type != TYPE_INIT]
        inits = [c for c in running if c.type == TYPE_INIT]
        await asyncio.gather(*(stop(c) for c in apps))
        await asyncio.gather(*(stop(c) for c in inits))  # sidecars outlive the app

    async def _teardown(self, containers: list[ContainerInfo], sandboxes: list[SandboxInfo],
                        grace: float, pod: v1.Pod | None) -> None:
        rt = self.ctx.runtime
        await self._kill_all(pod, containers, grace)
        for sb in sandboxes:
            await rt.stop_container(sb.id, 0)
        left, left_sandboxes = await rt.list_all(self.uid)  # containers may have come since
        for cid in [c.id for c in left] + [sb.id for sb in left_sandboxes]:
            await rt.remove_container(cid)
        await self.ctx.volumes.teardown(self.uid)
        self.ctx.probes.pod_removed(self.uid)
        self.ctx.backoff.forget(self.uid)

    async def _terminate(self, pod: v1.Pod, containers: list[ContainerInfo],
                         sandboxes: list[SandboxInfo]) -> None:
        grace = grace_period(pod)
        self._log(logging.INFO, "terminating with grace %ss", grace)
        rt = self.ctx.runtime
        await self._kill_all(pod, containers, grace)
        for sb in sandboxes:
            await rt.stop_container(sb.id, 0)
        containers = await rt.list_containers(self.uid)
        plan = plan_pod(pod, containers, time.time(), self.ctx.backoff)
        plan.start, plan.backing_off = [], {}
        phase = pod_phase(pod, containers, plan)
        if phase not in TERMINAL:
            phase = FAILED if any(c.exit_code for c in containers) else SUCCEEDED
        try:
            await self._publish(pod, containers, plan, phase)
        except Exception as err:  # noqa: BLE001 - the deletion goes on regardless
            self._log(logging.DEBUG, "final status not written: %r", err)
        await self._teardown([], [], 0, pod)
        await self.ctx.confirm_delete(pod)
        self._log(logging.INFO, "terminated and deletion confirmed")

    async def _publish(self, pod: v1.Pod, containers: list[ContainerInfo], plan: Plan,
                       phase: str) -> None:
        now = time.time()
        final = self._final
        blocked = {}
        for name, b in self._blocked.items():
            reason, message = b.reason, b.message
            if reason == "ErrImagePull" and not b.fresh:
                reason = "ImagePullBackOff"
                message = f'Back-off pulling image "{self._image_of(pod, name)}"'
                if not b.backoff_reported:
                    b.backoff_reported = True
                    self._event(NORMAL, "BackOff", message, name)
                    self._event(WARNING, "Failed", f"Error: {reason}", name)
            b.fresh = False
            blocked[name] = (reason, message)
        inputs = StatusInputs(
            phase=final[0] if final else phase, plan=plan,
            pod_ip=self._pod_ip, host_ip=self.ctx.host_ip, now=now, blocked=blocked,
            reason=final[1] if final else "", message=final[2] if final else "")
        status = build_status(pod, containers, inputs, self.ctx.probes)
        blob = status.SerializeToString(deterministic=True)
        if blob == self._last_status:
            return
        updated = v1.Pod()
        updated.CopyFrom(pod)
        updated.status.CopyFrom(status)
        stored = await self.ctx.write_status(updated)
        self._last_status = blob
        if stored is not None and self.pod is not None and \
                stored.metadata.uid == self.pod.metadata.uid:
            self.pod = stored

    @staticmethod
    def _image_of(pod: v1.Pod, name: str) -> str:
        for c in list(pod.spec.init_containers) + list(pod.spec.containers):
            if c.name == name:
                return c.image
        return ""
