"""The scheduling framework: plugin interfaces, per-pod and per-node facts, and the cycle.

A scheduling cycle for one pod is synchronous and never awaits, so the cache
it reads cannot change under it: there is no snapshot to take.

Hot-path contract: plugins read only the plain Python values precomputed in
`PodInfo` (once per pod) and `NodeInfo` (once per node change, plus counters
kept current as pods are assumed, bound and removed), never protobuf fields.
"""

from __future__ import annotations

import enum
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from podlab.names import (
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    namespace_or_default,
)
from podlab.podutil import pod_requests
from podlab.tolerations import Toleration, tolerated, tolerations_of
from podlab.v1 import objects_pb2 as v1

# Kubernetes' non-zero defaults: a pod without requests still counts this much
# when *scoring* (never when fitting), so best-effort pods spread out.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
DEFAULT_MAX_PODS = 110
MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5



class Code(enum.IntEnum):
    SUCCESS = 0
    UNSCHEDULABLE = 1
    # Preemption would not help either (the node can never fit this pod as it is).
    UNSCHEDULABLE_AND_UNRESOLVABLE = 2
    ERROR = 3


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's answer: a code, a machine `reason`, and the human `message`.

    `messages` holds every human reason when a plugin reports several for one
    node ("Insufficient cpu" and "Insufficient memory"); each is counted
    separately in the pod's FailedScheduling message, as Kubernetes does.
    """

    code: Code
    reason: str = ""
    message: str = ""
    messages: tuple[str, ...] = ()

    @property
    def success(self) -> bool:
        return self.code == Code.SUCCESS

    def reasons(self) -> tuple[str, ...]:
        return self.messages or ((self.message,) if self.message else ())


SUCCESS = Status(Code.SUCCESS)


def unschedulable(reason: str, *messages: str, unresolvable: bool = False) -> Status:
    code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
    return Status(code, reason, ", ".join(messages), tuple(messages) if len(messages) > 1 else ())


# -- per-pod facts -------------------------------------------------------------------

HostPort = tuple[str, str, int]  # host IP, protocol, port
Requirement = tuple[str, str, frozenset[str] | int | None]  # key, operator, values
Term = tuple[tuple[Requirement, ...], tuple[Requirement, ...]]  # label reqs, field reqs


def _requirements(reqs: Sequence[v1.NodeSelectorRequirement]) -> tuple[Requirement, ...]:
    out: list[Requirement] = []
    for r in reqs:
        if r.operator in ("Gt", "Lt"):
            try:
                out.append((r.key, r.operator, int(r.values[0])))
            except (IndexError, ValueError):
                out.append((r.key, "Never", None))  # an unparsable bound matches no node
        elif r.operator in ("Exists", "DoesNotExist"):
            out.append((r.key, r.operator, None))
        else:
            out.append((r.key, r.operator, frozenset(r.values)))
    return tuple(out)


def _term(term: v1.NodeSelectorTerm) -> Term:
    return (_requirements(term.match_expressions), _requirements(term.match_fields))


class PodInfo:
    """A pod and everything the plugins need from it, computed once."""

    __slots__ = (
        "pod", "key", "uid", "namespace", "name", "priority", "cpu", "memory", "nz_cpu",
        "nz_memory", "host_ports", "node_name", "node_selector", "required_terms",
        "preferred_terms", "tolerations", "labels", "spread_key", "signature",
    )

    def __init__(self, pod: v1.Pod) -> None:
        meta, spec = pod.metadata, pod.spec
        self.pod = pod
        self.namespace = namespace_or_default(meta.namespace)
        self.name = meta.name
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.uid
        self.priority = spec.priority if spec.HasField("priority") else 0
        req = pod_requests(pod)
        self.cpu: int = req["cpu"]
        self.memory: int = req["memory"]
        self.nz_cpu = self.cpu or DEFAULT_MILLI_CPU_REQUEST
        self.nz_memory = self.memory or DEFAULT_MEMORY_REQUEST
        ports: list[HostPort] = []
        for c in (*spec.init_containers, *spec.containers):
            for p in c.ports:
                # With hostNetwork every container port is a host port.
                port = p.host_port or (p.container_port if spec.host_network else 0)
                if port > 0:
                    ports.append((p.host_ip or "0.0.0.0", p.protocol or "TCP", port))
        self.host_ports: tuple[HostPort, ...] = tuple(ports)
        self.node_name = spec.node_name
        self.node_selector: dict[str, str] = dict(spec.node_selector)
        na = spec.affinity.node_affinity
        required = na.required_during_scheduling_ignored_during_execution
        self.required_terms: tuple[Term, ...] | None = (
            tuple(_term(t) for t in required.node_selector_terms)
            if na.HasField("required_during_scheduling_ignored_during_execution") else None)
        self.preferred_terms: tuple[tuple[int, Term], ...] = tuple(
            (p.weight, _term(p.preference))
            for p in na.preferred_during_scheduling_ignored_during_execution if p.weight)
        self.tolerations: tuple[Toleration, ...] = tolerations_of(spec)
        self.labels: dict[str, str] = dict(meta.labels)
        self.spread_key = spread_key(pod)
        # What the queue compares to tell a real change from a status write.
        self.signature = (spec.SerializeToString(deterministic=True),
                          tuple(sorted(self.labels.items())))

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """Whether one of the pod's tolerations tolerates the taint key=value:effect."""
        return tolerated(self.tolerations, key, value, effect)

    def __repr__(self) -> str:
        return f"PodInfo({self.key} uid={self.uid})"


