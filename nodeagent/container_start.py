"""Starting a pod's containers: the sandbox, then each container attempt, step by step.

A container that cannot be started (its config, a mount, its image, the
runtime) gets a `StartFailure` with Kubernetes' waiting reason, retried with
the crash back-off; the pod's status shows the reason meanwhile. ErrImagePull
turns into ImagePullBackOff after the failing pass, as the kubelet's does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from nodeagent.backoff import crash_delay
from nodeagent.env import ContainerConfigError, build_env
from nodeagent.hooks import HookError, run_handler
from nodeagent.images import ensure_image
from nodeagent.plan import Start
from nodeagent.runtime.base import (
    RUNNING,
    TYPE_INIT,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    Mount,
    SandboxInfo,
)
from nodeagent.securitycontext import verify_run_as_non_root
from nodeagent.specs import (
    DEFAULT_GRACE,
    container_spec,
    default_pull_policy,
    grace_period,
    sandbox_spec,
)
from nodeagent.volumes import PreparedVolume, VolumeError
from nodeagent.worker_context import PodHandle, WorkerContext
from podlab.events import NORMAL, WARNING
from podlab.v1 import objects_pb2 as v1

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
RUN_CONTAINER_ERROR = "RunContainerError"

# Docker's message names the attempt's own objects (endpoint and container ids): without them,
# one cause reads the same on every attempt, so its Warning is one Event with a growing count.
_IDS = re.compile(r"\s*\(?\b[0-9a-f]{12,64}\b\)?")


def runtime_message(err: Exception) -> str:
    """The runtime's message for a failure, the same on every attempt of one cause."""
    return _IDS.sub("", str(err)).strip()


@dataclass
class StartFailure:
    """Why a container could not be started, and when to try again (epoch s)."""

    reason: str  # Kubernetes' waiting reason
    message: str
    failures: int
    retry_at: float
    since: float
    fresh: bool = True  # failed in this pass: report ErrImagePull, later ImagePullBackOff
    backoff_reported: bool = False  # the BackOff event of this failure is recorded


def running_sandbox(sandboxes: list[SandboxInfo]) -> SandboxInfo | None:
    running = [s for s in sandboxes if s.state == RUNNING]
    return max(running, key=lambda s: s.attempt) if running else None


def image_of(pod: v1.Pod, name: str) -> str:
    for c in list(pod.spec.init_containers) + list(pod.spec.containers):
        if c.name == name:
            return c.image
    return ""


