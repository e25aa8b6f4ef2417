"""The Node object as this agent describes it: registration, status refresh, pressure taints.

`NodeStatusManager` owns every write the agent makes to its Node. Its status
carries capacity and allocatable, addresses, the agent's endpoint, system
info, the Ready condition and the node-pressure conditions; its spec is the
API's, except the pressure taints (NoSchedule), which follow the eviction
manager's view. After a lease outage it also carries condition LeaseOutage
(False once over), saying whether the pods kept running through it or were fenced.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from typing import Protocol

from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.config import AgentConfig
from nodeagent.eviction import TAINT_OF
from nodeagent.pod_api import AgentClient
from podlab import errors
from podlab.podutil import now as now_ts
from podlab.podutil import set_condition
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent")
VERSION = "podlab-nodeagent/0.1.0"
TAINT_ATTEMPTS = 5
# The last time the lease could not be renewed: did this node keep its pods (no one could
# replace them) or fence them (it alone was cut off)? See nodeagent.heartbeat.
OUTAGE_CONDITION, OUTAGE_HELD, OUTAGE_FENCED = "LeaseOutage", "PodsKeptRunning", "PodsFenced"

# (condition, reason when fine, reason when under pressure, message when under pressure)
PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory",
     "kubelet has insufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "KubeletHasDiskPressure",
     "kubelet has disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "", ""),
)


class Pressure(Protocol):
    """What the node's status needs of the eviction manager."""

    def conditions(self) -> dict[str, bool]: ...
    def taints(self) -> list[str]: ...


def desired_taints(node: v1.Node, wanted_keys: list[str]) -> list[v1.Taint] | None:
    """The node's taints with the pressure taints as they should be; None when unchanged."""
    wanted = set(wanted_keys)
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


class NodeStatusManager:
    """Registers the Node and keeps its status and pressure taints current.

    `registered` is set once the Node exists with this agent's status;
    `last_written` is the clock's monotonic time of the last status write.
    """

    def __init__(self, config: AgentConfig, client: AgentClient, runtime_version: str,
                 allocatable: dict[str, str], pressure: Pressure, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.client = client
        self.node_name = config.node_name
        self.runtime_version = runtime_version
        self.allocatable = allocatable
        self.pressure = pressure
        self.clock = clock
        self.registered = asyncio.Event()
        self.last_written = 0.0
        # The last lease outage, (reason, message) of condition LeaseOutage; None: none yet.
        self.outage: tuple[str, str] | None = None

    def node_object(self) -> v1.Node:
        """The Node as this agent describes it (status only; spec is the API's)."""
        node = v1.Node(api_version="v1", kind="Node")
        node.metadata.name = self.node_name
        node.metadata.labels.update({"kubernetes.io/hostname": self.node_name,
                                     "kubernetes.io/os": "linux",
                                     "kubernetes.io/arch": platform.machine()})
        node.metadata.labels.update(self.config.labels)
        self.fill_status(node.status)
        return node

    def fill_status(self, status: v1.NodeStatus) -> None:
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
        info.container_runtime_version = self.runtime_version
        info.kubelet_version = VERSION
        info.operating_system = "linux"
        info.architecture = platform.machine()
        set_condition(status, "Ready", True, "KubeletReady",
                      "podlab node agent is posting ready status")
        pressure = self.pressure.conditions()
        for ctype, ok_reason, bad_reason, bad_message in PRESSURE_CONDITIONS:
            if pressure.get(ctype):
                set_condition(status, ctype, True, bad_reason, bad_message)
            else:
                set_condition(status, ctype, False, ok_reason)
        if self.outage is not None:
            set_condition(status, OUTAGE_CONDITION, False, *self.outage)
        for cond in status.conditions:
            cond.last_heartbeat_time.CopyFrom(now_ts())

    def note_outage(self, kept_running: bool, message: str) -> None:
        """Record the lease outage that just ended in condition LeaseOutage (False: it is
        over), written with the next status: whether the pods kept running, and why."""
        self.outage = (OUTAGE_HELD if kept_running else OUTAGE_FENCED, message)

    async def register(self) -> None:
        """Create the Node, or bring an existing one's status up to date."""
        try:
            existing = await self.client.get(v1.Node, self.node_name)
        except errors.NotFound:
            try:
                await self.client.create(self.node_object())
                log.info("registered node=%s", self.node_name)
                self.last_written = self.clock.monotonic()
                return
            except errors.AlreadyExists:
                existing = await self.client.get(v1.Node, self.node_name)
        self.fill_status(existing.status)
        existing.metadata.labels.update(self.config.labels)
        existing = await self.client.update_status(existing)
        await self.sync_taints(existing)
        self.last_written = self.clock.monotonic()
        log.info("re-registered node=%s", self.node_name)

    async def register_until_done(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.register()
                self.registered.set()
                return
            except errors.ApiError as err:
                log.warning("registration failed: %s node=%s", err, self.node_name)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 5.0)

    def refresh_due(self) -> bool:
        """Registered, and the last status write is `status_refresh` seconds old."""
        return self.registered.is_set() and \
            self.clock.monotonic() - self.last_written >= self.config.status_refresh

    async def refresh(self) -> None:
        """Write the status again (re-registering a Node that was deleted); errors are logged."""
        try:
            node = await self.client.get(v1.Node, self.node_name)
            self.fill_status(node.status)
            node = await self.client.update_status(node)
            self.last_written = self.clock.monotonic()
            await self.sync_taints(node)
        except errors.NotFound:
            await self.register()
        except errors.ApiError as err:
            log.debug("node status refresh failed: %s node=%s", err, self.node_name)

    async def sync_taints(self, node: v1.Node) -> None:
        """Add or remove the pressure taints (client.update, retried on Conflict)."""
        for _ in range(TAINT_ATTEMPTS):
            taints = desired_taints(node, self.pressure.taints())
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
