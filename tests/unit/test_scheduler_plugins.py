"""Table-driven tests of each filter and score plugin, and of the framework's messages."""

from __future__ import annotations

import pytest

from podlab.v1 import objects_pb2 as v1
from scheduler.framework import SUCCESS, FitError, Framework, NodeInfo, PodInfo
from scheduler.plugins import (
    BalancedAllocation,
    LeastAllocated,
    NodeAffinity,
    NodeName,
    NodePorts,
    NodeReady,
    NodeResourcesFit,
    NodeUnschedulable,
    SelectorSpread,
    TaintToleration,
    default_plugins,
)
from scheduler.testing import make_node, make_pod

pytestmark = pytest.mark.unit


def node_info(node: v1.Node, *pods: v1.Pod) -> NodeInfo:
    info = NodeInfo(node.metadata.name, node)
    for i, pod in enumerate(pods):
        pod.metadata.uid = pod.metadata.uid or f"uid-{i}"
        info.add_pod(PodInfo(pod))
    return info


def reasons(plugin: object, pod: v1.Pod, node: NodeInfo) -> tuple[str, ...]:
    status = plugin.filter(PodInfo(pod), node)
    return () if status is SUCCESS else status.reasons()


@pytest.mark.parametrize(("pod", "node", "existing", "want"), [
    (make_pod("p", cpu="500m", memory="1Gi"), make_node("n", cpu="1", memory="2Gi"), [], ()),
    (make_pod("p", cpu="1500m"), make_node("n", cpu="1"), [], ("Insufficient cpu",)),
    (make_pod("p", cpu="600m"), make_node("n", cpu="1"), [make_pod("a", cpu="500m")],
     ("Insufficient cpu",)),
    (make_pod("p", memory="3Gi"), make_node("n", memory="2Gi"), [], ("Insufficient memory",)),
    (make_pod("p", cpu="2", memory="3Gi"), make_node("n", cpu="1", memory="2Gi"), [],
     ("Insufficient cpu", "Insufficient memory")),
    (make_pod("p"), make_node("n", pods=1), [make_pod("a")], ("Too many pods",)),
    (make_pod("p"), make_node("n", cpu="0", memory="0"), [], ()),  # best-effort fits anywhere
])
def test_node_resources_fit_reports_each_shortage(pod: v1.Pod, node: v1.Node,
                                                  existing: list[v1.Pod],
                                                  want: tuple[str, ...]) -> None:
    assert reasons(NodeResourcesFit(), pod, node_info(node, *existing)) == want


@pytest.mark.parametrize(("node", "tolerations", "want"), [
    (make_node("n"), [], ()),
    (make_node("n", unschedulable=True), [], ("node(s) were unschedulable",)),
    (make_node("n", unschedulable=True),
     [("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule")], ()),
])
def test_node_unschedulable_rejects_cordoned_nodes(node: v1.Node, tolerations: list,
                                                   want: tuple[str, ...]) -> None:
    assert reasons(NodeUnschedulable(), make_pod("p", tolerations=tolerations),
                   node_info(node)) == want


