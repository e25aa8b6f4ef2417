"""podctl against an in-process fake API server: commands, output and one-line errors."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from podlab import __version__, printers
from podlab.v1 import objects_pb2 as v1
from tests.support.podctl_server import (
    ERROR_POD,
    HELLO,
    INVALID,
    Fake,
    closed_port,
    podctl,
    watch_then_end,
)

pytestmark = pytest.mark.unit

# -- errors ------------------------------------------------------------------------------

def test_unreachable_server_is_one_line_and_exit_1() -> None:
    port = closed_port()
    r = podctl("-s", f"127.0.0.1:{port}", "get", "pods")
    assert r.code == 1
    assert r.err == (f"Unable to connect to the server: 127.0.0.1:{port}: connection refused - "
                     "is the control plane running?\n")
    assert r.out == ""


def test_server_from_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("PODLAB_SERVER", f"127.0.0.1:{port}")
    r = podctl("get", "pods")
    assert r.code == 1 and f"127.0.0.1:{port}" in r.err


def test_missing_file_reports_the_path(fake: Fake) -> None:
    r = podctl("-s", fake.address, "create", "-f", "nope.yaml")
    assert (r.code, r.err) == (1, 'error: the path "nope.yaml" does not exist\n')


def test_malformed_manifest_is_one_line(fake: Fake, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: [oops\n  name: x\n")
    r = podctl("-s", fake.address, "apply", "-f", str(bad))
    assert r.code == 1
    assert r.err.count("\n") == 1 and r.err.startswith("error:") and "bad.yaml" in r.err


def test_get_missing_pod_prints_kubectl_not_found(fake: Fake) -> None:
    r = podctl("-s", fake.address, "get", "pod", "ghost")
    assert (r.code, r.err) == (1, 'Error from server (NotFound): pods "ghost" not found\n')


def test_unknown_resource_type_is_one_line(fake: Fake) -> None:
    r = podctl("-s", fake.address, "get", "widgets")
    assert (r.code, r.err) == (1, 'error: the server doesn\'t have a resource type "widgets"\n')


# -- create / get / delete ---------------------------------------------------------------

def test_create_then_get_then_delete_hello_world(fake: Fake, hello: Path) -> None:
    r = podctl("-s", fake.address, "create", "-f", str(hello))
    assert (r.code, r.out) == (0, "pod/hello-world created\n")
    r = podctl("-s", fake.address, "get", "pod", "hello-world")
    assert r.out.splitlines()[0] == "NAME          READY   STATUS    RESTARTS   AGE"
    assert r.out.splitlines()[1].startswith("hello-world   0/1     Pending   0          ")
    r = podctl("-s", fake.address, "delete", "pod", "hello-world")
    assert (r.code, r.out) == (0, 'pod "hello-world" deleted\n')
    assert not fake.objects("Pod")


def test_create_invalid_pod_prints_server_message_verbatim(fake: Fake, tmp_path: Path) -> None:
    path = tmp_path / "error-pod.yaml"
    path.write_text(ERROR_POD)
    r = podctl("-s", fake.address, "create", "-f", str(path))
    assert (r.code, r.err, r.out) == (1, INVALID + "\n", "")


def test_create_reports_successes_among_failures(fake: Fake, tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(ERROR_POD + "---\n" + HELLO.replace("hello-world", "good"))
    r = podctl("-s", fake.address, "create", "-f", str(path))
    assert r.code == 1
    assert r.out == "pod/good created\n"
    assert r.err == INVALID + "\n"


def test_create_from_stdin(fake: Fake) -> None:
    r = podctl("-s", fake.address, "create", "-f", "-", stdin=HELLO)
    assert r.out == "pod/hello-world created\n"


def test_apply_creates_then_is_unchanged_then_configured(fake: Fake, hello: Path) -> None:
    assert podctl("-s", fake.address, "apply", "-f", str(hello)).out == \
        "pod/hello-world created\n"
    assert podctl("-s", fake.address, "apply", "-f", str(hello)).out == \
        "pod/hello-world unchanged\n"
    hello.write_text(HELLO.replace("  name: hello-world\n",
                                   "  name: hello-world\n  labels:\n    app: hi\n"))
    assert podctl("-s", fake.address, "apply", "-f", str(hello)).out == \
        "pod/hello-world configured\n"
    pod = fake.get("Pod", "hello-world")
    assert pod.metadata.labels["app"] == "hi"


def test_get_go_template_and_template_flag(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "create", "-f", str(hello))
    pod = fake.get("Pod", "hello-world")
    pod.status.phase = "Succeeded"
    pod.status.pod_ip = "10.244.2.10"
    fake.call(fake.cluster.update_status(pod))
    r = podctl("-s", fake.address, "get", "pods", "hello-world", "--output=go-template",
               "--template={{.status.phase}}")
    assert (r.code, r.out) == (0, "Succeeded")
    r = podctl("-s", fake.address, "get", "pod", "hello-world", "--template={{.status.podIP}}")
    assert r.out == "10.244.2.10"
    r = podctl("-s", fake.address, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
    assert r.out == "hello-world"
    r = podctl("-s", fake.address, "get", "pods", "-o", "name")
    assert r.out == "pod/hello-world\n"


def test_get_output_json_and_yaml_for_one_pod_is_the_object(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "create", "-f", str(hello))
    r = podctl("-s", fake.address, "get", "pod", "hello-world", "--output", "yaml")
    assert r.out.startswith("apiVersion: v1\nkind: Pod\nmetadata:\n")
    r = podctl("-s", fake.address, "get", "pods", "-o", "json")
    assert '"kind": "List"' in r.out and '"name": "hello-world"' in r.out


def test_delete_all_and_force_warning(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "create", "-f", str(hello))
    podctl("-s", fake.address, "run", "nginx", "--image=nginx")
    r = podctl("-s", fake.address, "delete", "pod", "--all", "--force", "--grace-period=0")
    assert r.code == 0
    assert r.err.startswith("Warning: Immediate deletion does not wait for confirmation")
    assert r.out == 'pod "hello-world" force deleted\npod "nginx" force deleted\n'
    assert not fake.objects("Pod")


def test_replace_force_deletes_and_recreates(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "create", "-f", str(hello))
    old_uid = fake.get("Pod", "hello-world").metadata.uid
    r = podctl("-s", fake.address, "replace", "-f", str(hello), "--force")
    assert (r.code, r.out) == (0, 'pod "hello-world" deleted\npod/hello-world replaced\n')
    assert fake.get("Pod", "hello-world").metadata.uid != old_uid


def test_run_creates_pod_labelled_run(fake: Fake) -> None:
    r = podctl("-s", fake.address, "run", "nginx", "--image=nginx", "--restart=Never",
               "--env", "A=1", "--", "-g", "daemon off;")
    assert r.out == "pod/nginx created\n"
    pod = fake.get("Pod", "nginx")
    assert dict(pod.metadata.labels) == {"run": "nginx"}
    assert list(pod.spec.containers[0].args) == ["-g", "daemon off;"]
    assert pod.spec.restart_policy == "Never"


def test_create_configmap_and_secret_from_literals_and_files(fake: Fake, tmp_path: Path) -> None:
    (tmp_path / "password.txt").write_text("s3cret")
    r = podctl("-s", fake.address, "create", "configmap", "cfg", "--from-literal=a=1",
               f"--from-file=b={tmp_path / 'password.txt'}")
    assert r.out == "configmap/cfg created\n"
    assert dict(fake.get("ConfigMap", "cfg").data) == \
        {"a": "1", "b": "s3cret"}
    r = podctl("-s", fake.address, "create", "secret", "generic", "pass",
               f"--from-file={tmp_path / 'password.txt'}")
    assert r.out == "secret/pass created\n"
    assert dict(fake.get("Secret", "pass").data) == \
        {"password.txt": b"s3cret"}


# -- logs / exec -------------------------------------------------------------------------

def test_logs_container_as_second_positional(fake: Fake) -> None:
    fake.running_pod("hello-world-wr", "hello", "wr")
    assert podctl("-s", fake.address, "logs", "hello-world-wr", "hello").out == \
        "Hello World from hello\n"
    r = podctl("-s", fake.address, "logs", "hello-world-wr")
    assert (r.code, r.err) == (1, "Error from server (BadRequest): a container name must be "
                                  "specified for pod hello-world-wr, choose one of: [hello wr]\n")


def test_exec_deprecated_form_warns_on_stderr(fake: Fake) -> None:
    fake.running_pod("downwardapi-env")
    r = podctl("-s", fake.address, "exec", "downwardapi-env", "env")
    assert r.out == "MY_POD_NAME=downwardapi-env\n"
    assert r.err == ("podctl exec [POD] [COMMAND] is DEPRECATED and will be removed in a future "
                     "version. Use podctl exec [POD] -- [COMMAND] instead.\n")
    r = podctl("-s", fake.address, "exec", "downwardapi-env", "--", "env")
    assert (r.out, r.err) == ("MY_POD_NAME=downwardapi-env\n", "")


def test_exec_streams_stdin_and_closes_it(fake: Fake) -> None:
    fake.running_pod("p", "busybox")
    r = podctl("-s", fake.address, "exec", "-i", "p", "-c", "busybox", "--", "cat",
               stdin="hello\n")
    assert (r.code, r.out) == (0, "hello\n")
    start = fake.agent.exec_inputs[0].start
    assert (start.container, start.stdin, list(start.command)) == ("busybox", True, ["cat"])
    assert fake.agent.exec_inputs[-1].WhichOneof("input") == "close_stdin"


def test_exec_it_without_terminal_falls_back_to_plain_stdin(fake: Fake) -> None:
    fake.running_pod("p", "busybox")
    r = podctl("-s", fake.address, "exec", "-it", "p", "-c", "busybox", "--", "cat", stdin="x")
    assert r.out == "x"
    assert r.err.startswith("Unable to use a TTY")


def test_exec_exits_with_the_remote_exit_code(fake: Fake) -> None:
    fake.running_pod("p")
    r = podctl("-s", fake.address, "exec", "p", "--", "false")
    assert r.code == 3
    assert r.err == "failing\ncommand terminated with exit code 3\n"


# -- nodes -------------------------------------------------------------------------------

def _node(fake: Fake, name: str = "node1") -> v1.Node:
    return fake.node(name)


def test_cordon_taint_label_uncordon(fake: Fake) -> None:
    _node(fake)
    assert podctl("-s", fake.address, "cordon", "node1").out == "node/node1 cordoned\n"
    assert podctl("-s", fake.address, "cordon", "node1").out == "node/node1 already cordoned\n"
    r = podctl("-s", fake.address, "get", "nodes", "--no-headers")
    assert r.out.split()[:2] == ["node1", "Ready,SchedulingDisabled"]
    assert podctl("-s", fake.address, "taint", "nodes", "node1", "gpu=yes:NoSchedule").out == \
        "node/node1 tainted\n"
    node = fake.get("Node", "node1", "")
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("gpu", "yes", "NoSchedule")]
    assert podctl("-s", fake.address, "taint", "nodes", "node1", "gpu:NoSchedule-").out == \
        "node/node1 untainted\n"
    assert podctl("-s", fake.address, "label", "nodes", "node1", "disk=ssd").out == \
        "node/node1 labeled\n"
    r = podctl("-s", fake.address, "label", "nodes", "node1", "disk=hdd")
    assert (r.code, r.err) == (1, "error: 'disk' already has a value (ssd), and --overwrite is "
                                  "false\n")
    assert podctl("-s", fake.address, "uncordon", "node1").out == "node/node1 uncordoned\n"


def test_drain_refuses_pods_that_would_not_come_back_without_force(fake: Fake) -> None:
    _node(fake)
    web = fake.running_pod("web")
    web.spec.restart_policy = "Never"
    fake.call(fake.cluster.delete("Pod", "web", grace_period_seconds=0))
    web.metadata.resource_version = ""
    fake.create(web)
    r = podctl("-s", fake.address, "drain", "node1")
    assert r.code == 1 and "use --force to override" in r.err
    # No agent runs here to confirm a graceful end, so the pod gets none.
    r = podctl("-s", fake.address, "drain", "node1", "--force", "--grace-period=0")
    assert r.code == 0
    assert r.out.splitlines() == ["node/node1 already cordoned", "evicting pod default/web",
                                  "pod/web evicted", "node/node1 drained"]


def test_wait_for_condition_and_timeout(fake: Fake) -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p", namespace="default"))
    pod.spec.containers.add(name="app", image="busybox")
    pod.status.conditions.add(type="Ready", status="True")
    fake.seed(pod)
    r = podctl("-s", fake.address, "wait", "--for=condition=Ready", "pod/p")
    assert (r.code, r.out) == (0, "pod/p condition met\n")
    r = podctl("-s", fake.address, "wait", "--for=delete", "pods", "p", "--timeout=0.3s")
    assert (r.code, r.err) == (1, "error: timed out waiting for the condition on pods/p\n")


def test_version_prints_client_and_server(fake: Fake) -> None:
    r = podctl("-s", fake.address, "version")
    assert r.out.splitlines() == [f"Client Version: v{__version__}", f"Server Version: {__version__}",
                                  "etcd Version: memory"]


def test_describe_pod_shows_sections_and_events(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "create", "-f", str(hello))
    pod = fake.get("Pod", "hello-world")
    ev = v1.Event(metadata=v1.ObjectMeta(name="e1", namespace="default"), type="Normal",
                  reason="Scheduled", message="Successfully assigned default/hello-world to n1",
                  involved_object=v1.ObjectReference(kind="Pod", name="hello-world",
                                                     uid=pod.metadata.uid))
    ev.source.component = "default-scheduler"
    ev.last_timestamp.GetCurrentTime()
    fake.create(ev)
    r = podctl("-s", fake.address, "describe", "pod", "hello-world")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "Name:             hello-world"
    assert "Containers:" in lines and "  hello:" in lines
    assert "QoS Class:" in r.out and "BestEffort" in r.out
    assert lines[-3].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[-1].split()[:2] == ["Normal", "Scheduled"]


def test_table_now_is_frozen_by_printers_utcnow(monkeypatch: pytest.MonkeyPatch) -> None:
    # The golden tests rely on this seam.
    assert callable(printers.utcnow)


def test_server_address_precedence_flag_env_config_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podlab.config import DEFAULT_SERVER, resolve_server

    config = tmp_path / "config"
    monkeypatch.delenv("PODLAB_SERVER", raising=False)
    assert resolve_server(None, config) == DEFAULT_SERVER
    config.write_text("server: 10.0.0.1:7443\n")
    assert resolve_server(None, config) == "10.0.0.1:7443"
    monkeypatch.setenv("PODLAB_SERVER", "10.0.0.2:7443")
    assert resolve_server(None, config) == "10.0.0.2:7443"
    assert resolve_server("10.0.0.3:1", config) == "10.0.0.3:1"


def test_namespace_and_server_flags_work_after_the_command(fake: Fake, hello: Path) -> None:
    r = podctl("create", "-f", str(hello), "-n", "team", "-s", fake.address)
    assert (r.code, r.err) == (1, 'Error from server (NotFound): namespaces "team" not found\n')
    fake.create(v1.Namespace(metadata=v1.ObjectMeta(name="team")))
    podctl("create", "-f", str(hello), "-n", "team", "-s", fake.address)
    assert fake.get("Pod", "hello-world", "team") is not None
    r = podctl("get", "pods", "-A", "-s", fake.address)
    assert r.out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]


# -- get --show-labels / --sort-by / -o custom-columns -----------------------------------

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printers, "utcnow", lambda: NOW)


def _pod(fake: Fake, name: str, labels: dict[str, str] | None = None, age: float = 300,
         restarts: int | None = None, ip: str = "", namespace: str = "default", node: str = "",
         sidecar: bool = False) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name, namespace=namespace, labels=labels or {},
                                        uid=f"uid-{name}", resource_version="1"))
    pod.metadata.creation_timestamp.FromDatetime(NOW - timedelta(seconds=age))
    pod.spec.containers.add(name="c", image="busybox")
    if sidecar:
        pod.spec.containers.add(name="sidecar", image="nginx")
    pod.spec.node_name = node
    pod.status.phase = "Running"
    if restarts is not None:
        cs = pod.status.container_statuses.add(name="c", restart_count=restarts, ready=True)
        cs.state.running.SetInParent()
    pod.status.pod_ip = ip
    return fake.seed(pod)


def test_show_labels_adds_a_last_labels_column_sorted_by_key(fake: Fake, frozen_now: None) -> None:
    _pod(fake, "web", {"tier": "front", "app": "web"})
    _pod(fake, "bare")
    r = podctl("-s", fake.address, "get", "pods", "--show-labels")
    assert (r.code, r.out) == (0, (
        "NAME   READY   STATUS    RESTARTS   AGE   LABELS\n"
        "bare   0/1     Running   0          5m    <none>\n"
        "web    0/1     Running   0          5m    app=web,tier=front\n"))


def test_show_labels_is_last_after_wide_columns_and_namespace(fake: Fake, frozen_now: None) -> None:
    _pod(fake, "web", {"app": "web"}, ip="10.244.1.5")
    r = podctl("-s", fake.address, "get", "pods", "-o", "wide", "--show-labels", "-A")
    assert r.out.splitlines() == [
        "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE   IP           NODE     "
        "NOMINATED NODE   READINESS GATES   LABELS",
        "default     web    0/1     Running   0          5m    10.244.1.5   <none>   "
        "<none>           <none>            app=web"]


def test_show_labels_works_for_nodes_and_without_headers(fake: Fake) -> None:
    node = v1.Node(metadata=v1.ObjectMeta(name="node1", labels={"kubernetes.io/hostname": "node1", "disk": "ssd"}))
    node.status.conditions.add(type="Ready", status="True")
    fake.create(node)
    r = podctl("-s", fake.address, "get", "nodes", "--show-labels", "--no-headers")
    assert r.out.split()[0] == "node1"
    assert r.out.split()[-1] == "disk=ssd,kubernetes.io/hostname=node1"


def test_show_labels_with_watch_labels_every_row(fake: Fake, frozen_now: None) -> None:
    _pod(fake, "web", {"app": "web"})
    changed = _pod(fake, "web2", {"app": "web", "v": "2"})

    def touch() -> None:
        changed.metadata.annotations["touched"] = "yes"
        fake.seed(changed)

    r = watch_then_end(fake, "get", "pods", "-w", "--show-labels", during=touch)
    assert r.code == 0
    assert [line.split() for line in r.out.splitlines()] == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"],
        ["web", "0/1", "Running", "0", "5m", "app=web"],
        ["web2", "0/1", "Running", "0", "5m", "app=web,v=2"],
        ["web2", "0/1", "Running", "0", "5m", "app=web,v=2"]]


def test_show_labels_with_a_non_table_output_is_refused(fake: Fake) -> None:
    r = podctl("-s", fake.address, "get", "pods", "--show-labels", "-o", "json")
    assert (r.code, r.out, r.err) == (
        1, "", "error: --show-labels option cannot be used with json printer\n")


def test_output_flag_accepts_kubectls_equals_form(fake: Fake) -> None:
    _pod(fake, "web")
    assert podctl("-s", fake.address, "get", "pods", "-o=name").out == "pod/web\n"


def test_sort_by_name_is_natural_order(fake: Fake) -> None:
    for name in ("web-2", "web-10", "web-1"):
        _pod(fake, name)
    r = podctl("-s", fake.address, "get", "pods", "--sort-by=.metadata.name", "-o", "name")
    assert (r.code, r.out) == (0, "pod/web-1\npod/web-2\npod/web-10\n")


def test_sort_by_creation_timestamp_is_oldest_first_in_the_table(fake: Fake,
                                                                 frozen_now: None) -> None:
    _pod(fake, "a-new", age=5)
    _pod(fake, "b-old", age=3 * 86400)
    _pod(fake, "c-mid", age=7200)
    r = podctl("-s", fake.address, "get", "pods", "--sort-by=.metadata.creationTimestamp")
    assert [line.split()[0] for line in r.out.splitlines()] == ["NAME", "b-old", "c-mid", "a-new"]


def test_sort_by_restart_count_is_numeric_and_pods_without_it_come_first(fake: Fake) -> None:
    _pod(fake, "a", restarts=10)
    _pod(fake, "b")
    _pod(fake, "c", restarts=9)
    _pod(fake, "d", restarts=0)
    r = podctl("-s", fake.address, "get", "pods", "-o", "name",
               "--sort-by={.status.containerStatuses[0].restartCount}")
    assert r.out.split() == ["pod/b", "pod/d", "pod/c", "pod/a"]


def test_sort_by_orders_the_items_of_json_and_yaml_lists(fake: Fake) -> None:
    _pod(fake, "a", ip="10.0.0.9")
    _pod(fake, "b", ip="10.0.0.10")
    r = podctl("-s", fake.address, "get", "pods", "-o", "json", "--sort-by=status.podIP")
    items = json.loads(r.out)["items"]
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    r = podctl("-s", fake.address, "get", "pods", "-o", "yaml", "--sort-by={.metadata.uid}")
    assert r.out.index("name: a") < r.out.index("name: b")


def test_sort_by_a_field_no_object_has_keeps_the_order(fake: Fake) -> None:
    for name in ("c", "a", "b"):
        _pod(fake, name)
    r = podctl("-s", fake.address, "get", "pods", "--sort-by=.spec.nodeName", "-o", "name")
    assert (r.code, r.out, r.err) == (0, "pod/a\npod/b\npod/c\n", "")


@pytest.mark.parametrize(("path", "reason"), [
    ("{.metadata.name", "unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                        "'{name1.name2}' or '{.name1.name2}'"),
    (".metadata.name!", "unrecognized character in path at '!'"),
    (".spec.containers[x].name", "bad index [x]"),
])
def test_sort_by_a_malformed_path_is_one_error_line(fake: Fake, path: str, reason: str) -> None:
    _pod(fake, "a")
    r = podctl("-s", fake.address, "get", "pods", f"--sort-by={path}")
    assert (r.code, r.out, r.err) == (1, "", f"error: {reason}\n")


def test_sort_by_values_kubectl_cannot_compare_is_an_error(fake: Fake) -> None:
    for name in ("node1", "node2"):
        fake.create(v1.Node(metadata=v1.ObjectMeta(name=name), spec=v1.NodeSpec(unschedulable=True)))
    r = podctl("-s", fake.address, "get", "nodes", "--sort-by=.spec.unschedulable")
    assert (r.code, r.err) == (1, "error: Field {.spec.unschedulable} is an unsortable type: bool\n")


def test_sort_by_with_watch_warns_that_it_is_ignored(fake: Fake) -> None:
    _pod(fake, "b")
    _pod(fake, "a")
    r = watch_then_end(fake, "get", "pods", "-w", "-o", "name", "--sort-by=.metadata.name")
    assert r.code == 0
    assert r.err == "warning: --watch or --watch-only requested, --sort-by will be ignored\n"


def test_custom_columns_print_aligned_values_and_none(fake: Fake) -> None:
    _pod(fake, "web", ip="10.244.1.5", node="node1")
    _pod(fake, "pending-pod")
    r = podctl("-s", fake.address, "get", "pods",
               "-o", "custom-columns=NAME:.metadata.name,IP:.status.podIP,NODE:{.spec.nodeName}")
    assert (r.code, r.out) == (0, (
        "NAME          IP           NODE\n"
        "pending-pod   <none>       <none>\n"
        "web           10.244.1.5   node1\n"))


def test_custom_columns_join_several_matches_with_commas(fake: Fake) -> None:
    _pod(fake, "two", {"app": "x"}, sidecar=True)
    r = podctl("-s", fake.address, "get", "pod", "two", "-o",
               "custom-columns=C:.spec.containers[*].name,I:spec.containers[*].image,"
               "L:.metadata.labels")
    assert r.out.splitlines() == ["C           I               L",
                                  "c,sidecar   busybox,nginx   map[app:x]"]


def test_custom_columns_respect_no_headers_and_sort_by(fake: Fake) -> None:
    _pod(fake, "web-10")
    _pod(fake, "web-9")
    r = podctl("-s", fake.address, "get", "pods", "-o", "custom-columns=N:.metadata.name",
               "--no-headers", "--sort-by=.metadata.name")
    assert r.out == "web-9\nweb-10\n"


def test_custom_columns_with_no_objects_print_the_header(fake: Fake) -> None:
    r = podctl("-s", fake.address, "get", "pods", "-o", "custom-columns=NAME:.metadata.name")
    assert (r.code, r.out, r.err) == (0, "NAME\n", "")


def test_custom_columns_file_is_a_header_line_then_a_path_line(fake: Fake, tmp_path: Path) -> None:
    _pod(fake, "web", ip="10.244.1.5")
    spec = tmp_path / "cols.txt"
    spec.write_text("NAME            IP\n.metadata.name  {.status.podIP}\n")
    r = podctl("-s", fake.address, "get", "pods", f"-o=custom-columns-file={spec}")
    assert (r.code, r.out) == (0, "NAME   IP\nweb    10.244.1.5\n")
    r = podctl("-s", fake.address, "get", "pods", f"-o=custom-columns-file={spec}", "--no-headers")
    assert r.out == "web   10.244.1.5\n"


@pytest.mark.parametrize(("output", "message"), [
    ("custom-columns=NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"),
    ("custom-columns=NAME:.metadata.name,IP", "unexpected custom-columns spec: IP, expected "
                                              "<header>:<json-path-expr>"),
    ("custom-columns=", "custom-columns format specified but no custom columns given"),
    ("custom-columns", "custom-columns format specified but no custom columns given"),
    ("custom-columns-file", "custom-columns format specified but no custom columns given"),
    ("custom-columns=N:{.metadata.name", "unexpected path string, expected a 'name1.name2' or "
                                         "'.name1.name2' or '{name1.name2}' or '{.name1.name2}'"),
    ("custom-columns-file=nope.txt", "error reading template nope.txt, open nope.txt: "
                                     "no such file or directory"),
    ("custom-colums=N:.x", 'unable to match a printer suitable for the output format '
                           '"custom-colums=N:.x", allowed formats are: custom-columns,'
                           'custom-columns-file,go-template,json,jsonpath,name,wide,yaml'),
])
def test_bad_custom_columns_are_kubectls_one_line_errors(fake: Fake, output: str,
                                                          message: str) -> None:
    r = podctl("-s", fake.address, "get", "pods", "-o", output)
    assert (r.code, r.out, r.err) == (1, "", f"error: {message}\n")


def test_custom_columns_file_with_unmatched_headers_is_an_error(fake: Fake, tmp_path: Path) -> None:
    spec = tmp_path / "cols.txt"
    spec.write_text("NAME IP\n.metadata.name\n")
    r = podctl("-s", fake.address, "get", "pods", f"-o=custom-columns-file={spec}")
    assert (r.code, r.err) == (1, "error: number of headers (2) and field specifications (1) "
                                  "don't match\n")
    spec.write_text("NAME IP\n")
    r = podctl("-s", fake.address, "get", "pods", f"-o=custom-columns-file={spec}")
    assert r.err == ("error: invalid template, missing spec line. Expected format is one line of "
                     "space separated headers, one line of space separated column specs.\n")


def test_apply_of_a_yaml_alias_bomb_is_refused_in_bounded_memory() -> None:
    # A separate process under a 1 GiB address-space limit: before the loader's alias budget, this
    # 446-byte file grew podctl to gigabytes.
    bomb = Path(__file__).parent / "hostile" / "billion-laughs.yaml"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run([sys.executable, "-m", "podctl", "-s", f"127.0.0.1:{closed_port()}", "apply", "-f",
                           str(bomb)], capture_output=True, text=True, timeout=60, preexec_fn=limit)
    assert done.returncode == 1
    assert done.stderr == (f"error: error parsing {bomb}: error converting YAML to JSON: yaml: document contains "
                           "excessive aliasing\n")