def spread_key(pod: v1.Pod) -> Hashable | None:
    """Which pods count as "the same" for spreading: one controller's, else same labels."""
    for ref in pod.metadata.owner_references:
        if ref.controller:
            return ("owner", ref.uid)
    if pod.metadata.labels:
        return (namespace_or_default(pod.metadata.namespace), tuple(sorted(pod.metadata.labels.items())))
    return None


# -- per-node facts -------------------------------------------------------------------

Taint = tuple[str, str, str]  # key, value, effect


class NodeInfo:
    """A node as plain values, plus what the pods assumed or bound to it use."""

    __slots__ = (
        "node", "name", "labels", "unschedulable", "not_ready_taint", "hard_taints", "restricted",
        "soft_taints", "alloc_cpu", "alloc_memory", "alloc_pods", "req_cpu", "req_memory",
        "nz_cpu", "nz_memory", "pod_count", "used_ports", "spread", "pods", "signature",
    )

    def __init__(self, name: str, node: v1.Node | None = None) -> None:
        self.name = name
        self.node: v1.Node | None = None
        self.labels: dict[str, str] = {}
        self.unschedulable = False
        self.not_ready_taint: str | None = None
        self.hard_taints: tuple[Taint, ...] = ()
        # Cordoned, not ready, or with a NoSchedule/NoExecute taint: only such
        # nodes need the filters marked `restricted_nodes_only`.
        self.restricted = False
        self.soft_taints: tuple[Taint, ...] = ()
        self.alloc_cpu = self.alloc_memory = self.alloc_pods = 0
        self.req_cpu = self.req_memory = self.nz_cpu = self.nz_memory = self.pod_count = 0
        self.used_ports: dict[tuple[str, int], Counter[str]] = {}
        self.spread: Counter[Hashable] = Counter()
        self.pods: dict[str, PodInfo] = {}
        self.signature: object = None
        if node is not None:
            self.set_node(node)

    def set_node(self, node: v1.Node) -> bool:
        """Take the node's current values; True when something scheduling reads changed."""
        self.node = node
        self.labels = dict(node.metadata.labels)
        self.labels.setdefault("kubernetes.io/hostname", self.name)
        self.unschedulable = node.spec.unschedulable
        ready = None
        for cond in node.status.conditions:
            if cond.type == "Ready":
                ready = cond.status
        self.not_ready_taint = (None if ready == "True" else
                                TAINT_UNREACHABLE if ready == "Unknown" else TAINT_NOT_READY)
        taints = [(t.key, t.value, t.effect) for t in node.spec.taints]
        self.hard_taints = tuple(t for t in taints if t[2] in ("NoSchedule", "NoExecute"))
        self.soft_taints = tuple(t for t in taints if t[2] == "PreferNoSchedule")
        self.restricted = (self.unschedulable or self.not_ready_taint is not None
                           or bool(self.hard_taints))
        alloc = node.status.allocatable or node.status.capacity
        res = _node_resources(node)
        self.alloc_cpu, self.alloc_memory = res["cpu"], res["memory"]
        try:
            self.alloc_pods = int(alloc["pods"]) if "pods" in alloc else DEFAULT_MAX_PODS
        except ValueError:
            self.alloc_pods = 0
        signature = (self.labels, self.unschedulable, self.not_ready_taint, taints,
                     self.alloc_cpu, self.alloc_memory, self.alloc_pods)
        changed = signature != self.signature
        self.signature = signature
        return changed

    def add_pod(self, pi: PodInfo) -> None:
        if pi.uid in self.pods:
            return
        self.pods[pi.uid] = pi
        self.req_cpu += pi.cpu
        self.req_memory += pi.memory
        self.nz_cpu += pi.nz_cpu
        self.nz_memory += pi.nz_memory
        self.pod_count += 1
        for ip, proto, port in pi.host_ports:
            self.used_ports.setdefault((proto, port), Counter())[ip] += 1
        if pi.spread_key is not None:
            self.spread[pi.spread_key] += 1

    def remove_pod(self, pi: PodInfo) -> bool:
        removed = self.pods.pop(pi.uid, None)
        if removed is None:
            return False
        pi = removed
        self.req_cpu -= pi.cpu
        self.req_memory -= pi.memory
        self.nz_cpu -= pi.nz_cpu
        self.nz_memory -= pi.nz_memory
        self.pod_count -= 1
        for ip, proto, port in pi.host_ports:
            ips = self.used_ports[(proto, port)]
            ips[ip] -= 1
            if ips[ip] <= 0:
                del ips[ip]
            if not ips:
                del self.used_ports[(proto, port)]
        if pi.spread_key is not None:
            self.spread[pi.spread_key] -= 1
            if self.spread[pi.spread_key] <= 0:
                del self.spread[pi.spread_key]
        return True

    def __repr__(self) -> str:
        return (f"NodeInfo({self.name} cpu={self.req_cpu}/{self.alloc_cpu} "
                f"mem={self.req_memory}/{self.alloc_memory} "
                f"pods={self.pod_count}/{self.alloc_pods})")