@pytest.mark.parametrize(("ready", "want"), [
    ("True", ()),
    ("False", ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",)),
    ("Unknown", ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",)),
])
def test_node_ready_rejects_nodes_that_are_not_ready(ready: str, want: tuple[str, ...]) -> None:
    assert reasons(NodeReady(), make_pod("p"), node_info(make_node("n", ready=ready))) == want


def test_node_name_matches_only_the_named_node() -> None:
    pod = make_pod("p")
    pod.spec.node_name = "a"
    assert reasons(NodeName(), pod, node_info(make_node("a"))) == ()
    assert reasons(NodeName(), pod, node_info(make_node("b"))) == (
        "node(s) didn't match the requested node name",)


MASTER = [("node-role", "master", "NoSchedule")]


@pytest.mark.parametrize(("taints", "tolerations", "want"), [
    ([], [], ()),
    (MASTER, [], ("node(s) had untolerated taint {node-role: master}",)),
    (MASTER, [("node-role", "Equal", "master", "NoSchedule")], ()),
    (MASTER, [("node-role", "Equal", "worker", "NoSchedule")],
     ("node(s) had untolerated taint {node-role: master}",)),
    (MASTER, [("node-role", "Exists", "", "")], ()),
    (MASTER, [("", "Exists", "", "")], ()),  # tolerates everything
    (MASTER, [("node-role", "Exists", "", "NoExecute")],
     ("node(s) had untolerated taint {node-role: master}",)),
    ([("gpu", "", "NoExecute")], [], ("node(s) had untolerated taint {gpu: }",)),
    ([("soft", "x", "PreferNoSchedule")], [], ()),  # only a score matter
])
def test_taint_toleration_filters_untolerated_hard_taints(taints: list, tolerations: list,
                                                          want: tuple[str, ...]) -> None:
    assert reasons(TaintToleration(), make_pod("p", tolerations=tolerations),
                   node_info(make_node("n", taints=taints))) == want


def test_taint_toleration_scores_prefer_no_schedule_lower() -> None:
    plugin = TaintToleration()
    pod = PodInfo(make_pod("p"))
    nodes = [node_info(make_node("clean")),
             node_info(make_node("soft", taints=[("a", "", "PreferNoSchedule")]))]
    assert plugin.normalize(pod, plugin.score_all(pod, nodes)) == [100, 0]


def with_affinity(terms: list[list[tuple[str, str, list[str]]]]) -> v1.Pod:
    pod = make_pod("p")
    required = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    for term in terms:
        t = required.node_selector_terms.add()
        for key, op, values in term:
            t.match_expressions.add(key=key, operator=op, values=values)
    return pod


AFFINITY_MISS = ("node(s) didn't match Pod's node affinity/selector",)


@pytest.mark.parametrize(("pod", "labels", "want"), [
    (make_pod("p", node_selector={"disk": "ssd"}), {"disk": "ssd"}, ()),
    (make_pod("p", node_selector={"disk": "ssd"}), {"disk": "hdd"}, AFFINITY_MISS),
    (make_pod("p", node_selector={"disk": "ssd"}), {}, AFFINITY_MISS),
    (with_affinity([[("zone", "In", ["a", "b"])]]), {"zone": "b"}, ()),
    (with_affinity([[("zone", "In", ["a", "b"])]]), {"zone": "c"}, AFFINITY_MISS),
    (with_affinity([[("zone", "NotIn", ["a"])]]), {}, ()),
    (with_affinity([[("zone", "NotIn", ["a"])]]), {"zone": "a"}, AFFINITY_MISS),
    (with_affinity([[("gpu", "Exists", [])]]), {"gpu": "1"}, ()),
    (with_affinity([[("gpu", "DoesNotExist", [])]]), {"gpu": "1"}, AFFINITY_MISS),
    (with_affinity([[("cores", "Gt", ["4"])]]), {"cores": "8"}, ()),
    (with_affinity([[("cores", "Gt", ["4"])]]), {"cores": "4"}, AFFINITY_MISS),
    (with_affinity([[("cores", "Lt", ["4"])]]), {"cores": "2"}, ()),
    (with_affinity([[("cores", "Lt", ["4"])]]), {"cores": "x"}, AFFINITY_MISS),
    # Terms are ORed, requirements within a term ANDed.
    (with_affinity([[("zone", "In", ["a"])], [("gpu", "Exists", [])]]), {"gpu": "1"}, ()),
    (with_affinity([[("zone", "In", ["a"]), ("gpu", "Exists", [])]]), {"gpu": "1"},
     AFFINITY_MISS),
    (with_affinity([[]]), {"any": "thing"}, AFFINITY_MISS),  # an empty term matches nothing
])
def test_node_affinity_matches_selector_and_required_terms(pod: v1.Pod, labels: dict[str, str],
                                                           want: tuple[str, ...]) -> None:
    assert reasons(NodeAffinity(), pod, node_info(make_node("n", labels=labels))) == want


def test_node_affinity_scores_preferred_terms_by_weight() -> None:
    pod = make_pod("p")
    preferred = pod.spec.affinity.node_affinity.preferred_during_scheduling_ignored_during_execution
    for weight, zone in ((80, "a"), (20, "b")):
        preferred.add(weight=weight).preference.match_expressions.add(
            key="zone", operator="In", values=[zone])
    plugin, info = NodeAffinity(), PodInfo(pod)
    nodes = [node_info(make_node(z, labels={"zone": z})) for z in ("a", "b", "c")]
    assert plugin.normalize(info, plugin.score_all(info, nodes)) == [100, 25, 0]


def port_pod(name: str, port: int, ip: str = "", protocol: str = "") -> v1.Pod:
    pod = make_pod(name)
    pod.spec.containers[0].ports.add(container_port=port, host_port=port, host_ip=ip,
                                     protocol=protocol)
    return pod


PORTS_MISS = ("node(s) didn't have free ports for the requested pod ports",)


@pytest.mark.parametrize(("pod", "existing", "want"), [
    (port_pod("p", 80), [], ()),
    (port_pod("p", 80), [port_pod("a", 80)], PORTS_MISS),
    (port_pod("p", 80), [port_pod("a", 8080)], ()),
    (port_pod("p", 80, protocol="UDP"), [port_pod("a", 80)], ()),
    (port_pod("p", 80, ip="10.0.0.1"), [port_pod("a", 80, ip="10.0.0.2")], ()),
    (port_pod("p", 80, ip="10.0.0.1"), [port_pod("a", 80, ip="10.0.0.1")], PORTS_MISS),
    (port_pod("p", 80, ip="10.0.0.1"), [port_pod("a", 80)], PORTS_MISS),  # 0.0.0.0 takes all
    (port_pod("p", 80), [port_pod("a", 80, ip="10.0.0.2")], PORTS_MISS),
])
def test_node_ports_conflict_on_protocol_port_and_overlapping_ip(
        pod: v1.Pod, existing: list[v1.Pod], want: tuple[str, ...]) -> None:
    assert reasons(NodePorts(), pod, node_info(make_node("n"), *existing)) == want


def test_removing_a_pod_frees_its_host_port() -> None:
    holder = port_pod("a", 80)
    node = node_info(make_node("n"), holder)
    node.remove_pod(PodInfo(holder))
    assert reasons(NodePorts(), port_pod("p", 80), node) == ()


def test_least_allocated_prefers_the_emptier_node() -> None:
    pod = PodInfo(make_pod("p", cpu="1", memory="1Gi"))
    empty = node_info(make_node("empty", cpu="4", memory="4Gi"))
    busy = node_info(make_node("busy", cpu="4", memory="4Gi"),
                     make_pod("a", cpu="2", memory="2Gi"))
    assert LeastAllocated().score_all(pod, [empty, busy]) == [75, 25]
    assert LeastAllocated().score(pod, busy) == 25


def test_balanced_allocation_prefers_even_cpu_and_memory_use() -> None:
    pod = PodInfo(make_pod("p", cpu="1", memory="1Gi"))
    even = node_info(make_node("even", cpu="4", memory="4Gi"))
    skewed = node_info(make_node("skewed", cpu="4", memory="4Gi"), make_pod("a", cpu="2"))
    scores = BalancedAllocation().score_all(pod, [even, skewed])
    assert scores[0] == 100 and scores[1] < scores[0]
    assert BalancedAllocation().score(pod, skewed) == scores[1]


def test_selector_spread_prefers_nodes_with_fewer_alike_pods() -> None:
    pod = PodInfo(make_pod("p", labels={"app": "web"}))
    crowded = node_info(make_node("crowded"), make_pod("a", labels={"app": "web"}),
                        make_pod("b", labels={"app": "web"}))
    other = node_info(make_node("other"), make_pod("c", labels={"app": "db"}))
    plugin = SelectorSpread()
    assert plugin.normalize(pod, plugin.score_all(pod, [crowded, other])) == [0, 100]
    assert not plugin.prescore(PodInfo(make_pod("unlabelled")), [crowded])


def test_fit_error_message_counts_and_sorts_reasons_like_kubernetes() -> None:
    error = FitError(3)
    error.reasons.update(["node(s) had untolerated taint {node-role: master}"] * 2)
    error.reasons.update(["Insufficient cpu"])
    assert error.message() == ("0/3 nodes are available: 1 Insufficient cpu, "
                               "2 node(s) had untolerated taint {node-role: master}.")
    assert FitError(0).message() == "no nodes available to schedule pods"


def test_framework_counts_every_reason_a_node_gives() -> None:
    filters, scores = default_plugins()
    fw = Framework(filters, scores)
    nodes = [node_info(make_node("small", cpu="1", memory="1Gi")),
             node_info(make_node("cordoned", unschedulable=True))]
    result = fw.schedule(PodInfo(make_pod("p", cpu="2", memory="2Gi")), nodes)
    assert result.node is None and result.error is not None
    assert result.error.message() == ("0/2 nodes are available: 1 Insufficient cpu, "
                                      "1 Insufficient memory, 1 node(s) were unschedulable.")


def test_framework_samples_nodes_like_percentage_of_nodes_to_score() -> None:
    filters, scores = default_plugins()
    fw = Framework(filters, scores)
    assert fw.num_feasible_nodes_to_find(50) == 50
    assert fw.num_feasible_nodes_to_find(1000) == 420
    assert fw.num_feasible_nodes_to_find(5000) == 500
    assert Framework(filters, scores, 100).num_feasible_nodes_to_find(1000) == 1000
    nodes = [node_info(make_node(f"n{i}")) for i in range(1000)]
    feasible, _, evaluated = fw.find_feasible(PodInfo(make_pod("p")), nodes)
    assert len(feasible) == 420 and evaluated == 420
    # The next pod starts where the last search stopped.
    feasible2, _, _ = fw.find_feasible(PodInfo(make_pod("q")), nodes)
    assert feasible2[0].name == "n420"


def test_unknown_score_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown score plugin"):
        default_plugins({"Nope": 1})
