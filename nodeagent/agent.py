"""The node agent: one worker per pod, directed by the units that tell them when to work.

    informer (pods with spec.nodeName=<node>) ─┐
    runtime events (by pod uid) ───────────────┤
    relist: containers that changed unseen ────┼─▶ PodWorker.wake() ─▶ sync_pod
    each worker's own resync timer (safety net)┘

The agent itself only dispatches pods to workers and wires its units together:
`Pleg` (nodeagent.pleg: runtime events and the 1 s relist), `NodeStatusManager`
(nodeagent.node_status: registration, status, pressure taints), `Heartbeat`
(nodeagent.heartbeat: lease renewal, the hold decision with peers as
witnesses, fence and unfence, the fence watchdog's beacon), `PodApi`
(nodeagent.pod_api: the workers' writes) and the eviction manager. The
resync (`--resync-period`, 60 s like the kubelet's sync frequency) is the last
safety net: each worker keeps its own timer, started
when its pod arrived, so the node's resyncs are spread over the period instead
of hitting the engine at once.

The agent owns only containers labelled with its node name. After a restart it
adopts what is running (workers find containers by label and keep them), and
once the first pod list has arrived it removes containers whose pod UID is no
longer bound here.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from google.protobuf.message import Message

from nodeagent.backoff import CrashBackoff
from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.config import AgentConfig
from nodeagent.env import service_env
from nodeagent.eviction import SignalSource
from nodeagent.fence_beacon import beacon_path
from nodeagent.heartbeat import Heartbeat, LeaseHolder
from nodeagent.node_pressure import PodPressure
from nodeagent.node_status import VERSION, NodeStatusManager
from nodeagent.pleg import Listing, Pleg
from nodeagent.pod_api import AgentClient, PodApi
from nodeagent.pod_worker import PodWorker, WorkerContext
from nodeagent.probes import ProbeManager, Prober
from nodeagent.runtime.base import RUNNING, Runtime
from nodeagent.volumes import VolumeManager
from nodeagent.witness import Witnesses
from podlab import errors
from podlab.client import Informer
from podlab.events import EventRecorder
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent")
__all__ = ["VERSION", "AgentClient", "NodeAgent", "make_runtime"]


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
                 probes: ProbeManager | None = None, signals: SignalSource | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.recorder = EventRecorder(client, "kubelet", host=config.node_name)
        self.probes = probes or Prober(runtime, self.recorder, self._wake_pod, clock)
        self.node_name = config.node_name
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._uid_by_key: dict[str, str] = {}
        self.listen_port = 0
        self.informer = Informer(
            client, v1.Pod, field_selector=f"spec.nodeName={self.node_name}",  # type: ignore[arg-type]
            on_change=self._on_pod_change)
        self.allocatable = {"cpu": config.cpu, "memory": config.memory,
                            "pods": str(config.max_pods)}
        self.pod_api = PodApi(client)
        self.volumes = VolumeManager(config.root_dir, runtime, self.pod_api.get_object,
                                     self.allocatable)
        self.ctx = WorkerContext(
            node_name=self.node_name, host_ip=config.host_ip, runtime=runtime,
            volumes=self.volumes, probes=self.probes, api=self.pod_api,
            backoff=CrashBackoff(config.backoff_base, config.backoff_cap),
            allocatable=self.allocatable, service_env=service_env(config.kubernetes_service),
            fenced=lambda: self.fenced,
            resync_period=config.resync_period, recorder=self.recorder, clock=clock)
        self.pressure = PodPressure(config, runtime, self.workers)
        self.eviction = self.pressure.manager(signals, self._pressure_changed)
        self.node_status = NodeStatusManager(config, client, runtime.version(), self.allocatable,
                                             self.eviction, clock)
        self.heartbeat = Heartbeat(
            self.node_name, client, config.heartbeat, config.fence_timeout, self.node_status,
            fence=self._fence, unfence=self._resync_after_fence, resume=self._wake_all,
            beacon=beacon_path(config.root_dir),
            witnesses=Witnesses(self.node_name, config.witness_timeout, clock.monotonic),
            clock=clock, peers_refresh=config.status_refresh,
            holder=LeaseHolder(f"{socket.gethostname()}:{config.root_dir}", int(clock.time() * 1000),
                               config.fence_timeout))
        self.pleg = Pleg(runtime, self.node_name, config.relist_period, self._wake_pod,
                         self._wake_all, self._sweep_when_due, clock)
        self._next_sweep = clock.monotonic()

    @property
    def fenced(self) -> bool:
        """The lease is lost: pods are stopped (or about to be) and workers do not sync."""
        return self.heartbeat.lease_lost

    @property
    def registered(self) -> asyncio.Event:
        return self.node_status.registered

    # -- running --------------------------------------------------------------------

    async def run(self) -> None:
        """Register, heartbeat, watch pods and reconcile until cancelled."""
        log.info("node agent starting node=%s runtime=%s\n%s", self.node_name,
                 self.runtime.version(), self.config.describe())
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.heartbeat.run(), name="heartbeat")
                tg.create_task(self.node_status.register_until_done(), name="register")
                tg.create_task(self.informer.run(), name="pod-informer")
                tg.create_task(self.pleg.watch_events(), name="runtime-events")
                tg.create_task(self.pleg.relist_loop(self.informer.synced), name="relist")
                tg.create_task(self._eviction_loop(), name="eviction")
                tg.create_task(self.recorder.run(), name="events")
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self.probes.close()
            await self.heartbeat.witnesses.close()

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

    async def _sweep_when_due(self, listing: Listing) -> None:
        """After a relist: the orphan sweep, once every resync period (never while fenced)."""
        if self.fenced or self.clock.monotonic() < self._next_sweep:
            return
        self._next_sweep = self.clock.monotonic() + self.config.resync_period
        try:
            await self.remove_orphans(listing)
        except Exception as err:  # noqa: BLE001
            log.warning("orphan sweep failed: %r node=%s", err, self.node_name)

    async def remove_orphans(self, listed: Listing | None = None) -> list[str]:
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

    def _wake_all(self) -> None:
        for worker in list(self.workers.values()):
            worker.wake()

    # -- node-pressure eviction -------------------------------------------------------

    async def _pressure_changed(self) -> None:
        if self.registered.is_set():
            await self.node_status.refresh()

    async def _eviction_loop(self) -> None:
        await self.registered.wait()
        await self.eviction.run()

    # -- fence ----------------------------------------------------------------------

    async def _fence(self) -> None:
        log.warning("fenced: killing every pod node=%s", self.node_name)  # heartbeat says why
        containers, sandboxes = await self.runtime.list_all()
        await asyncio.gather(*(self.runtime.stop_container(c.id, 0) for c in containers
                               if c.state == RUNNING), return_exceptions=True)
        await asyncio.gather(*(self.runtime.stop_container(s.id, 0) for s in sandboxes
                               if s.state == RUNNING), return_exceptions=True)

    async def _resync_after_fence(self) -> bool:
        """Come back from a fence: learn which pods are still ours *before* anything restarts.

        The informer's cache predates the partition; a pod replaced elsewhere
        meanwhile must not come back here. So list afresh first (dropping the
        replaced pods' workers and containers); False (stay fenced) if that fails.
        """
        log.info("lease renewed again: re-registering and resyncing node=%s", self.node_name)
        try:
            await self.node_status.register()
            await self.informer.resync()
            await self.remove_orphans()
        except errors.ApiError as err:
            log.warning("resync after fence failed, staying fenced: %s node=%s", err, self.node_name)
            return False
        return True