def _node_resources(node: v1.Node) -> dict[str, int]:
    """Allocatable cpu (millis) and memory (bytes); capacity when allocatable is absent."""
    alloc = node.status.allocatable or node.status.capacity
    shim = v1.Pod()
    shim.spec.containers.add().resources.requests.update(
        {k: v for k, v in alloc.items() if k in ("cpu", "memory")})
    return pod_requests(shim)


# -- plugin interfaces ----------------------------------------------------------------

class Plugin(ABC):  # noqa: B024 - a shared base for the two kinds, not an interface itself
    """Every plugin has a name, used in configuration (weights) and logs."""

    name: str = ""


class FilterPlugin(Plugin):
    """Decides whether a pod may run on a node.

    `prefilter` runs once per pod: False means this plugin has nothing to say
    about this pod (Kubernetes' PreFilter "Skip"), so `filter` is not called
    for it on any node. `filter` must not mutate its arguments and must return
    `SUCCESS` (the singleton) when the node fits.

    `restricted_nodes_only` promises that the filter can fail only on a node
    whose `NodeInfo.restricted` is set (cordoned, not ready, or carrying a
    NoSchedule/NoExecute taint); the framework then skips it on other nodes,
    which at 1,000 nodes is most of the filtering work.
    """

    restricted_nodes_only: bool = False

    def prefilter(self, pod: PodInfo) -> bool:
        return True

    @abstractmethod
    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


