"""The node agent: registration, heartbeats, self-fencing, and one worker per pod.

    informer (pods with spec.nodeName=<node>) ─┐
    runtime events (by pod uid) ───────────────┤
    relist: containers that changed unseen ────┼─▶ PodWorker.wake() ─▶ sync_pod
    each worker's own resync timer (safety net)┘

Runtime events drive the agent; whenever their stream (re)connects, every
worker looks again, since what happened before it was live went unseen. Behind
the events, the relist (`--relist-period`, 1 s like the kubelet's PLEG) lists
the node's containers and wakes the pods whose containers changed, so an event
the engine dropped costs a second, not a resync. The resync
(`--resync-period`, 60 s like the kubelet's sync frequency) is the last safety
net: each worker keeps its own timer, started when its pod arrived, so the
node's resyncs are spread over the period instead of hitting the engine at
once.

The agent owns only containers labelled with its node name. After a restart it
adopts what is running (workers find containers by label and keep them), and
once the first pod list has arrived it removes containers whose pod UID is no
longer bound here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import time
from typing import Any, Protocol

from google.protobuf.message import Message

from nodeagent.backoff import CrashBackoff
from nodeagent.config import AgentConfig
from nodeagent.eviction import (
    TAINT_OF,
    EvictionConfig,
    EvictionManager,
    NodeSignals,
    PodUsage,
    SignalSource,
    parse_grace_periods,
    parse_thresholds,
)
from nodeagent.pod_worker import PodWorker, WorkerContext
from nodeagent.probes import ProbeManager, Prober
from nodeagent.runtime.base import CONNECTED, RUNNING, ContainerInfo, Runtime, SandboxInfo
from nodeagent.volumes import VolumeManager
from podlab import errors
from podlab.client import Informer
from podlab.events import EventRecorder
from podlab.podutil import now as now_ts
from podlab.podutil import set_condition
from podlab.quantity import to_bytes
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent")
VERSION = "podlab-nodeagent/0.1.0"


class AgentClient(Protocol):
    """The part of podlab.client.Client the agent uses (a fake can stand in for tests)."""

    async def get(self, kind: Any, name: str, namespace: str = "") -> Any: ...
    async def create(self, obj: Any) -> Any: ...
    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> Any: ...
    async def update(self, obj: Any) -> Any: ...
    async def update_status(self, obj: Any) -> Any: ...
    async def delete(self, kind: Any, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "") -> Any: ...
    async def renew_lease(self, node_name: str) -> int: ...
    def watch(self, kind: Any, namespace: str = "", resource_version: str = "",
              label_selector: str = "", field_selector: str = "",
              bookmark_seconds: int = 0) -> Any: ...


def make_runtime(config: AgentConfig) -> Runtime:
    """The runtime the config asks for."""
    if config.runtime == "sim":
        from nodeagent.runtime.sim import SimRuntime
        return SimRuntime(config.node_name)
    from nodeagent.runtime.docker import DockerRuntime, load_mirror
    return DockerRuntime(config.node_name, config.pod_network, config.pause_image,
                         load_mirror(config.mirror), config.node_netns_container,
                         exec_helper=config.exec_helper)


class NodeAgent:
    """One node. `run()` until cancelled; `workers` holds the live pod workers by uid."""

    def __init__(self, config: AgentConfig, client: AgentClient, runtime: Runtime,
                 probes: ProbeManager | None = None, signals: SignalSource | None = None) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.recorder = EventRecorder(client, "kubelet", host=config.node_name)
        self.probes = probes or Prober(runtime, self.recorder, self._wake_pod)
        self.node_name = config.node_name
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._uid_by_key: dict[str, str] = {}
        self.fenced = False
        self.listen_port = 0
        self.registered = asyncio.Event()
        self._last_renew = time.monotonic()
        self._last_node_status = 0.0
        self.informer = Informer(
            client, v1.Pod, field_selector=f"spec.nodeName={self.node_name}",  # type: ignore[arg-type]
            on_change=self._on_pod_change)
        self.allocatable = {"cpu": config.cpu, "memory": config.memory,
                            "pods": str(config.max_pods)}
        self.volumes = VolumeManager(config.root_dir, runtime, self._get_object, self.allocatable)
        self.ctx = WorkerContext(
            node_name=self.node_name, host_ip=config.host_ip, runtime=runtime,
            volumes=self.volumes, probes=self.probes, getter=self._get_object,
            backoff=CrashBackoff(config.backoff_base, config.backoff_cap),
            allocatable=self.allocatable, write_status=self._write_status,
            confirm_delete=self._confirm_delete, fenced=lambda: self.fenced,
            resync_period=config.resync_period, recorder=self.recorder)
        self.eviction = EvictionManager(
            EvictionConfig(
                hard=parse_thresholds(config.eviction_hard),
                soft=parse_thresholds(config.eviction_soft,
                                      parse_grace_periods(config.eviction_soft_grace_period),
                                      soft=True),
                interval=config.eviction_interval,
                pressure_transition_period=config.eviction_pressure_transition_period,
                max_pod_grace_period=config.eviction_max_pod_grace_period),
            signals or self._default_signals(), self._pod_usage, self._evict_pod,
            on_change=self._pressure_changed)

    # -- running --------------------------------------------------------------------

    async def run(self) -> None:
        """Register, heartbeat, watch pods and reconcile until cancelled."""
        log.info("node agent starting node=%s runtime=%s\n%s", self.node_name,
                 self.runtime.version(), self.config.describe())
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._heartbeat_loop(), name="heartbeat")
                tg.create_task(self._register_until_done(), name="register")
                tg.create_task(self.informer.run(), name="pod-informer")
                tg.create_task(self._events_loop(), name="runtime-events")
                tg.create_task(self._relist_loop(), name="relist")
                tg.create_task(self._eviction_loop(), name="eviction")
                tg.create_task(self.recorder.run(), name="events")
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self.probes.close()

    # -- pods -----------------------------------------------------------------------

    def _on_pod_change(self, key: str, old: Message | None, new: Message | None) -> None:
        assert new is None or isinstance(new, v1.Pod)
        old_uid = self._uid_by_key.get(key)
        new_uid = new.metadata.uid if new is not None else None
        if old_uid is not None and old_uid != new_uid:
            worker = self.workers.get(old_uid)
            if worker is not None:
                worker.update(None)  # removed, or replaced by a new incarnation
            self._uid_by_key.pop(key, None)
        if new is None or new_uid is None:
            return
        self._uid_by_key[key] = new_uid
        worker = self.workers.get(new_uid)
        if worker is None:
            self._start_worker(new)
        else:
            worker.update(new)

    def _start_worker(self, pod: v1.Pod) -> None:
        uid = pod.metadata.uid
        worker = PodWorker(self.ctx, pod)
        self.workers[uid] = worker
        worker.wake()

        async def run() -> None:
            try:
                await worker.run()
            finally:
                self.workers.pop(uid, None)
                self._tasks.pop(uid, None)

        self._tasks[uid] = asyncio.create_task(run(), name=f"pod-{uid[:8]}")

    async def _events_loop(self) -> None:
        while True:
            try:
                async for event in self.runtime.events():
                    if event is CONNECTED:  # what happened before the stream was live went unseen
                        woken = list(self.workers.values())
                    else:
                        woken = [w for w in (self.workers.get(event.pod_uid),) if w is not None]
                    for worker in woken:
                        worker.wake()
            except Exception as err:  # noqa: BLE001 - the engine went away; relist covers it
                log.warning("runtime events failed: %r node=%s", err, self.node_name)
            await asyncio.sleep(1.0)

    async def _relist_loop(self) -> None:
        """The kubelet's PLEG relist, behind the event stream.

        Every relist period, list this node's containers and sandboxes and wake
        the workers of pods whose containers appeared, changed state or went
        since the last list: what an event the engine dropped would have said.
        One list per period, and only changed pods are woken. Orphans are swept
        every resync period.
        """
        await self.informer.synced.wait()
        loop = asyncio.get_running_loop()
        last: dict[str, tuple[str, str]] | None = None  # container id -> (pod uid, state)
        next_sweep = loop.time()
        while True:
            listing = None
            try:
                listing = containers, sandboxes = await self.runtime.list_all()
                listed = {c.id: (c.pod_uid, c.state) for c in containers}
                listed |= {s.id: (s.pod_uid, s.state) for s in sandboxes}
                if last is not None:
                    changed = {uid for cid, (uid, state) in listed.items() if last.get(cid) != (uid, state)}
                    changed |= {uid for cid, (uid, _) in last.items() if cid not in listed}
                    for uid in changed:
                        self._wake_pod(uid)
                last = listed
            except Exception as err:  # noqa: BLE001 - the engine went away; try again next period
                log.warning("relist failed: %r node=%s", err, self.node_name)
            if not self.fenced and listing is not None and loop.time() >= next_sweep:
                next_sweep = loop.time() + self.config.resync_period
                try:
                    await self.remove_orphans(listing)
                except Exception as err:  # noqa: BLE001
                    log.warning("orphan sweep failed: %r node=%s", err, self.node_name)
            await asyncio.sleep(self.config.relist_period)

    async def remove_orphans(self, listed: tuple[list[ContainerInfo], list[SandboxInfo]] | None = None,
                             ) -> list[str]:
        """Remove containers whose pod UID is not bound to this node; returns those UIDs.
        `listed`: the node's containers and sandboxes, listed just now (else they are listed here)."""
        if not self.informer.synced.is_set():
            return []
        containers, sandboxes = listed or await self.runtime.list_all()
        # Bound pods after the list: a pod whose containers were listed was bound before them.
        bound = {p.metadata.uid for p in self.informer.items()}
        bound |= set(self.workers)
        orphans = {c.pod_uid for c in containers} | {s.pod_uid for s in sandboxes}
        orphans -= bound
        for uid in orphans:
            log.info("removing orphaned containers node=%s uid=%s", self.node_name, uid)
            for c in containers:
                if c.pod_uid == uid:
                    await self.runtime.remove_container(c.id)
            for s in sandboxes:
                if s.pod_uid == uid:
                    await self.runtime.remove_container(s.id)
            await self.volumes.teardown(uid)
        return sorted(orphans)

    def _wake_pod(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake()

    # -- node-pressure eviction -------------------------------------------------------

    def _default_signals(self) -> SignalSource:
        capacity = 0
        if self.config.memory_signal == "working-set":
            capacity = to_bytes(self.config.memory)
        return NodeSignals(self.config.root_dir, capacity, self._working_set_total)

    async def _working_set_total(self) -> int:
        return sum(u.memory for u in await self._pod_usage(all_pods=True))

    async def _pod_usage(self, all_pods: bool = False) -> list[PodUsage]:
        """Running pods that may be evicted (every running pod when `all_pods`) and their usage."""
        containers = [c for c in await self.runtime.list_containers() if c.state == RUNNING]
        sets = await asyncio.gather(*(self.runtime.memory_working_set(c.id) for c in containers))
        usage: dict[str, PodUsage] = {}
        for c, ws in zip(containers, sets, strict=True):
            worker = self.workers.get(c.pod_uid)
            pod = worker.pod if worker is not None else None
            if pod is None:
                if not all_pods:
                    continue
                pod = v1.Pod()
            elif not all_pods and (worker is None or worker.finished
                                   or pod.metadata.HasField("deletion_timestamp")):
                continue
            entry = usage.setdefault(c.pod_uid, PodUsage(pod))
            entry.containers[c.container_name] = entry.containers.get(c.container_name, 0) + ws
        if not all_pods:
            for entry in usage.values():
                entry.disk = await asyncio.to_thread(
                    self.volumes_usage, entry.pod.metadata.uid)
        return list(usage.values())

    def volumes_usage(self, uid: str) -> int:
        """Bytes under the pod's volume directory (its emptyDirs on the node's disk)."""
        total = 0
        for dirpath, _, files in os.walk(os.path.join(self.config.root_dir, "pods", uid)):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    async def _evict_pod(self, usage: PodUsage, message: str, grace: float) -> bool:
        worker = self.workers.get(usage.pod.metadata.uid)
        if worker is None:
            return False
        worker.evict(message, grace)
        try:
            async with asyncio.timeout(grace + self.eviction.config.eviction_wait):
                await worker.evicted.wait()
        except TimeoutError:
            return False
        return True

    async def _pressure_changed(self) -> None:
        if self.registered.is_set():
            await self._refresh_node_status()

    async def _eviction_loop(self) -> None:
        await self.registered.wait()
        await self.eviction.run()

    def _desired_taints(self, node: v1.Node) -> list[v1.Taint] | None:
        """The node's taints with the pressure taints as they should be; None when unchanged."""
        wanted = set(self.eviction.taints())
        ours = set(TAINT_OF.values())
        keep = [t for t in node.spec.taints if t.key not in ours or
                (t.key in wanted and t.effect == "NoSchedule")]
        have = {t.key for t in keep if t.key in ours}
        if have == wanted and len(keep) == len(node.spec.taints):
            return None
        out = list(keep)
        for key in sorted(wanted - have):
            taint = v1.Taint(key=key, effect="NoSchedule")
            taint.time_added.CopyFrom(now_ts())
            out.append(taint)
        return out

    async def _sync_taints(self, node: v1.Node) -> None:
        """Add or remove the pressure taints (client.update, retried on Conflict)."""
        for _ in range(5):
            taints = self._desired_taints(node)
            if taints is None:
                return
            del node.spec.taints[:]
            node.spec.taints.extend(taints)
            try:
                await self.client.update(node)
                log.info("node taints now %s node=%s", [t.key for t in taints], self.node_name)
                return
            except errors.Conflict:
                node = await self.client.get(v1.Node, self.node_name)

    # -- API helpers ----------------------------------------------------------------

    async def _get_object(self, kind: str, namespace: str, name: str) -> object | None:
        try:
            return await self.client.get(kind, name, namespace)
        except errors.NotFound:
            return None

    async def _write_status(self, pod: v1.Pod) -> v1.Pod | None:
        """update_status; on Conflict re-get and reapply. None when the pod is gone."""
        attempt = pod
        for _ in range(5):
            try:
                return await self.client.update_status(attempt)
            except errors.NotFound:
                return None
            except errors.Conflict:
                try:
                    fresh = await self.client.get(v1.Pod, pod.metadata.name, pod.metadata.namespace)
                except errors.NotFound:
                    return None
                if fresh.metadata.uid != pod.metadata.uid:
                    return None
                fresh.status.CopyFrom(pod.status)
                attempt = fresh
        raise errors.Conflict(f"status of pod {pod.metadata.name} kept conflicting")

    async def _confirm_delete(self, pod: v1.Pod) -> None:
        try:
            await self.client.delete(v1.Pod, pod.metadata.name, pod.metadata.namespace,
                                     grace_period_seconds=0, uid=pod.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            pass

    # -- the node -------------------------------------------------------------------

    def node_object(self) -> v1.Node:
        """The Node as this agent describes it (status only; spec is the API's)."""
        node = v1.Node(api_version="v1", kind="Node")
        node.metadata.name = self.node_name
        node.metadata.labels.update({"kubernetes.io/hostname": self.node_name,
                                     "kubernetes.io/os": "linux",
                                     "kubernetes.io/arch": platform.machine()})
        node.metadata.labels.update(self.config.labels)
        self._fill_status(node.status)
        return node

    def _fill_status(self, status: v1.NodeStatus) -> None:
        status.capacity.clear()
        status.capacity.update(self.allocatable)
        status.allocatable.clear()
        status.allocatable.update(self.allocatable)
        del status.addresses[:]
        status.addresses.add(type="InternalIP", address=self.config.host_ip)
        status.addresses.add(type="Hostname", address=self.node_name)
        status.agent_endpoint = self.config.advertise
        port = self.config.advertise.rsplit(":", 1)[-1]
        if port.isdigit():
            status.daemon_endpoints.kubelet_endpoint.port = int(port)
        info = status.node_info
        info.kernel_version = platform.release()
        info.os_image = platform.platform()
        info.container_runtime_version = self.runtime.version()
        info.kubelet_version = VERSION
        info.operating_system = "linux"
        info.architecture = platform.machine()
        set_condition(status, "Ready", True, "KubeletReady",
                      "podlab node agent is posting ready status")
        pressure = self.eviction.conditions()
        for ctype, ok_reason, bad_reason, bad_message in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory",
                 "kubelet has insufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "KubeletHasDiskPressure",
                 "kubelet has disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "", "")):
            if pressure.get(ctype):
                set_condition(status, ctype, True, bad_reason, bad_message)
            else:
                set_condition(status, ctype, False, ok_reason)
        for cond in status.conditions:
            cond.last_heartbeat_time.CopyFrom(now_ts())

    async def register(self) -> None:
        """Create the Node, or bring an existing one's status up to date."""
        try:
            existing = await self.client.get(v1.Node, self.node_name)
        except errors.NotFound:
            try:
                await self.client.create(self.node_object())
                log.info("registered node=%s", self.node_name)
                self._last_node_status = time.monotonic()
                return
            except errors.AlreadyExists:
                existing = await self.client.get(v1.Node, self.node_name)
        self._fill_status(existing.status)
        existing.metadata.labels.update(self.config.labels)
        existing = await self.client.update_status(existing)
        await self._sync_taints(existing)
        self._last_node_status = time.monotonic()
        log.info("re-registered node=%s", self.node_name)

    async def _register_until_done(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.register()
                self.registered.set()
                return
            except errors.ApiError as err:
                log.warning("registration failed: %s node=%s", err, self.node_name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _refresh_node_status(self) -> None:
        try:
            node = await self.client.get(v1.Node, self.node_name)
            self._fill_status(node.status)
            node = await self.client.update_status(node)
            self._last_node_status = time.monotonic()
            await self._sync_taints(node)
        except errors.NotFound:
            await self.register()
        except errors.ApiError as err:
            log.debug("node status refresh failed: %s node=%s", err, self.node_name)

    async def _heartbeat_loop(self) -> None:
        """Renew the lease every `heartbeat` s; fence after `fence_timeout` s without one."""
        cfg = self.config
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(max(cfg.heartbeat, 1.0)):
                    await self.client.renew_lease(self.node_name)
                self._last_renew = time.monotonic()
                if self.fenced:
                    await self._unfence()
                elif self.registered.is_set() and \
                        time.monotonic() - self._last_node_status >= cfg.status_refresh:
                    await self._refresh_node_status()
            except (errors.ApiError, TimeoutError) as err:
                log.debug("lease renewal failed: %r node=%s", err, self.node_name)
            if not self.fenced and time.monotonic() - self._last_renew > cfg.fence_timeout:
                await self._fence()
            await asyncio.sleep(cfg.heartbeat)

    async def _fence(self) -> None:
        self.fenced = True
        log.warning("lease not renewed for %.1fs: fencing, killing every pod node=%s",
                    self.config.fence_timeout, self.node_name)
        containers, sandboxes = await self.runtime.list_all()
        await asyncio.gather(*(self.runtime.stop_container(c.id, 0) for c in containers
                               if c.state == RUNNING), return_exceptions=True)
        await asyncio.gather(*(self.runtime.stop_container(s.id, 0) for s in sandboxes
                               if s.state == RUNNING), return_exceptions=True)

    async def _unfence(self) -> None:
        """Come back from a fence: learn which pods are still ours *before* anything restarts.

        The informer's cache predates the partition; a pod replaced elsewhere
        meanwhile must not come back here. So list afresh first (dropping the
        replaced pods' workers and containers), and stay fenced if that fails.
        """
        log.info("lease renewed again: re-registering and resyncing node=%s", self.node_name)
        try:
            await self.register()
            await self.informer.resync()
            await self.remove_orphans()
        except errors.ApiError as err:
            log.warning("resync after fence failed, staying fenced: %s node=%s", err, self.node_name)
            return
        self.fenced = False
        for worker in list(self.workers.values()):
            worker.wake()
