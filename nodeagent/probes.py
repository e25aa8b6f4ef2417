"""Container probes: liveness, readiness and startup, one asyncio task per probe.

The pod worker asks questions (`readiness`, `started`, `failure`) and calls
`container_started` / `sync` / `container_stopped`; a `Prober` answers from the
results its probe tasks keep, and wakes the pod's worker (the `wake` callback)
whenever an answer changes, so status and restarts follow within one sync.

Semantics follow the kubelet:

* every probe waits `initialDelaySeconds` after the container started, then
  runs every `periodSeconds`, each attempt bounded by `timeoutSeconds`;
* readiness starts False and flips after `successThreshold` consecutive
  successes / `failureThreshold` consecutive failures;
* liveness starts alive; `failureThreshold` consecutive failures make it
  fail, and the worker kills the container (grace: the probe's
  `terminationGracePeriodSeconds`, else the pod's) so restartPolicy restarts it;
* startup starts False; liveness and readiness wait until it succeeds; once it
  succeeds it stops; `failureThreshold` failures kill as liveness does.

A container without a readiness probe is ready when running (and started); one
without a startup probe is started when running.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.hooks import HookError, http_get_location, resolve_port
from nodeagent.runtime.base import ContainerRuntimeError, Runtime
from podlab.events import WARNING, EventRecorder
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent.probes")

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
_TITLE = {LIVENESS: "Liveness", READINESS: "Readiness", STARTUP: "Startup"}


@dataclass
class ProbeFailure:
    """A liveness or startup probe has failed: the container is to be killed."""

    kind: str  # liveness / startup
    container_id: str
    message: str
    grace: int | None  # the probe's terminationGracePeriodSeconds; None = the pod's


class ProbeManager:
    """Answers readiness/liveness/startup for running containers. This base has no probes."""

    def readiness(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        """True/False from a readiness probe; None when the container has none."""
        return None

    def liveness(self, pod_uid: str, container: str, container_id: str) -> bool:
        """False when a liveness (or startup) probe says the container must be restarted."""
        return self.failure(pod_uid, container, container_id) is None

    def failure(self, pod_uid: str, container: str, container_id: str) -> ProbeFailure | None:
        """Why the container must be killed, when a liveness or startup probe failed."""
        return None

    def started(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        """Startup probe verdict; None when the container has none."""
        return None

    def container_started(self, pod: v1.Pod, container: v1.Container, container_id: str,
                          pod_ip: str) -> None:
        """A container of `pod` started: begin probing it (idempotent)."""

    def sync(self, pod: v1.Pod, running: dict[str, str], pod_ip: str) -> None:
        """The pod's running containers (name -> id) as the worker sees them: probe
        those not probed yet (adopted after an agent restart), stop probing the rest."""

    def container_stopped(self, pod_uid: str, container: str) -> None:
        """Stop probing a container."""

    def pod_removed(self, pod_uid: str) -> None:
        """Forget everything about a pod."""

    def close(self) -> None:
        """Stop every probe."""


class NoProbes(ProbeManager):
    """Never probes (benchmarks of the rest of the agent)."""


# -- one probe attempt ----------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    detail: str = ""


_NO_VERIFY = ssl.create_default_context()
_NO_VERIFY.check_hostname = False
_NO_VERIFY.verify_mode = ssl.CERT_NONE


async def run_probe(runtime: Runtime, container_id: str, container: v1.Container, probe: v1.Probe,
                    host: str, timeout: float) -> Outcome:
    """One attempt of `probe` against the container (reached at `host`), within `timeout`."""
    try:
        if probe.HasField("exec") and probe.exec.command:
            return await _exec(runtime, container_id, list(probe.exec.command), timeout)
        if probe.HasField("http_get"):
            return await _http(probe.http_get, container, host, timeout)
        if probe.HasField("tcp_socket"):
            ts = probe.tcp_socket
            target = ts.host or host
            port = resolve_port(ts.port, container)
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(target, port)
            except TimeoutError:
                return Outcome(False, f"dial tcp {target}:{port}: i/o timeout")
            except OSError as err:
                return Outcome(False, f"dial tcp {target}:{port}: {err.strerror or err}")
            writer.close()
            return Outcome(True)
        if probe.HasField("grpc"):
            return await _grpc(probe.grpc, host, timeout)
    except HookError as err:
        return Outcome(False, str(err))
    return Outcome(False, "probe has no handler")


async def _exec(runtime: Runtime, container_id: str, command: list[str], timeout: float) -> Outcome:
    try:
        result = await runtime.exec(container_id, command, timeout)
    except TimeoutError:
        return Outcome(False, f"command {command} timed out after {timeout:g}s")
    except ContainerRuntimeError as err:
        return Outcome(False, str(err))
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    if result.exit_code == 0:
        return Outcome(True, output)
    return Outcome(False, output or f"command {command} exited with {result.exit_code}")


async def _http(hg: v1.HTTPGetAction, container: v1.Container, host: str, timeout: float) -> Outcome:
    target = hg.host or host
    port = resolve_port(hg.port, container)
    scheme = (hg.scheme or "HTTP").upper()
    url = f"{scheme.lower()}://{target}:{port}{hg.path or '/'}"
    path = hg.path or "/"
    try:
        # The kubelet follows up to 10 redirects to the same host; a redirect elsewhere is
        # a success (with a warning), not followed.
        for _ in range(11):
            code, location = await http_get_location(target, port, path, list(hg.http_headers), timeout,
                                                     tls=_NO_VERIFY if scheme == "HTTPS" else None)
            if not 300 <= code < 400 or not location:
                break
            nxt = urllib.parse.urlsplit(urllib.parse.urljoin(f"{scheme.lower()}://{target}:{port}{path}",
                                                             location))
            if nxt.hostname != target:
                return Outcome(True, f"Probe terminated redirects, Response body: {location}")
            port = nxt.port or port
            path = urllib.parse.urlunsplit(("", "", nxt.path or "/", nxt.query, ""))
    except TimeoutError:
        return Outcome(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
                              f'while awaiting headers)')
    except (OSError, HookError) as err:
        text = getattr(err, "strerror", None) or str(err)
        return Outcome(False, f'Get "{url}": dial tcp {target}:{port}: connect: {text}')
    if 200 <= code < 400:
        return Outcome(True)
    return Outcome(False, f"HTTP probe failed with statuscode: {code}")


async def _grpc(action: v1.GRPCAction, host: str, timeout: float) -> Outcome:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"{host}:{action.port}"
    request = health_pb2.HealthCheckRequest(service=action.service)
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(False, f'timeout: failed to connect service "{target}" within {timeout:g}s')
            return Outcome(False, f"rpc error: code = {err.code().name} desc = {err.details()}")
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return Outcome(True)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return Outcome(False, f'service unhealthy (responded with "{name}")')


# -- the prober -----------------------------------------------------------------------------

@dataclass
class _Probed:
    """One running container and the state of its probes."""

    pod: v1.Pod
    container: v1.Container
    container_id: str
    pod_ip: str
    started_mono: float
    has_startup: bool
    has_readiness: bool
    started: bool = False
    ready: bool = False
    failure: ProbeFailure | None = None
    started_event: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


class Prober(ProbeManager):
    """Runs the probes of every running container on this node.

    `wake(pod_uid)` is called whenever a verdict changes; `recorder` receives
    the Unhealthy events. Probe tasks live in the running loop and are
    cancelled by `container_stopped`, `pod_removed` or `close`.
    """

    def __init__(self, runtime: Runtime, recorder: EventRecorder | None = None,
                 wake: Callable[[str], None] | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.runtime = runtime
        self.clock = clock
        self.recorder = recorder
        self.wake = wake or (lambda _uid: None)
        self._probed: dict[tuple[str, str], _Probed] = {}
        self.runs = 0  # probe attempts so far (benchmarks)

    # -- questions ------------------------------------------------------------------

    def _get(self, pod_uid: str, container: str, container_id: str) -> _Probed | None:
        p = self._probed.get((pod_uid, container))
        return p if p is not None and p.container_id == container_id else None

    def readiness(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        p = self._get(pod_uid, container, container_id)
        if p is None or not p.has_readiness:
            return None
        return p.ready

    def started(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        p = self._get(pod_uid, container, container_id)
        if p is None or not p.has_startup:
            return None
        return p.started

    def failure(self, pod_uid: str, container: str, container_id: str) -> ProbeFailure | None:
        p = self._get(pod_uid, container, container_id)
        return p.failure if p is not None else None

    # -- lifecycle ------------------------------------------------------------------

    def container_started(self, pod: v1.Pod, container: v1.Container, container_id: str,
                          pod_ip: str) -> None:
        key = (pod.metadata.uid, container.name)
        current = self._probed.get(key)
        if current is not None:
            if current.container_id == container_id:
                return
            current.cancel()
        probes = [(kind, getattr(container, f"{kind}_probe")) for kind in (STARTUP, LIVENESS, READINESS)
                  if container.HasField(f"{kind}_probe")]
        p = _Probed(pod, container, container_id, pod_ip, self.clock.monotonic(),
                    has_startup=container.HasField("startup_probe"),
                    has_readiness=container.HasField("readiness_probe"))
        if not p.has_startup:
            p.started = True
            p.started_event.set()
        self._probed[key] = p
        if not probes:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing can be probed (pure unit tests of the worker)
            return
        for kind, probe in probes:
            p.tasks.append(loop.create_task(
                self._run(p, kind, probe),
                name=f"probe-{kind}-{pod.metadata.name}-{container.name}"))

    def sync(self, pod: v1.Pod, running: dict[str, str], pod_ip: str) -> None:
        uid = pod.metadata.uid
        specs = {c.name: c for c in list(pod.spec.init_containers) + list(pod.spec.containers)}
        for (puid, name), p in list(self._probed.items()):
            if puid == uid and running.get(name) != p.container_id:
                self.container_stopped(uid, name)
        for name, cid in running.items():
            spec = specs.get(name)
            if spec is not None:
                self.container_started(pod, spec, cid, pod_ip)

    def container_stopped(self, pod_uid: str, container: str) -> None:
        p = self._probed.pop((pod_uid, container), None)
        if p is not None:
            p.cancel()

    def pod_removed(self, pod_uid: str) -> None:
        for uid, name in [k for k in self._probed if k[0] == pod_uid]:
            self.container_stopped(uid, name)

    def close(self) -> None:
        for key in list(self._probed):
            self.container_stopped(*key)

    # -- the probe task -------------------------------------------------------------

    async def _run(self, p: _Probed, kind: str, probe: v1.Probe) -> None:
        period = max(1, probe.period_seconds or 10)
        timeout = max(1, probe.timeout_seconds or 1)
        successes_needed = max(1, probe.success_threshold or 1)
        failures_needed = max(1, probe.failure_threshold or 3)
        host = p.pod_ip or "127.0.0.1"
        uid, name = p.pod.metadata.uid, p.container.name
        try:
            delay = p.started_mono + probe.initial_delay_seconds - self.clock.monotonic()
            if delay > 0:
                await self.clock.sleep(delay)
            if kind != STARTUP:
                await p.started_event.wait()
            successes = failures = 0
            next_at = self.clock.monotonic()
            while True:
                outcome = await run_probe(self.runtime, p.container_id, p.container, probe, host,
                                          float(timeout))
                self.runs += 1
                if outcome.ok:
                    successes, failures = successes + 1, 0
                else:
                    successes, failures = 0, failures + 1
                    self._unhealthy(p, kind, outcome.detail)
                if self._verdict(p, kind, probe, successes, failures, successes_needed,
                                 failures_needed):
                    self.wake(uid)
                if kind == STARTUP and p.started:
                    return
                next_at += period
                await self.clock.sleep(max(0.0, next_at - self.clock.monotonic()))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a broken probe must not kill the agent
            log.warning("%s probe of %s crashed: %r pod=%s uid=%s", kind, name, err,
                        p.pod.metadata.name, uid)

    def _verdict(self, p: _Probed, kind: str, probe: v1.Probe, successes: int, failures: int,
                 successes_needed: int, failures_needed: int) -> bool:
        """Apply one result; True when the container's answer changed."""
        if kind == READINESS:
            if successes >= successes_needed and not p.ready:
                p.ready = True
                return True
            if failures >= failures_needed and p.ready:
                p.ready = False
                return True
            return False
        if kind == STARTUP and successes >= 1 and not p.started:
            p.started = True
            p.started_event.set()
            return True
        if failures >= failures_needed and p.failure is None:
            grace = probe.termination_grace_period_seconds if probe.HasField(
                "termination_grace_period_seconds") else None
            p.failure = ProbeFailure(kind, p.container_id,
                                     f"Container {p.container.name} failed {kind} probe, "
                                     f"will be restarted", grace)
            return True
        return False

    def _unhealthy(self, p: _Probed, kind: str, detail: str) -> None:
        message = f"{_TITLE[kind]} probe failed: {detail}".rstrip()
        log.info("%s node=%s pod=%s container=%s", message, p.pod.spec.node_name,
                 p.pod.metadata.name, p.container.name)
        if self.recorder is not None:
            self.recorder.pod_event(p.pod, WARNING, "Unhealthy", message, p.container.name)


def kill_grace(failure: ProbeFailure, pod_grace: int) -> int:
    """The grace period for killing a container after `failure`."""
    return failure.grace if failure.grace is not None else pod_grace