class ScorePlugin(Plugin):
    """Ranks feasible nodes: higher is better, 0..100 after `normalize`.

    `prescore` False skips the plugin for this pod (all nodes would tie).
    `score_all` may be overridden with a faster batch form of `score`.
    """

    def prescore(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> bool:
        return True

    @abstractmethod
    def score(self, pod: PodInfo, node: NodeInfo) -> int: ...

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        score = self.score
        return [score(pod, n) for n in nodes]

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return scores


def normalize_to_max(scores: list[int], reverse: bool = False) -> list[int]:
    """Scale raw scores to 0..100 by the largest; `reverse` makes the largest worst."""
    top = max(scores, default=0)
    if top == 0:
        return [MAX_NODE_SCORE if reverse else 0] * len(scores)
    if reverse:
        return [MAX_NODE_SCORE - MAX_NODE_SCORE * s // top for s in scores]
    return [MAX_NODE_SCORE * s // top for s in scores]


# -- the cycle ------------------------------------------------------------------------

@dataclass
class FitError:
    """Why no node fits: every node's reasons, counted as `kubectl describe` shows them."""

    num_all_nodes: int
    reasons: Counter[str] = field(default_factory=Counter)

    def message(self) -> str:
        if self.num_all_nodes == 0:
            return "no nodes available to schedule pods"
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        return f"0/{self.num_all_nodes} nodes are available: {', '.join(parts)}."


@dataclass
class ScheduleResult:
    node: str | None
    evaluated: int
    feasible: int
    error: FitError | None = None


class Framework:
    """Runs the filter plugins over nodes and the score plugins over the feasible ones."""

    def __init__(self, filters: Sequence[FilterPlugin],
                 scores: Sequence[tuple[ScorePlugin, int]],
                 percentage_of_nodes_to_score: int = 0,
                 rng: random.Random | None = None) -> None:
        self.filters = list(filters)
        self.scores = [(p, w) for p, w in scores if w > 0]
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self._next_start = 0
        self._rng = rng or random.Random()

    def num_feasible_nodes_to_find(self, num_all: int) -> int:
        """Kubernetes' sampling: past 100 nodes, stop after enough feasible ones."""
        if num_all < MIN_FEASIBLE_NODES_TO_FIND:
            return num_all
        pct = self.percentage_of_nodes_to_score
        if pct <= 0:
            pct = max(50 - num_all // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
        if pct >= 100:
            return num_all
        return max(num_all * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)

    def find_feasible(self, pod: PodInfo, nodes: Sequence[NodeInfo]
                      ) -> tuple[list[NodeInfo], list[Status], int]:
        """Feasible nodes (up to the sampling limit), failed nodes' statuses, nodes evaluated."""
        n = len(nodes)
        if n == 0:
            return [], [], 0
        active = [p for p in self.filters if p.prefilter(pod)]
        all_checks = [p.filter for p in active]
        open_checks = [p.filter for p in active if not p.restricted_nodes_only]
        want = self.num_feasible_nodes_to_find(n)
        start = self._next_start % n
        feasible: list[NodeInfo] = []
        failed: list[Status] = []
        evaluated = 0
        for ordered in (nodes[start:], nodes[:start]):
            for node in ordered:
                evaluated += 1
                for check in all_checks if node.restricted else open_checks:
                    status = check(pod, node)
                    if status is not SUCCESS:
                        failed.append(status)
                        break
                else:
                    feasible.append(node)
                    if len(feasible) >= want:
                        break
            else:
                continue
            break
        self._next_start = (start + evaluated) % n
        return feasible, failed, evaluated

    def prioritize(self, pod: PodInfo, feasible: Sequence[NodeInfo]) -> list[int]:
        """The weighted total score of each feasible node."""
        totals = [0] * len(feasible)
        for plugin, weight in self.scores:
            if not plugin.prescore(pod, feasible):
                continue
            scores = plugin.normalize(pod, plugin.score_all(pod, feasible))
            totals = [t + weight * s for t, s in zip(totals, scores, strict=True)]
        return totals

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """Pick a node for `pod`, or say why none fits. Ties go to a random best node."""
        feasible, failed, evaluated = self.find_feasible(pod, nodes)
        if not feasible:
            error = FitError(len(nodes))
            for status in failed:
                error.reasons.update(status.reasons())
            return ScheduleResult(None, evaluated, 0, error)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        totals = self.prioritize(pod, feasible)
        best = max(totals)
        # A random one of the best, so equal nodes share the load.
        chosen = self._rng.choice([i for i, total in enumerate(totals) if total == best])
        return ScheduleResult(feasible[chosen].name, evaluated, len(feasible))
