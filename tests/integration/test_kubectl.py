"""The real kubectl (client 1.32) against a real control plane on etcd, over HTTPS with a generated kubeconfig."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from podlab.pki import ClusterPki
from tests.conftest import require_tier
from tests.integration.conftest import wipe
from tests.support.kubectl import Kubectl
from tests.support.procs import ControlPlane, Etcd, wait_for

MANIFESTS = Path(__file__).parents[1] / "unit" / "manifests"
HELLO = MANIFESTS / "seed003-hello-world-pod.yaml"
NGINX = MANIFESTS / "seed003-nginx.yaml"
INVALID = MANIFESTS / "invalid" / "seed003-error-pod.yaml"


def kubectl_for(control_plane: ControlPlane, home: Path) -> Kubectl:
    """kubectl with a kubeconfig for `control_plane`'s HTTPS API (its admin certificate)."""
    binary = shutil.which("kubectl")
    if binary is None:
        require_tier("integration", "no kubectl binary on PATH")
        raise AssertionError("unreachable")
    config = ClusterPki(control_plane.pki_dir).write_kubeconfig(home / "kubeconfig", control_plane.https_url)
    # HOME holds kubectl's discovery cache: one per test, so no test reads another server's.
    return Kubectl(binary, {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(config)})


@pytest.fixture
def kubectl(etcd: Etcd, control_plane: ControlPlane, tmp_path: Path) -> Iterator[Kubectl]:
    wipe(etcd.endpoint)
    yield kubectl_for(control_plane, tmp_path)
    wipe(etcd.endpoint)


def test_discovery_get_nodes_and_api_resources(kubectl: Kubectl) -> None:
    nodes = kubectl.run("get", "nodes")
    assert nodes.stderr.strip() == "No resources found"
    resources = kubectl.out("api-resources")
    rows: dict[str, list[str]] = {}
    for line in resources.splitlines()[1:]:  # the first of a name: metrics.k8s.io has pods and nodes too
        rows.setdefault(line.split()[0], line.split())
    assert rows["pods"][1:3] == ["po", "v1"] and rows["nodes"][1] == "no" and rows["namespaces"][1] == "ns"
    assert rows["configmaps"][1] == "cm" and rows["events"][1] == "ev"
    assert rows["leases"][1] == "coordination.k8s.io/v1"