class ContainerStarter:
    """Starts one pod's containers. `failures` (container name -> StartFailure) is this
    pod's, read and written only from its worker's task."""

    def __init__(self, ctx: WorkerContext, handle: PodHandle) -> None:
        self.ctx = ctx
        self.handle = handle
        self.failures: dict[str, StartFailure] = {}

    # -- failures and their reasons ------------------------------------------------------

    def fail(self, name: str, reason: str, message: str) -> None:
        """Record a failed start: the next try waits base, 2*base, ... up to cap (10 s doubling
        to 5 min by default, the kubelet's back-off), whatever wakes the worker meanwhile."""
        prev = self.failures.get(name)
        failures = prev.failures + 1 if prev else 1
        delay = crash_delay(failures, self.ctx.backoff.base, self.ctx.backoff.cap)
        now = self.ctx.clock.time()
        self.failures[name] = StartFailure(reason, message, failures, now + delay, now)

    def waiting_reasons(self, pod: v1.Pod) -> dict[str, tuple[str, str]]:
        """Container name -> (waiting reason, message) for the status; a pull that failed in
        an earlier pass reads ImagePullBackOff (its events recorded once)."""
        out = {}
        for name, f in self.failures.items():
            reason, message = f.reason, f.message
            if reason == ERR_IMAGE_PULL and not f.fresh:
                reason = IMAGE_PULL_BACKOFF
                message = f'Back-off pulling image "{image_of(pod, name)}"'
                if not f.backoff_reported:
                    f.backoff_reported = True
                    self.handle.event(NORMAL, "BackOff", message, name)
                    self.handle.event(WARNING, "Failed", f"Error: {reason}", name)
            f.fresh = False
            out[name] = (reason, message)
        return out

    def wake_times(self, now: float) -> list[float]:
        """When a failed start may be retried, and when ErrImagePull turns into ImagePullBackOff."""
        times = [f.retry_at for f in self.failures.values()]
        times += [f.since + min(1.0, (f.retry_at - f.since) / 2) for f in self.failures.values()
                  if f.reason == ERR_IMAGE_PULL and f.retry_at > now]
        return times

    # -- starting ----------------------------------------------------------------------------

    async def start_all(self, pod: v1.Pod, starts: list[Start], sandboxes: list[SandboxInfo]) -> None:
        """Start what the plan says and whose back-off is over; init containers stop at the
        first that cannot start."""
        now = self.ctx.clock.time()
        runnable = [s for s in starts if (f := self.failures.get(s.container.name)) is None
                    or f.retry_at <= now]
        if not runnable:
            return
        try:
            sandbox = await self.ensure_sandbox(pod, sandboxes)
        except ContainerRuntimeError as err:
            # The sandbox holds the pod's ports and network: none of its containers can run.
            message = runtime_message(err)
            for s in runnable:
                self.fail(s.container.name, RUN_CONTAINER_ERROR,
                          f"failed to start the pod sandbox: {message}")
            self.handle.event(WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {message}")
            self.handle.log(logging.WARNING, "sandbox failed to start: %s", message)
            return
        try:
            prepared = await self.ctx.volumes.setup(pod, self.handle.pod_ip, self.ctx.host_ip)
        except VolumeError as err:
            for s in runnable:
                self.fail(s.container.name, "ContainerCreating", str(err))
            self.handle.event(WARNING, "FailedMount", str(err))
            self.handle.log(logging.WARNING, "volumes: %s", err)
            return
        for s in runnable:
            ok = await self.start(pod, s, sandbox, prepared)
            if s.type == TYPE_INIT and not ok:
                break

    async def ensure_sandbox(self, pod: v1.Pod, sandboxes: list[SandboxInfo]) -> SandboxInfo:
        """The running sandbox, or a new one (the dead ones removed)."""
        current = running_sandbox(sandboxes)
        if current is not None:
            return current
        rt = self.ctx.runtime
        for old in sandboxes:
            await rt.remove_container(old.id)
        attempt = max((s.attempt for s in sandboxes), default=-1) + 1
        mounts = await self.ctx.volumes.sandbox_mounts(pod)
        sandbox = await rt.run_sandbox(sandbox_spec(pod, self.ctx.node_name, self.ctx.host_ip, attempt, mounts))
        if pod.spec.host_network:
            sandbox.ip = self.ctx.host_ip
        self.handle.pod_ip = sandbox.ip
        self.handle.log(logging.INFO, "sandbox %s started ip=%s", sandbox.id[:12], sandbox.ip)
        return sandbox

    async def start(self, pod: v1.Pod, s: Start, sandbox: SandboxInfo,
                    prepared: dict[str, PreparedVolume]) -> bool:
        """Create, start and postStart one container attempt. False when it could not."""
        c = s.container
        resolved = await self._resolve(pod, c, prepared, s.attempt)
        if resolved is None or not await self._pull(c) or not await self._may_run_as(pod, c):
            return False
        env, mounts = resolved
        spec = container_spec(pod, c, s.type, s.attempt, self.ctx.node_name, env, mounts)
        await self._remove_old_attempts(c.name, s.attempt)
        cid = await self._create_and_start(spec, sandbox)
        if cid is None:
            return False
        # Forgotten only once it started: a failure streak (its back-off) spans every step.
        self.failures.pop(c.name, None)
        self.handle.log(logging.INFO, "container %s attempt %d started", c.name, s.attempt)
        self.handle.event(NORMAL, "Started", f"Started container {c.name}", c.name)
        self.ctx.probes.container_started(pod, c, cid, self.handle.pod_ip)
        return await self._post_start(pod, c, cid)

    # -- the steps of `start` ------------------------------------------------------------

    def _failed(self, name: str, reason: str, message: str, event_reason: str, event: str) -> None:
        self.fail(name, reason, message)
        self.handle.event(WARNING, event_reason, event, name)

    async def _resolve(self, pod: v1.Pod, c: v1.Container, prepared: dict[str, PreparedVolume],
                       attempt: int) -> tuple[dict[str, str], list[Mount]] | None:
        """The container's environment and mounts; None (and a StartFailure) when they fail."""
        try:
            env = await build_env(pod, c, self.ctx.api.get_object, self.handle.pod_ip,
                                  self.ctx.host_ip, self.ctx.allocatable, self.ctx.service_env)
            return env, self.ctx.volumes.mounts(pod, c, prepared, env, attempt)
        except ContainerConfigError as err:
            self._failed(c.name, "CreateContainerConfigError", str(err), "Failed", f"Error: {err}")
        except VolumeError as err:
            self._failed(c.name, "ContainerCreating", str(err), "FailedMount", str(err))
        self.handle.log(logging.WARNING, "container %s: %s", c.name, self.failures[c.name].message)
        return None

    async def _may_run_as(self, pod: v1.Pod, c: v1.Container) -> bool:
        """runAsNonRoot, checked against the image's user as the kubelet does; False (and a
        StartFailure) when the container would run as root."""
        try:
            verify_run_as_non_root(pod, c, await self.ctx.runtime.image_user(c.image))
            return True
        except ContainerConfigError as err:
            self._failed(c.name, "CreateContainerConfigError", str(err), "Failed", f"Error: {err}")
            return False

    async def _pull(self, c: v1.Container) -> bool:
        """The image, as the pull policy says; False (and a StartFailure) when it cannot be had."""
        try:
            await ensure_image(self.ctx.runtime, c.image,
                               c.image_pull_policy or default_pull_policy(c.image),
                               lambda type_, reason, message: self.handle.event(
                                   type_, reason, message, c.name))
        except ImagePullError as err:
            self._failed(c.name, err.reason, err.message, "Failed", f"Error: {err.reason}")
            self.handle.log(logging.WARNING, "container %s: %s: %s", c.name, err.reason, err.message)
            return False
        return True

    async def _remove_old_attempts(self, name: str, attempt: int) -> None:
        """Keep the newest exited attempt for `logs --previous`; drop older ones."""
        rt = self.ctx.runtime
        for old in await rt.list_containers(self.handle.uid):
            if old.container_name == name and old.attempt < attempt - 1:
                await rt.remove_container(old.id)

    async def _create_and_start(self, spec: ContainerSpec, sandbox: SandboxInfo) -> str | None:
        """The started container's id; None when the runtime refused."""
        rt, name = self.ctx.runtime, spec.name
        try:
            cid = await rt.create_container(spec, sandbox)
            self.handle.event(NORMAL, "Created", f"Created container {name}", name)
            await rt.start_container(cid)
            return cid
        except ContainerRuntimeError as err:
            if not any(sb.id == sandbox.id and sb.state == RUNNING
                       for sb in await rt.list_sandboxes(self.handle.uid)):
                # The sandbox died under us, so there were no namespaces to join: no fault of
                # the container's, and no back-off. The next sync makes a new sandbox at once.
                self.handle.log(logging.WARNING, "sandbox %s died before %s could join it; "
                                "recreating it", sandbox.id[:12], name)
                self.handle.wake()
                return None
            message = runtime_message(err)
            self._failed(name, RUN_CONTAINER_ERROR, message, "Failed", f"Error: {message}")
            self.handle.log(logging.WARNING, "container %s failed to start: %s", name, message)
            return None

    async def _post_start(self, pod: v1.Pod, c: v1.Container, cid: str) -> bool:
        """The postStart hook; a failed hook kills the container (False)."""
        if not c.lifecycle.HasField("post_start"):
            return True
        try:
            await run_handler(self.ctx.runtime, cid, c, c.lifecycle.post_start, self.handle.pod_ip,
                              timeout=float(grace_period(pod) or DEFAULT_GRACE))
        except HookError as err:
            self.handle.log(logging.WARNING, "postStart of %s failed: %s; killing", c.name, err)
            self.handle.event(WARNING, "FailedPostStartHook", str(err), c.name)
            await self.ctx.runtime.stop_container(cid, grace_period(pod))
            return False
        return True
