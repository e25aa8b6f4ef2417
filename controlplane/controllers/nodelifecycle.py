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

Which of those becomes of a pod is controlplane.podfate's answer (and a
StatefulSet's pod waits for its node to be known fenced).

The controller has the one shape (framework.py): node and pod informers from
the shared factory, and a work queue with one worker. The key `MONITOR` is the
health pass over every node, requeued every `monitor_period` on the injected
clock; a key `node/<name>` replaces that lost node's pods whose time is up and
requeues itself for the next one. Heartbeats are not API objects: they are
read through the narrow `HeartbeatReader`, and the same-name swap through a
`PodReplacer` (the API server's pod verbs), as no API verb does either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from controlplane.controllers.framework import MONOTONIC, Controller, timer_clock
from controlplane.events import EventSink
from controlplane.metrics import ControlPlaneMetrics
from controlplane.podfate import Cause, Fate, pod_fate
from podlab import errors, names
from podlab.client import ApiClient
from podlab.informers import SharedInformerFactory
from podlab.podutil import now, set_condition
from podlab.tolerations import toleration_seconds, tolerations_of
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

UNREACHABLE = names.TAINT_UNREACHABLE
COMPONENT = "node-lifecycle-controller"
MONITOR = "monitor"
NODE_PREFIX = "node/"


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


class HeartbeatReader(Protocol):
    async def all(self) -> dict[str, int]: ...


class PodReplacer(Protocol):
    async def replace(self, old: v1.Pod, reason: str, message: str, component: str = ...) -> v1.Pod: ...


class TokenBucket:
    """A rate limiter: `rate` tokens per second on `clock`, bursts of at most one."""

    def __init__(self, rate: float, clock: Callable[[], float] = MONOTONIC) -> None:
        self.rate = rate
        self.clock = clock
        self._tokens = 1.0
        self._last = clock()

    def try_take(self, rate: float | None = None) -> bool:
        rate = self.rate if rate is None else rate
        t = self.clock()
        self._tokens = min(1.0, self._tokens + (t - self._last) * rate)
        self._last = t
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class NodeLifecycleController(Controller):
    """Watches heartbeats and replaces lost nodes' pods.

    Static stability: time during which this controller could not see the
    cluster -- it was not leading, or its storage or the API was away -- is
    never counted against a node. `run()` starts every grace clock afresh,
    and so does the first pass that can read again after a blind spell
    longer than `blind_after`: a node is lost only once the controller has
    itself watched it stay silent for `node_grace`.

    One worker: the monitor pass and the evictions share `observed` and the
    limiter, and never run at once.
    """

    name = COMPONENT

    def __init__(self, client: ApiClient, config: NodeLifecycleConfig, heartbeats: HeartbeatReader,
                 replacer: PodReplacer, events: EventSink, metrics: ControlPlaneMetrics | None = None,
                 clock: Callable[[], float] = MONOTONIC,
                 informers: SharedInformerFactory | None = None) -> None:
        super().__init__(client, 1, informers, timer_clock(clock))
        self.config = config
        self.heartbeats = heartbeats
        self.replacer = replacer
        self.events = events
        self.metrics = metrics or ControlPlaneMetrics()
        self.clock = clock
        self.observed: dict[str, _Observed] = {}
        self.limiter = TokenBucket(config.eviction_rate, clock)
        self._last_sight: float | None = None  # when a pass last read nodes and heartbeats
        self.held_back = False  # the last pass found every node lost: replace nothing
        self.nodes = self.watch(v1.Node, lambda key, old, new: None)
        self.pods = self.watch(v1.Pod, self._on_pod)

    def _on_pod(self, key: str, old: Message | None, new: Message | None) -> None:
        # A pod that lands on (or changes on) a node already being evicted is looked at now.
        if isinstance(new, v1.Pod) and new.spec.node_name:
            seen = self.observed.get(new.spec.node_name)
            if seen is not None and seen.allowed_at is not None:
                self.queue.add(NODE_PREFIX + new.spec.node_name)

    async def run(self) -> None:
        log.info("node lifecycle controller started: node_grace=%.1fs pod_eviction_timeout=%.1fs",
                 self.config.node_grace, self.config.pod_eviction_timeout)
        # Leadership (re)gained: what was observed before is history, not evidence.
        self.observed.clear()
        self._last_sight = None
        self.held_back = False
        await super().run()

    def started(self) -> None:
        self.queue.add(MONITOR)

    async def reconcile(self, key: str) -> None:
        if key == MONITOR:
            try:
                await self.monitor()
            except errors.ApiError as err:
                log.warning("node lifecycle pass failed: %s", err)
            finally:
                self.queue.add_after(MONITOR, self.config.monitor_period)
            return
        await self._evict(key.removeprefix(NODE_PREFIX))

    def _node_pods(self, node_name: str) -> list[v1.Pod]:
        return [p for p in self.pods.items() if isinstance(p, v1.Pod) and p.spec.node_name == node_name]

    async def monitor(self) -> None:
        """One pass over every node: update health, and let lost nodes' evictions start (rate limited)."""
        heartbeats = await self.heartbeats.all()
        nodes = [n for n in self.nodes.items() if isinstance(n, v1.Node)]
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
        self.held_back = bool(lost) and len(lost) == len(nodes)
        if not lost:
            return
        if self.held_back:
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
            self.queue.add(NODE_PREFIX + node.metadata.name)

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
        for pod in self._node_pods(node.metadata.name):
            await self._set_pod_unready(pod)
        self.events.object_event(node, "Warning", "NodeNotReady",
                                 f"Node {node.metadata.name} status is now: NodeNotReady", COMPONENT)

    async def _mark_reachable(self, node: v1.Node) -> None:
        log.info("node %s: heartbeats are back", node.metadata.name)
        await self._patch_node(node.metadata.name, lambda n: None, taint=False)

    async def _patch_node(self, name: str, change: Callable[[v1.Node], None], taint: bool) -> None:
        for _ in range(5):
            node = await self.client.get(v1.Node, name)
            assert isinstance(node, v1.Node)
            keep = [t for t in node.spec.taints if t.key != UNREACHABLE]
            del node.spec.taints[:]
            node.spec.taints.extend(keep)
            if taint:
                for effect in ("NoSchedule", "NoExecute"):
                    node.spec.taints.add(key=UNREACHABLE, effect=effect, time_added=now())
            try:
                node = await self.client.update(node)
                change(node)
                await self.client.update_status(node)
                return
            except errors.Conflict:
                continue

    async def _set_pod_unready(self, cached: v1.Pod) -> None:
        pod = v1.Pod()
        pod.CopyFrom(cached)  # never change the informer's copy
        changed = set_condition(pod.status, "Ready", "False", "NodeLost", "node is unreachable")
        changed |= set_condition(pod.status, "ContainersReady", "False", "NodeLost", "node is unreachable")
        if changed:
            try:
                await self.client.update_status(pod)
            except errors.ApiError as err:
                log.info("pod %s: could not mark unready: %s", pod.metadata.name, err)

    async def _evict(self, node_name: str) -> None:
        """Act on each pod of lost node `node_name` whose toleration ran out, as its fate says;
        come back when the next one's does (or soon, when some act was refused)."""
        seen = self.observed.get(node_name)
        if seen is None or seen.lost_at is None or seen.allowed_at is None:
            return  # back, gone, or not yet let through by the limiter
        sight = self._last_sight
        if self.held_back or sight is None or self.clock() - sight > self.config.blind_after:
            # Every node lost (the control plane is the likely culprit), or the last pass that
            # could read the cluster is too old: act on nothing. The next good pass adds this key.
            return
        elapsed = self.clock() - seen.lost_at
        next_due: float | None = None
        for pod in self._node_pods(node_name):
            fate = pod_fate(pod, Cause.NODE_LOST)
            if fate in (Fate.GONE, Fate.AWAIT_FENCE):
                continue
            tolerated = _tolerated_seconds(pod)
            if tolerated is None:
                continue
            if elapsed < tolerated:
                next_due = tolerated - elapsed if next_due is None else min(next_due, tolerated - elapsed)
                continue
            try:
                await self._act(pod, fate, node_name, seen)
            except errors.ApiError as err:
                log.info("pod %s: replacement deferred: %s", pod.metadata.name, err)
                next_due = self.config.monitor_period if next_due is None else min(
                    next_due, self.config.monitor_period)
        if next_due is not None:
            self.queue.add_after(NODE_PREFIX + node_name, next_due)

    async def _act(self, pod: v1.Pod, fate: Fate, node_name: str, seen: _Observed) -> None:
        if pod.metadata.HasField("deletion_timestamp") or fate is Fate.OWNER:
            # Deleting on a dead node: nobody will confirm, so finish it here. A pod with a
            # controller is deleted as Kubernetes does, and its controller makes a new one.
            await self.client.delete(v1.Pod, pod.metadata.name, pod.metadata.namespace,
                                     grace_period_seconds=0, uid=pod.metadata.uid)
            if fate is Fate.OWNER:
                self.metrics.replacements.labels("NodeLostDeleted").inc()
                self.events.object_event(pod, "Warning", "NodeLost",
                                         f"deleted: node {node_name} is unreachable", COMPONENT)
            return
        new = await self.replacer.replace(pod, "NodeLost", f"node {node_name} is unreachable", COMPONENT)
        self.metrics.replacements.labels("NodeLost").inc()
        self.metrics.replacement_delay.observe(self.clock() - seen.seen_at)
        log.warning("pod %s/%s: replaced %s -> %s (node %s lost)", pod.metadata.namespace,
                    pod.metadata.name, pod.metadata.uid, new.metadata.uid, node_name)


def _has_taint(node: v1.Node, key: str) -> bool:
    return any(t.key == key for t in node.spec.taints)


def _tolerated_seconds(pod: v1.Pod) -> float | None:
    """How long `pod` tolerates the unreachable NoExecute taint; None means forever."""
    return toleration_seconds(tolerations_of(pod.spec), [(UNREACHABLE, "", "NoExecute")])