def test_apply_twice_get_template_json_and_delete(kubectl: Kubectl) -> None:
    assert kubectl.out("apply", "-f", str(HELLO)).strip() == "pod/hello-world created"
    assert kubectl.out("apply", "-f", str(HELLO)).strip() == "pod/hello-world unchanged"
    table = kubectl.out("get", "pods").splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == ["hello-world", "0/1", "Pending", "0"]
    wide = kubectl.out("get", "pods", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                               "READINESS", "GATES"]
    assert kubectl.out("get", "pod", "hello-world", "--output=go-template", "--template={{.status.phase}}") \
        == "Pending"
    pod = json.loads(kubectl.out("get", "pod", "hello-world", "-o", "json"))
    assert pod["kind"] == "Pod" and pod["spec"]["restartPolicy"] == "OnFailure"
    assert "kubectl.kubernetes.io/last-applied-configuration" in pod["metadata"]["annotations"]
    assert kubectl.out("label", "pod", "hello-world", "tier=web").strip() == "pod/hello-world labeled"
    assert "tier=web" in kubectl.out("get", "pods", "--show-labels")
    again = kubectl.run("create", "-f", str(HELLO), check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == (f'Error from server (AlreadyExists): error when creating "{HELLO}": '
                                    'pods "hello-world" already exists')
    # "all" spans several kinds (pods, services, jobs, ...), so kubectl prefixes each name with its kind.
    assert kubectl.out("get", "all").splitlines()[1].split()[0] == "pod/hello-world"
    assert kubectl.out("delete", "pod", "hello-world").strip() == 'pod "hello-world" deleted'
    missing = kubectl.run("get", "pod", "hello-world", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "hello-world" not found'


def test_the_seeds_invalid_pod_reads_as_kubernetes_says_it(kubectl: Kubectl) -> None:
    refused = kubectl.run("create", "-f", str(INVALID), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: '
                                      '"Mybe": supported values: "Always", "OnFailure", "Never"')
    assert kubectl.run("get", "pods").stderr.strip() == "No resources found in default namespace."


def test_get_watch_shows_a_change(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("apply", "-f", str(HELLO))
    out = tmp_path / "watch.out"
    with out.open("w") as sink:
        watcher = subprocess.Popen([kubectl.binary, "get", "pods", "-w", "--show-labels"], env=kubectl.env,
                                   stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: "hello-world" in out.read_text(), 20, message="the watch's first row")
            kubectl.run("label", "pod", "hello-world", "seen=yes")
            wait_for(lambda: "seen=yes" in out.read_text(), 20, message="the label in the watch")
        finally:
            watcher.kill()
            watcher.wait(timeout=10)
    rows = out.read_text().splitlines()
    assert rows[0].split()[0] == "NAME" and rows[1].split()[0] == "hello-world"
    assert rows[-1].split()[0] == "hello-world" and rows[-1].endswith("seen=yes")


def test_explain_reads_the_schema_from_openapi(kubectl: Kubectl) -> None:
    text = kubectl.out("explain", "pod.spec.containers")
    assert "KIND:       Pod" in text and "FIELD: containers <[]Container>" in text
    assert "livenessProbe\t<Probe>" in text and "image\t<string>" in text


def test_patch_of_each_type_apply_of_a_change_annotate_edit_and_force_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("apply", "-f", str(HELLO))
    assert kubectl.out("patch", "pod", "hello-world", "--type=strategic", "-p",
                       '{"spec":{"containers":[{"name":"hello","image":"busybox:1"}]}}').strip() \
        == "pod/hello-world patched"
    kubectl.run("patch", "pod", "hello-world", "--type=merge", "-p", '{"metadata":{"labels":{"a":"1"}}}')
    kubectl.run("patch", "pod", "hello-world", "--type=json", "-p",
                '[{"op":"add","path":"/metadata/labels/b","value":"2"}]')
    pod = json.loads(kubectl.out("get", "pod", "hello-world", "-o", "json"))
    assert pod["spec"]["containers"][0]["image"] == "busybox:1"
    assert pod["spec"]["containers"][0]["command"] == ["/bin/echo", "Hello", "World"]
    assert {"a": "1", "b": "2"}.items() <= pod["metadata"]["labels"].items()
    changed = tmp_path / "changed.yaml"
    changed.write_text(HELLO.read_text().replace('"ubuntu:14.04"', '"ubuntu:16.04"'))
    assert kubectl.out("apply", "-f", str(changed)).strip() == "pod/hello-world configured"
    assert kubectl.out("get", "pod", "hello-world", "-o", "jsonpath={.spec.containers[0].image}") == "ubuntu:16.04"
    immutable = kubectl.run("patch", "pod", "hello-world", "-p", '{"spec":{"restartPolicy":"Never"}}', check=False)
    assert immutable.returncode == 1 and "pod updates may not change fields" in immutable.stderr
    kubectl.run("annotate", "pod", "hello-world", "note=one")
    kubectl.run("annotate", "pod", "hello-world", "note=two", "--overwrite")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/note: two/note: edited/' \"$1\"\n")
    editor.chmod(0o755)
    edited = kubectl.run("edit", "pod", "hello-world", env_extra={"EDITOR": str(editor)})
    assert edited.stdout.strip() == "pod/hello-world edited"
    assert kubectl.out("get", "pod", "hello-world", "-o", "jsonpath={.metadata.annotations.note}") == "edited"
    forced = kubectl.run("delete", "pod", "hello-world", "--grace-period=0", "--force")
    assert forced.stdout.strip() == 'pod "hello-world" force deleted'


def test_typed_client_creates_send_protobuf_and_work(kubectl: Kubectl, tmp_path: Path) -> None:
    data = tmp_path / "f.txt"
    data.write_text("hi\n")
    assert kubectl.out("create", "secret", "generic", "s1", f"--from-file={data}").strip() == "secret/s1 created"
    assert kubectl.out("get", "secret", "s1", "-o", "jsonpath={.data.f\\.txt}") == "aGkK"
    assert kubectl.out("create", "configmap", "c1", "--from-literal=a=b").strip() == "configmap/c1 created"
    rows = kubectl.out("get", "cm").splitlines()
    assert rows[0].split() == ["NAME", "DATA", "AGE"] and rows[1].split()[:2] == ["c1", "1"]
    assert kubectl.out("create", "namespace", "n1").strip() == "namespace/n1 created"


async def test_a_running_cluster_wait_logs_exec_and_drain(make_cluster, tmp_path: Path) -> None:
    cluster, _ = await make_cluster(2)
    kubectl = kubectl_for(cluster.control_plane, tmp_path)
    nodes = kubectl.out("get", "nodes").splitlines()
    assert [row.split()[1] for row in nodes[1:]] == ["Ready", "Ready"]
    kubectl.run("apply", "-f", str(NGINX))
    kubectl.run("wait", "--for=condition=Ready", "pod/my-nginx", "--timeout=30s", timeout=40)
    node = kubectl.out("get", "pod", "my-nginx", "-o", "jsonpath={.spec.nodeName}")
    assert kubectl.run("logs", "my-nginx").returncode == 0  # the sim runtime's containers write no log
    assert kubectl.run("exec", "my-nginx", "--", "echo", "hi").returncode == 0  # over WebSocket (v5)
    wrong = kubectl.run("exec", "my-nginx", "-c", "nope", "--", "ls", check=False)
    assert wrong.stderr.strip() == "Error from server (BadRequest): container nope is not valid for pod my-nginx"
    uid = kubectl.out("get", "pod", "my-nginx", "-o", "jsonpath={.metadata.uid}")
    rehearsed = kubectl.run("drain", node, "--ignore-daemonsets", "--force", "--dry-run=server", timeout=60)
    assert "evicting pod default/my-nginx (server dry run)" in rehearsed.stdout, rehearsed
    assert "SchedulingDisabled" not in kubectl.out("get", "node", node)
    assert kubectl.out("get", "pod", "my-nginx", "-o", "jsonpath={.metadata.uid}") == uid
    # Discovery lists pods/eviction as policy/v1, so drain evicts (not deletes): the bare pod, which would
    # restart, comes back as a new pod of the same name on the other node.
    drained = kubectl.run("drain", node, "--ignore-daemonsets", "--force", timeout=60)
    assert "evicting pod default/my-nginx" in drained.stdout + drained.stderr, drained
    assert "pod/my-nginx evicted" in drained.stdout and f"node/{node} drained" in drained.stdout
    assert "SchedulingDisabled" in kubectl.out("get", "node", node)
    wait_for(lambda: (lambda uid_now, where: uid_now != uid and where not in ("", node))(*kubectl.out(
        "get", "pod", "my-nginx", "-o", "jsonpath={.metadata.uid} {.spec.nodeName}").split(" ")), 30,
        message="my-nginx back on the other node with a new uid")


def test_server_side_dry_runs_of_apply_diff_delete_store_nothing(kubectl: Kubectl, tmp_path: Path) -> None:
    rehearsed = kubectl.out("apply", "--dry-run=server", "-f", str(HELLO))
    assert rehearsed.strip() == "pod/hello-world created (server dry run)"
    assert kubectl.run("get", "pods").stderr.strip() == "No resources found in default namespace."
    kubectl.run("apply", "-f", str(HELLO))
    same = kubectl.run("diff", "-f", str(HELLO), check=False)
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")
    changed = tmp_path / "changed.yaml"
    changed.write_text(HELLO.read_text().replace('"ubuntu:14.04"', '"ubuntu:16.04"'))
    diff = kubectl.run("diff", "-f", str(changed), check=False)
    assert diff.returncode == 1, diff  # 1: differences found (over 1 would be an error)
    changes = [line for line in diff.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert [line.split()[-1] for line in changes if "image:" in line] == ["ubuntu:14.04", "ubuntu:16.04"], diff
    assert kubectl.out("get", "pod", "hello-world", "-o", "jsonpath={.spec.containers[0].image}") == "ubuntu:14.04"
    deleted = kubectl.out("delete", "pod", "hello-world", "--dry-run=server")
    assert deleted.strip() == 'pod "hello-world" deleted (server dry run)'
    assert kubectl.out("get", "pod", "hello-world", "-o", "name").strip() == "pod/hello-world"


def test_unknown_fields_refused_by_default_and_dropped_with_validate_false(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "bogus.yaml"
    manifest.write_text(HELLO.read_text().replace("restartPolicy:", "bogus: 1\n  restartPolicy:"))
    refused = kubectl.run("create", "-f", str(manifest), check=False)
    assert refused.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{manifest}": Pod in version "v1" cannot be '
        'handled as a Pod: strict decoding error: unknown field "spec.bogus"')
    assert kubectl.out("create", "--validate=false", "-f", str(manifest)).strip() == "pod/hello-world created"


def test_create_deployment_and_scale_it_through_kubectls_typed_clients(kubectl: Kubectl) -> None:
    # `create deployment` sends protobuf (Kubernetes' wire numbers, Probe/volume structs nested); `scale`
    # patches the autoscaling/v1 Scale subresource, and with --current-replicas reads it and PUTs it back.
    assert kubectl.out("create", "deployment", "nginx", "--image=nginx", "--replicas=2", "--port=80").strip() \
        == "deployment.apps/nginx created"
    made = json.loads(kubectl.out("get", "deployment", "nginx", "-o", "json"))
    assert made["spec"]["replicas"] == 2 and made["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    template = made["spec"]["template"]
    assert template["metadata"] == {"labels": {"app": "nginx"}}  # Go's zero creationTimestamp is not a time
    assert template["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert kubectl.out("scale", "deployment", "nginx", "--replicas=5").strip() == "deployment.apps/nginx scaled"
    assert kubectl.out("get", "deployment", "nginx", "-o", "jsonpath={.spec.replicas}") == "5"
    stale = kubectl.run("scale", "deployment", "nginx", "--replicas=3", "--current-replicas=2", check=False)
    assert (stale.returncode, stale.stderr.strip()) == (1, "error: Expected replicas to be 2, was 5")
    kubectl.run("scale", "deployment/nginx", "--replicas=3", "--current-replicas=5")
    assert kubectl.out("get", "deployment", "nginx", "-o", "jsonpath={.spec.replicas}") == "3"
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs1"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs1"}},
                   "template": {"metadata": {"labels": {"app": "rs1"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    kubectl.run("create", "-f", "-", input_text=json.dumps(rs))
    assert kubectl.out("scale", "rs", "rs1", "--replicas=4").strip() == "replicaset.apps/rs1 scaled"
    scale = json.loads(kubectl.out("get", "--raw", "/apis/apps/v1/namespaces/default/replicasets/rs1/scale"))
    assert (scale["kind"], scale["apiVersion"], scale["spec"], scale["status"]["selector"]) == \
        ("Scale", "autoscaling/v1", {"replicas": 4}, "app=rs1")
