"""Node lifecycle: notice lost nodes, and bring their pods back elsewhere as new pods.

The agent renews a heartbeat every `heartbeat` seconds. This controller
watches those renewals *on its own monotonic clock* (so clocks on other
machines never matter):

- no renewal for `node_grace`: the node's Ready condition becomes Unknown, it
  is tainted `node.kubernetes.io/unreachable` (NoSchedule and NoExecute), and
  its pods lose Ready;
- from then on, each unfinished pod on it is replaced once its toleration of
  the unreachable taint runs out (the API server gives every pod
  `tolerationSeconds = pod_eviction_timeout` unless the pod says otherwise;
  `podlab.tolerations` decides how long): a bare pod is replaced in one etcd
  transaction that removes the old pod and creates a new one with the same
  name and spec, a new UID and no node (an event records old → new UID); a
  pod with a controller is deleted, and its controller makes a new one.

Mass failure is rate limited as Kubernetes' zone-disruption logic does: when
at least `unhealthy_threshold` of the nodes are lost, nodes are processed at
`secondary_eviction_rate` instead of `eviction_rate`; when every node is lost
the control plane itself is the likely culprit, and nothing is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.api import Api
from controlplane.metrics import ControlPlaneMetrics
from controlplane.strategies import DeleteOptions
from podlab import errors, names
from podlab.kinds import NODES, PODS, controller_ref
from podlab.podutil import now, set_condition
from podlab.tolerations import toleration_seconds, tolerations_of
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

UNREACHABLE = names.TAINT_UNREACHABLE
NODE_KIND = NODES
POD_KIND = PODS
COMPONENT = "node-lifecycle-controller"


@dataclass
class NodeLifecycleConfig:
    node_grace: float = 4.0
    pod_eviction_timeout: float = 4.0
    monitor_period: float = 0.25
    eviction_rate: float = 10.0  # nodes per second whose pods may be replaced
    secondary_eviction_rate: float = 0.1
    unhealthy_threshold: float = 0.55
    # A gap this long between two passes that could read the cluster means the controller was
    # blind (its storage, the API or its leadership was away): every node's grace starts again.
    blind_after: float = 1.0


@dataclass
class _Observed:
    seen_at: float  # when this controller last saw the heartbeat change (its own clock)
    heartbeat: int = -1
    lost_at: float | None = None  # when it became lost: last heartbeat seen + node_grace
    allowed_at: float | None = None  # when the rate limiter let its evictions start


class TokenBucket:
    """A rate limiter: `rate` tokens per second, bursts of at most one."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = 1.0
        self._last = time.monotonic()

    def try_take(self, rate: float | None = None) -> bool:
        rate = self.rate if rate is None else rate
        t = time.monotonic()
        self._tokens = min(1.0, self._tokens + (t - self._last) * rate)
        self._last = t
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class NodeLifecycleController:
    """Watches heartbeats and replaces lost nodes' pods.

    Static stability: time during which this controller could not see the
    cluster -- it was not leading, or its storage or the API was away -- is
    never counted against a node. `run()` starts every grace clock afresh,
    and so does the first pass that can read again after a blind spell
    longer than `blind_after`: a node is lost only once the controller has
    itself watched it stay silent for `node_grace`.
    """

    def __init__(self, api: Api, config: NodeLifecycleConfig,
                 metrics: ControlPlaneMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.registry = api.registry
        self.config = config
        self.metrics = metrics or ControlPlaneMetrics()
        self.clock = clock
        self.observed: dict[str, _Observed] = {}
        self.limiter = TokenBucket(config.eviction_rate)
        self._last_sight: float | None = None  # when a pass last read nodes and heartbeats

    async def run(self) -> None:
        log.info("node lifecycle controller started: node_grace=%.1fs pod_eviction_timeout=%.1fs",
                 self.config.node_grace, self.config.pod_eviction_timeout)
        # Leadership (re)gained: what was observed before is history, not evidence.
        self.observed.clear()
        self._last_sight = None
        while True:
            try:
                await self.reconcile()
            except errors.ApiError as err:
                log.warning("node lifecycle pass failed: %s", err)
            await asyncio.sleep(self.config.monitor_period)

    async def reconcile(self) -> None:
        """One pass over every node: update health, then replace pods whose time is up."""
        nodes, _ = await self.registry.list(NODE_KIND)
        heartbeats = await self.api.heartbeats.all()
        t = self.clock()
        self._regain_sight(t)
        lost: list[v1.Node] = []
        for node in nodes:
            name = node.metadata.name
            seen = self.observed.setdefault(name, _Observed(seen_at=t))
            beat = heartbeats.get(name, 0)
            if beat != seen.heartbeat:
                seen.heartbeat, seen.seen_at = beat, t
            if t - seen.seen_at <= self.config.node_grace:
                if seen.lost_at is not None or _has_taint(node, UNREACHABLE):
                    await self._mark_reachable(node)
                    seen.lost_at = seen.allowed_at = None
                continue
            if seen.lost_at is None:
                # The node became lost node_grace after its last heartbeat, whenever this
                # pass happens to notice; the eviction clock starts there.
                seen.lost_at = seen.seen_at + self.config.node_grace
                self.metrics.node_losses.inc()
                await self._mark_lost(node)
            lost.append(node)
        for name in set(self.observed) - {n.metadata.name for n in nodes}:
            del self.observed[name]
        self.metrics.nodes_lost.set(len(lost))
        if not lost:
            return
        if len(lost) == len(nodes):
            self.metrics.held_back.inc()
            log.warning("all %d nodes are unreachable: assuming the control plane is cut off; "
                        "replacing nothing", len(nodes))
            return
        disrupted = len(lost) / len(nodes) >= self.config.unhealthy_threshold
        rate = self.config.secondary_eviction_rate if disrupted else self.config.eviction_rate
        for node in lost:
            seen = self.observed[node.metadata.name]
            if seen.allowed_at is None:
                if not self.limiter.try_take(rate):
                    continue
                seen.allowed_at = t
            await self._replace_pods(node, seen)

    def _regain_sight(self, t: float) -> None:
        """After a blind spell, restart the grace clock of every node not already lost."""
        last, self._last_sight = self._last_sight, t
        if last is None or t - last <= self.config.blind_after:
            return
        log.warning("could not see the cluster for %.1fs; restarting every node's grace period", t - last)
        self.metrics.blind_spells.inc()
        for seen in self.observed.values():
            if seen.lost_at is None:
                seen.seen_at = t

    async def _mark_lost(self, node: v1.Node) -> None:
        log.warning("node %s: no heartbeat for %.1fs; marking it Unknown", node.metadata.name,
                    self.config.node_grace)

        def change(n: v1.Node) -> None:
            for cond in n.status.conditions:
                if cond.type == "Ready" and cond.status != "Unknown":
                    cond.status, cond.reason = "Unknown", "NodeStatusUnknown"
                    cond.message = "Kubelet stopped posting node status."
                    cond.last_transition_time.CopyFrom(now())

        await self._patch_node(node.metadata.name, change, taint=True)
        pods, _ = await self.registry.list(POD_KIND, field_selector=f"spec.nodeName={node.metadata.name}")
        for pod in pods:
            await self._set_pod_unready(pod)
        self.api.events.object_event(node, "Warning", "NodeNotReady",
                                     f"Node {node.metadata.name} status is now: NodeNotReady", COMPONENT)

    async def _mark_reachable(self, node: v1.Node) -> None:
        log.info("node %s: heartbeats are back", node.metadata.name)
        await self._patch_node(node.metadata.name, lambda n: None, taint=False)

    async def _patch_node(self, name: str, change, taint: bool) -> None:
        for _ in range(5):
            node: v1.Node = await self.registry.get(NODE_KIND, name)
            keep = [t for t in node.spec.taints if t.key != UNREACHABLE]
            del node.spec.taints[:]
            node.spec.taints.extend(keep)
            if taint:
                for effect in ("NoSchedule", "NoExecute"):
                    node.spec.taints.add(key=UNREACHABLE, effect=effect, time_added=now())
            try:
                node = await self.registry.update(node)
                change(node)
                await self.registry.update_status(node)
                return
            except errors.Conflict:
                continue

    async def _set_pod_unready(self, pod: v1.Pod) -> None:
        changed = set_condition(pod.status, "Ready", "False", "NodeLost", "node is unreachable")
        changed |= set_condition(pod.status, "ContainersReady", "False", "NodeLost", "node is unreachable")
        if changed:
            try:
                await self.registry.update_status(pod)
            except errors.ApiError as err:
                log.info("pod %s: could not mark unready: %s", pod.metadata.name, err)

    async def _replace_pods(self, node: v1.Node, seen: _Observed) -> None:
        assert seen.lost_at is not None
        elapsed = self.clock() - seen.lost_at
        pods, _ = await self.registry.list(POD_KIND, field_selector=f"spec.nodeName={node.metadata.name}")
        for pod in pods:
            if not _should_replace(pod):
                continue
            tolerated = _tolerated_seconds(pod)
            if tolerated is None or elapsed < tolerated:
                continue
            try:
                owned = controller_ref(pod) is not None
                if pod.metadata.HasField("deletion_timestamp") or owned:
                    # Deleting on a dead node: nobody will confirm, so finish it here. A pod with a
                    # controller is deleted as Kubernetes does, and its controller makes a new one.
                    await self.registry.delete(POD_KIND, pod.metadata.name, pod.metadata.namespace,
                                               DeleteOptions(0, uid=pod.metadata.uid))
                    if owned:
                        self.metrics.replacements.labels("NodeLostDeleted").inc()
                        self.api.events.object_event(pod, "Warning", "NodeLost", f"deleted: node "
                                                     f"{node.metadata.name} is unreachable", COMPONENT)
                    continue
                new = await self.api.pods.replace(pod, "NodeLost",
                                                  f"node {node.metadata.name} is unreachable", COMPONENT)
                self.metrics.replacements.labels("NodeLost").inc()
                self.metrics.replacement_delay.observe(self.clock() - seen.seen_at)
                log.warning("pod %s/%s: replaced %s -> %s (node %s lost)", pod.metadata.namespace,
                            pod.metadata.name, pod.metadata.uid, new.metadata.uid, node.metadata.name)
            except errors.ApiError as err:
                log.info("pod %s: replacement deferred: %s", pod.metadata.name, err)


def _has_taint(node: v1.Node, key: str) -> bool:
    return any(t.key == key for t in node.spec.taints)


def _should_replace(pod: v1.Pod) -> bool:
    """Unfinished pods come back; Succeeded ones, and Failed ones that won't restart, do not."""
    if pod.status.phase == "Succeeded":
        return False
    if pod.status.phase == "Failed" and pod.spec.restart_policy == "Never":
        return False
    return True


def _tolerated_seconds(pod: v1.Pod) -> float | None:
    """How long `pod` tolerates the unreachable NoExecute taint; None means forever."""
    return toleration_seconds(tolerations_of(pod.spec), [(UNREACHABLE, "", "NoExecute")])
