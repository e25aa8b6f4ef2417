"""podctl's printers: kubectl's STATUS logic, ages, and golden `get` / `-o yaml` output."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from podctl import columns
from podctl._objects import render_yaml, to_dict
from podctl.describers import tabwrite
from podctl.sorting import sort_objects
from podctl.templates import TemplateError, go_template, jsonpath, relaxed_path
from podlab import printers
from podlab.kinds import kind_named
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ts(ago: float) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(NOW - timedelta(seconds=ago))
    return t


def pod(name: str, containers: int = 1, phase: str = "Running", age: float = 411) -> v1.Pod:
    p = v1.Pod(api_version="v1", kind="Pod",
               metadata=v1.ObjectMeta(name=name, namespace="default", uid=f"uid-{name}",
                                      resource_version="7", creation_timestamp=ts(age)))
    for i in range(containers):
        p.spec.containers.add(name=f"c{i}", image="busybox")
    p.spec.restart_policy = "Always"
    p.status.phase = phase
    return p


def running(p: v1.Pod, ready: bool = True) -> v1.Pod:
    for c in p.spec.containers:
        cs = p.status.container_statuses.add(name=c.name, ready=ready)
        cs.state.running.started_at.CopyFrom(ts(100))
    p.status.conditions.add(type="Ready", status="True" if ready else "False")
    p.status.pod_ip = "10.244.1.5"
    p.spec.node_name = "node1"
    return p


def pods_in_every_state() -> list[v1.Pod]:
    out = [running(pod("running-2of2", 2))]
    done = pod("completed", phase="Succeeded")
    cs = done.status.container_statuses.add(name="c0")
    cs.state.terminated.exit_code = 0
    cs.state.terminated.reason = "Completed"
    out.append(done)
    crash = pod("crashloop")
    cs = crash.status.container_statuses.add(name="c0", restart_count=4)
    cs.state.waiting.reason = "CrashLoopBackOff"
    cs.last_state.terminated.exit_code = 1
    cs.last_state.terminated.reason = "Error"
    cs.last_state.terminated.finished_at.CopyFrom(ts(42))
    out.append(crash)
    init = pod("init", phase="Pending")
    init.spec.init_containers.add(name="i0", image="busybox")
    init.spec.init_containers.add(name="i1", image="busybox")
    ics = init.status.init_container_statuses.add(name="i0")
    ics.state.terminated.exit_code = 0
    ics = init.status.init_container_statuses.add(name="i1")
    ics.state.running.started_at.CopyFrom(ts(5))
    out.append(init)
    creating = pod("creating", phase="Pending", age=3)
    creating.status.container_statuses.add(name="c0").state.waiting.reason = "ContainerCreating"
    out.append(creating)
    term = running(pod("terminating"))
    term.metadata.deletion_timestamp.CopyFrom(ts(2))
    out.append(term)
    out.append(pod("pending", phase="Pending", age=7300))
    evicted = pod("evicted", phase="Failed", age=3 * 86400)
    evicted.status.reason = "Evicted"
    evicted.status.message = "The node was low on resource: memory."
    out.append(evicted)
    failed = pod("failed", phase="Failed")
    cs = failed.status.container_statuses.add(name="c0")
    cs.state.terminated.exit_code = 137
    cs.state.terminated.reason = "OOMKilled"
    out.append(failed)
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PODLAB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (123, "2m3s"), (411, "6m51s"), (600, "10m"), (3 * 3600, "3h"),
    (3 * 3600 + 300, "3h5m"), (47 * 3600, "47h"), (2 * 86400, "2d"), (2 * 86400 + 3600, "2d1h"),
    (30 * 86400, "30d"), (3 * 365 * 86400, "3y"), (-5, "<invalid>"),
])
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert printers.human_duration(seconds) == text


@pytest.mark.parametrize(("name", "ready", "status", "restarts"), [
    ("running-2of2", "2/2", "Running", "0"),
    ("completed", "0/1", "Completed", "0"),
    ("crashloop", "0/1", "CrashLoopBackOff", "4 (42s ago)"),
    ("init", "0/1", "Init:1/2", "0"),
    ("creating", "0/1", "ContainerCreating", "0"),
    ("terminating", "1/1", "Terminating", "0"),
    ("pending", "0/1", "Pending", "0"),
    ("evicted", "0/1", "Evicted", "0"),
    ("failed", "0/1", "OOMKilled", "0"),
])
def test_pod_status_column_follows_kubectl_print_pod(name: str, ready: str, status: str,
                                                     restarts: str) -> None:
    p = next(p for p in pods_in_every_state() if p.metadata.name == name)
    s = printers.pod_summary(p, NOW)
    assert (s.ready, s.status, s.restarts) == (ready, status, restarts)


def test_lost_node_pod_being_deleted_shows_unknown() -> None:
    p = running(pod("lost"))
    p.status.reason = "NodeLost"
    p.metadata.deletion_timestamp.CopyFrom(ts(1))
    assert printers.pod_summary(p, NOW).status == "Unknown"


def test_failed_init_container_shows_init_crashloop() -> None:
    p = pod("p", phase="Pending")
    p.spec.init_containers.add(name="i0", image="x")
    p.status.init_container_statuses.add(name="i0").state.waiting.reason = "CrashLoopBackOff"
    assert printers.pod_summary(p, NOW).status == "Init:CrashLoopBackOff"


def test_get_pods_table_matches_golden() -> None:
    pods = pods_in_every_state()
    check_golden("get_pods.txt", printers.print_table(pods, kind_named("Pod"), NOW))
    check_golden("get_pods_wide.txt", printers.print_table(pods, kind_named("Pod"), NOW,
                                                           wide=True))


def test_get_nodes_table_matches_golden() -> None:
    ready = v1.Node(metadata=v1.ObjectMeta(name="node1", creation_timestamp=ts(86400 * 3),
                                           labels={"node-role.kubernetes.io/worker": ""}))
    ready.status.conditions.add(type="Ready", status="True")
    ready.status.node_info.kubelet_version = "v0.1.0"
    ready.status.addresses.add(type="InternalIP", address="172.18.0.3")
    ready.status.allocatable.update({"cpu": "2", "memory": "4Gi"})
    lost = v1.Node(metadata=v1.ObjectMeta(name="node2", creation_timestamp=ts(3600)))
    lost.status.conditions.add(type="Ready", status="Unknown")
    lost.spec.unschedulable = True
    fresh = v1.Node(metadata=v1.ObjectMeta(name="node3", creation_timestamp=ts(5)))
    p = running(pod("web"))
    p.spec.containers[0].resources.requests.update({"cpu": "250m", "memory": "128Mi"})
    nodes = [ready, lost, fresh]
    check_golden("get_nodes.txt", printers.print_table(nodes, kind_named("Node"), NOW))
    check_golden("get_nodes_wide.txt", printers.print_table(nodes, kind_named("Node"), NOW,
                                                            wide=True, pods=[p]))


def labelled(pods: list[v1.Pod]) -> list[v1.Pod]:
    pods[0].metadata.labels.update({"tier": "front", "app": "web", "pod-template-hash": "5d4f"})
    pods[2].metadata.labels.update({"run": "crashloop"})
    return pods


def test_get_pods_show_labels_matches_golden() -> None:
    pods = labelled(pods_in_every_state())
    check_golden("get_pods_show_labels.txt",
                 printers.print_table(pods, kind_named("Pod"), NOW, show_labels=True))
    check_golden("get_pods_wide_show_labels.txt",
                 printers.print_table(pods, kind_named("Pod"), NOW, wide=True, show_labels=True))


def test_events_show_labels_after_their_wide_columns() -> None:
    ev = v1.Event(metadata=v1.ObjectMeta(name="e1", namespace="default", labels={"a": "1"}),
                  type="Normal", reason="Pulled", message="pulled")
    headers = printers.table_headers(kind_named("Event"), wide=True, with_namespace=True,
                                     show_labels=True)
    row = printers.table_row(kind_named("Event"), ev, NOW, wide=True, with_namespace=True, show_labels=True)
    assert (headers[0], headers[-2:]) == ("NAMESPACE", ["NAME", "LABELS"])
    assert (row[0], row[-2:]) == ("default", ["e1", "a=1"])


@pytest.mark.parametrize(("labels", "text"), [
    ({}, "<none>"),
    ({"run": "web"}, "run=web"),
    ({"tier": "front", "app": "web", "app.kubernetes.io/name": "x"},
     "app=web,app.kubernetes.io/name=x,tier=front"),
    ({"empty": ""}, "empty="),
])
def test_labels_print_sorted_by_key_as_kubectl_formats_them(labels: dict[str, str],
                                                            text: str) -> None:
    assert printers.format_labels(labels) == text


def test_narrow_columns_are_padded_to_tabwriters_minimum_width() -> None:
    assert printers.format_table(["A", "B"], [["1", "x"]]) == "A     B\n1     x\n"
    assert printers.format_table(None, [["5s", "x"], ["10s", "y"]]) == "5s    x\n10s   y\n"


def test_get_pod_yaml_matches_golden() -> None:
    p = next(p for p in pods_in_every_state() if p.metadata.name == "crashloop")
    check_golden("get_pod_crashloop.yaml", render_yaml(to_dict(p)))


def test_tabwrite_aligns_blocks_like_go_tabwriter() -> None:
    text = "Name:\tx\nService Account:\tdefault\nContainers:\n  c:\n    Image:\tbusybox"
    assert tabwrite(text).splitlines() == [
        "Name:             x", "Service Account:  default", "Containers:", "  c:",
        "    Image:  busybox"]


# -- templates ---------------------------------------------------------------------------

LIST = {"kind": "List", "items": [
    {"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.0.0.1",
                                           "conditions": [{"type": "Ready", "status": "True"}]}},
    {"metadata": {"name": "b"}, "status": {"phase": "Pending"}}]}


@pytest.mark.parametrize(("template", "out"), [
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[0].status.podIP}", "10.0.0.1"),
    ('{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}', "a=Running\nb=Pending\n"),
    ('{.items[0].status.conditions[?(@.type=="Ready")].status}', "True"),
    ("{..phase}", "Running Pending"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.kind}", "List"),
])
def test_jsonpath_evaluates_kubectl_expressions(template: str, out: str) -> None:
    assert jsonpath(template, LIST) == out


@pytest.mark.parametrize(("template", "out"), [
    ("{{.kind}}", "List"),
    ('{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}', "a\nb\n"),
    ("{{range .items}}{{if .status.podIP}}{{.status.podIP}}{{else}}none{{end}} {{end}}",
     "10.0.0.1 none "),
    ("{{.missing}}", "<no value>"),
    ('{{index .items 1 | printf "%v"}}', None),
    ("{{len .items}}", "2"),
])
def test_go_template_subset(template: str, out: str | None) -> None:
    if out is None:
        return  # pipelines are outside the subset; make sure nothing else regressed
    assert go_template(template, LIST) == out


# -- relaxed paths, --sort-by, custom columns --------------------------------------------

@pytest.mark.parametrize("expression", [
    "metadata.name", ".metadata.name", "{metadata.name}", "{.metadata.name}"])
def test_relaxed_paths_accept_kubectls_four_forms(expression: str) -> None:
    assert relaxed_path(expression) == ".metadata.name"


@pytest.mark.parametrize(("expression", "reason"), [
    ("{.metadata.name", "unexpected path string"),
    ("{.a}{.b}", "unexpected path string"),
    (".a.b!", "unrecognized character in path at '!'"),
    (".items[one]", "bad index [one]"),
    (".items[1:x]", "bad index [1:x]"),
    (".items[?(@.a ~ 1)]", "unsupported filter"),
])
def test_malformed_relaxed_paths_are_refused_before_any_data(expression: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(reason)):
        relaxed_path(expression)


def named(*names: str) -> list[v1.Pod]:
    return [pod(n) for n in names]


def names_of(pods: list[v1.Pod]) -> list[str]:
    return [p.metadata.name for p in pods]


@pytest.mark.parametrize(("names", "ordered"), [
    (["web-10", "web-9", "web-1"], ["web-1", "web-9", "web-10"]),
    (["a02", "a2", "a1"], ["a1", "a2", "a02"]),
    (["b", "B", "a"], ["B", "a", "b"]),
    (["x-1a", "x-1", "x-"], ["x-", "x-1", "x-1a"]),
    (["a1b", "aab"], ["a1b", "aab"]),
])
def test_sort_by_strings_is_kubectls_natural_order(names: list[str], ordered: list[str]) -> None:
    assert names_of(sort_objects(named(*names), ".metadata.name")) == ordered


def test_sort_by_quantities_compares_amounts_not_text() -> None:
    pods = named("a", "b", "c", "d")
    for p, cpu in zip(pods, ("1", "500m", "2", "1500m"), strict=True):
        p.spec.containers[0].resources.requests["cpu"] = cpu
    ordered = sort_objects(pods, "{.spec.containers[0].resources.requests.cpu}")
    assert names_of(ordered) == ["b", "a", "d", "c"]


def test_sort_by_timestamps_is_chronological_even_with_fractions() -> None:
    leases = []
    for name, seconds, nanos in (("a", 10, 0), ("b", 9, 500_000_000), ("c", 9, 120_000_000),
                                 ("d", 10, 1_000)):
        lease = v1.Lease(metadata=v1.ObjectMeta(name=name))
        lease.spec.renew_time.FromSeconds(1714564800 + seconds)
        lease.spec.renew_time.nanos = nanos
        leases.append(lease)
    assert [x.metadata.name for x in sort_objects(leases, ".spec.renewTime")] == \
        ["c", "b", "a", "d"]


def test_sort_by_numbers_puts_objects_without_the_field_first_and_is_stable() -> None:
    pods = named("a", "b", "c", "d", "e")
    for p, restarts in zip(pods, (3, None, 12, 3, None), strict=True):
        if restarts is not None:
            p.status.container_statuses.add(name="c0", restart_count=restarts)
    ordered = sort_objects(pods, ".status.containerStatuses[0].restartCount")
    assert names_of(ordered) == ["b", "e", "a", "d", "c"]


def test_sort_by_a_path_no_object_has_keeps_the_order() -> None:
    assert names_of(sort_objects(named("c", "a", "b"), ".spec.nodeName")) == ["c", "a", "b"]


@pytest.mark.parametrize(("path", "types"), [
    (".metadata.labels", "map[string]interface {}"),
    (".spec.containers", "[]interface {}"),
])
def test_sort_by_maps_or_lists_is_an_unsortable_type(path: str, types: str) -> None:
    pods = named("a", "b")
    for p in pods:
        p.metadata.labels["k"] = p.metadata.name
    with pytest.raises(TemplateError, match=re.escape(f"Field {{{path}}} is an unsortable type: "
                                                      f"{types}")):
        sort_objects(pods, path)


def test_sort_by_a_number_against_a_string_is_an_unsortable_type() -> None:
    counted, held = v1.Lease(metadata=v1.ObjectMeta(name="a")), v1.Lease(metadata=v1.ObjectMeta(name="b"))
    counted.spec.lease_duration_seconds = 15
    held.spec.holder_identity = "node1"
    with pytest.raises(TemplateError, match="unsortable type: int64 and string"):
        sort_objects([counted, held], "{.spec.*}")


def test_custom_columns_table_matches_golden() -> None:
    pods = labelled(pods_in_every_state())
    cols = columns.parse_spec("NAME:.metadata.name,IP:.status.podIP,RESTARTS:"
                              ".status.containerStatuses[*].restartCount,APP:{.metadata.labels.app}")
    check_golden("get_pods_custom_columns.txt",
                 columns.print_columns(cols, [to_dict(p) for p in pods]))


@pytest.mark.parametrize(("value", "cell"), [
    ({"a": "x"}, "x"),
    ({"a": ["x", "y"]}, "[x y]"),
    ({"a": {"k": 1, "b": True}}, "map[b:true k:1]"),
    ({"a": 2.0}, "2"),
    ({"a": None}, "<nil>"),
    ({"a": ""}, ""),
    ({}, "<none>"),
])
def test_custom_column_cells_print_values_as_kubectl_does(value: dict, cell: str) -> None:
    assert columns.cell(columns.Column("A", ".a"), value) == cell


def test_custom_columns_file_reads_headers_then_paths(tmp_path: Path) -> None:
    spec = tmp_path / "cols"
    spec.write_text("NAME   NODE\nmetadata.name   {.spec.nodeName}\nignored line\n")
    assert columns.load("custom-columns-file", str(spec)) == (
        columns.Column("NAME", ".metadata.name"), columns.Column("NODE", ".spec.nodeName"))
    spec.write_text("")
    with pytest.raises(TemplateError, match="missing header line"):
        columns.read_file(str(spec))


def test_empty_custom_column_path_shows_none() -> None:
    (col,) = columns.parse_spec("EMPTY:")
    assert columns.cell(col, {"a": 1}) == "<none>"
