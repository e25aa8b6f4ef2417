"""podctl's kubectl habits over gRPC: patch, annotate, edit (and, below, the streaming verbs, top,
api-resources and explain), against the real API server over the in-memory API."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.hello_http import hello_server
from tests.support.podctl_server import Fake, podctl

pytestmark = pytest.mark.unit


def _pod(fake: Fake) -> None:
    fake.running_pod("p", "app")


# -- patch -------------------------------------------------------------------------------

def test_patch_of_each_type_changes_the_object_and_says_so(fake: Fake) -> None:
    _pod(fake)
    s = ("-s", fake.address)
    r = podctl(*s, "patch", "pod", "p", "-p", '{"metadata":{"labels":{"a":"1"}}}')
    assert (r.code, r.out) == (0, "pod/p patched\n")
    r = podctl(*s, "patch", "pod/p", "--type", "merge", "-p", "metadata: {labels: {b: '2'}}")
    assert r.out == "pod/p patched\n"
    r = podctl(*s, "patch", "pod", "p", "--type=json", "-p", '[{"op":"remove","path":"/metadata/labels/a"}]')
    assert r.out == "pod/p patched\n"
    assert dict(fake.get("Pod", "p").metadata.labels) == {"b": "2"}
    # strategic: containers merge by name, so the one container keeps its name and gets the image
    r = podctl(*s, "patch", "pod", "p", "-p", '{"spec":{"containers":[{"name":"app","image":"nginx"}]}}')
    assert r.out == "pod/p patched\n"
    assert [(c.name, c.image) for c in fake.get("Pod", "p").spec.containers] == [("app", "nginx")]
    assert podctl(*s, "patch", "pod", "p", "-p", '{"metadata":{"labels":{"b":"2"}}}').out == \
        "pod/p patched (no change)\n"


def test_patch_errors_are_kubectls_lines(fake: Fake) -> None:
    _pod(fake)
    s = ("-s", fake.address)
    assert podctl(*s, "patch", "pod", "p").err == \
        "error: must specify --patch or --patch-file containing the contents of the patch\n"
    assert podctl(*s, "patch", "pod", "p", "--type", "x", "-p", "{}").err == \
        'error: --type must be one of [json merge strategic], not "x"\n'
    assert podctl(*s, "patch", "pod", "p", "-p", "{a").err.startswith('error: unable to parse "{a": ')
    r = podctl(*s, "patch", "pod", "p", "--type=json", "-p", '[{"op":"remove","path":"/nope"}]')
    assert r.code == 1 and "nope" in r.err
    assert podctl(*s, "patch", "pod", "gone", "-p", "{}").err == 'Error from server (NotFound): pods "gone" not found\n'
    r = podctl(*s, "patch", "pod", "p", "-p", '{"spec":{"restartPolicy":"Mybe"}}')
    assert r.err.startswith('The Pod "p" is invalid: spec.restartPolicy: Unsupported value: "Mybe"')


# -- annotate ----------------------------------------------------------------------------

def test_annotate_sets_refuses_without_overwrite_and_removes(fake: Fake) -> None:
    _pod(fake)
    s = ("-s", fake.address)
    assert podctl(*s, "annotate", "pods", "p", "note=one", "team=x").out == "pod/p annotated\n"
    r = podctl(*s, "annotate", "pods", "p", "note=two")
    assert (r.code, r.err) == (1, "error: --overwrite is false but found the following declared annotation(s): "
                                  "'note' already has a value (one)\n")
    assert podctl(*s, "annotate", "--overwrite", "pod/p", "note=two").out == "pod/p annotated\n"
    assert podctl(*s, "annotate", "pods", "p", "team-").out == "pod/p annotated\n"
    assert dict(fake.get("Pod", "p").metadata.annotations) == {"note": "two"}
    assert podctl(*s, "annotate", "pods", "p", "note=x", "note-").err == \
        "error: can not both modify and remove an annotation in the same command: note\n"


# -- edit --------------------------------------------------------------------------------

def _editor(tmp_path: Path, *steps: tuple[str, str]) -> str:
    """An EDITOR that, on its n-th run, replaces steps[n][0] by steps[n][1] in the file and keeps
    a copy of what it was shown (shown-N.yaml)."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        f"steps = {list(steps)!r}\n"
        f"count = pathlib.Path({str(tmp_path / 'count')!r})\n"
        "n = int(count.read_text()) if count.exists() else 0\n"
        "count.write_text(str(n + 1))\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "text = path.read_text()\n"
        f"pathlib.Path({str(tmp_path)!r}, f'shown-{{n}}.yaml').write_text(text)\n"
        "old, new = steps[n]\n"
        "path.write_text(text.replace(old, new) if old else new)\n")
    return f"{sys.executable} {script}"


def test_edit_writes_the_change_back(fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pod(fake)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, ("image: busybox", "image: nginx")))
    r = podctl("-s", fake.address, "edit", "pod", "p")
    assert (r.code, r.out) == (0, "pod/p edited\n")
    assert fake.get("Pod", "p").spec.containers[0].image == "nginx"
    shown = (tmp_path / "shown-0.yaml").read_text()
    assert shown.startswith("# Please edit the object below. Lines beginning with a '#' will be ignored,\n")
    assert "kind: Pod" in shown


def test_edit_unchanged_is_cancelled_and_kube_editor_wins(fake: Fake, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _pod(fake)
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.setenv("KUBE_EDITOR", _editor(tmp_path, ("", "# only a comment\n"), ("nothing", "here")))
    r = podctl("-s", fake.address, "edit", "pod/p")
    assert (r.code, r.err) == (0, "Edit cancelled, saved file was empty.\n")
    r = podctl("-s", fake.address, "edit", "pod/p")
    assert (r.code, r.err, r.out) == (0, "Edit cancelled, no changes made.\n", "")


def test_invalid_edit_reopens_with_the_error_then_saves(fake: Fake, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _pod(fake)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, ("image: busybox", "image: busybox\n    bogus: [1"),
                                         ("bogus: [1", "ok: 1"),
                                         ("image: busybox\n    ok: 1", "image: nginx")))
    r = podctl("-s", fake.address, "edit", "pod", "p")
    assert r.out == "pod/p edited\n" and r.code == 0
    assert "# The edited file had a syntax error: error converting YAML to JSON: yaml: line " in \
        (tmp_path / "shown-1.yaml").read_text()
    assert 'unknown field "spec.containers[0].ok"' in (tmp_path / "shown-2.yaml").read_text()
    assert fake.get("Pod", "p").spec.containers[0].image == "nginx"


def test_invalid_edit_left_unchanged_keeps_a_copy(fake: Fake, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _pod(fake)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, ("restartPolicy: Always", "restartPolicy: Mybe"),
                                         ("nothing", "changed")))
    r = podctl("-s", fake.address, "edit", "pod", "p")
    assert r.code == 1
    lines = r.err.splitlines()
    assert lines[0] == 'error: pods "p" is invalid'
    assert lines[1].startswith('A copy of your changes has been stored to "') and "podctl-edit-" in lines[1]
    assert lines[2] == "error: Edit cancelled, no valid changes were saved."
    shown = (tmp_path / "shown-1.yaml").read_text()
    assert '# pods "p" was not valid:\n# * ' in shown and "Mybe" in shown
    assert fake.get("Pod", "p").spec.restart_policy == "Always"


# -- api-resources and explain -------------------------------------------------------------

def test_api_resources_lists_every_kind_by_group_with_short_names() -> None:
    lines = podctl("api-resources").out.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["leases"] == ["leases", "coordination.k8s.io/v1", "true", "Lease"]
    assert [line.split()[0] for line in lines[1:]].index("deployments") > list(rows).index("secrets")
    assert podctl("api-resources", "--namespaced=false", "-o", "name").out == "namespaces\nnodes\n"
    assert podctl("api-resources", "--api-group", "apps", "--no-headers").out.split()[0] == "deployments"


def test_explain_walks_the_schema_to_a_field() -> None:
    text = podctl("explain", "pod.spec.containers.livenessProbe").out
    assert text.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: livenessProbe <Probe>\n\n\nDESCRIPTION:\n")
    assert "  httpGet\t<HTTPGetAction>\n    <no description>\n" in text
    assert "  containers\t<[]Container>\n" in podctl("explain", "po.spec").out
    assert "  labels\t<map[string]string>\n" in podctl("explain", "deploy.metadata").out
    assert podctl("explain", "pod.spec.nope").err == 'error: field "nope" does not exist\n'
    assert podctl("explain", "widgets").err == 'error: the server doesn\'t have a resource type "widgets"\n'


# -- attach, cp, port-forward ----------------------------------------------------------------

def _running(fake: Fake, name: str = "p", *containers: str) -> None:
    pod = fake.running_pod(name, *containers)
    pod.status.phase = "Running"
    fake.call(fake.cluster.update_status(pod))


def test_attach_feeds_stdin_to_the_main_process(fake: Fake) -> None:
    _running(fake, "p", "app")
    r = podctl("-s", fake.address, "attach", "-i", "p", stdin="hello\n")
    assert (r.code, r.out) == (0, "attached to app\nhello\n")
    assert r.err == "If you don't see a command prompt, try pressing enter.\n"
    start = fake.agent.exec_inputs[0].start
    assert (start.stdin, list(start.command)) == (True, [])
    r = podctl("-s", fake.address, "attach", "-q", "-t", "p")
    assert (r.out, r.err) == ("attached to app\n", "")


def test_attach_to_a_completed_pod_is_refused(fake: Fake) -> None:
    pod = fake.running_pod("done")
    pod.status.phase = "Succeeded"
    fake.call(fake.cluster.update_status(pod))
    assert podctl("-s", fake.address, "attach", "done").err == \
        "error: cannot attach a container in a completed pod; current phase is Succeeded\n"


def test_cp_copies_a_file_and_a_directory_both_ways(fake: Fake, tmp_path: Path) -> None:
    _running(fake)
    s = ("-s", fake.address)
    local = tmp_path / "notes.txt"
    local.write_text("one\n")
    assert podctl(*s, "cp", str(local), "p:/tmp/copied.txt").code == 0
    assert fake.agent.files == {"/tmp/copied.txt": b"one\n"}
    fake.agent.files["/data/sub/b.txt"] = b"bee\n"  # /data is a directory: cp into it keeps the name
    assert podctl(*s, "cp", str(local), "p:/data").code == 0
    assert fake.agent.files["/data/notes.txt"] == b"one\n"
    back = tmp_path / "back.txt"
    r = podctl(*s, "cp", "p:/tmp/copied.txt", str(back))
    assert (r.code, r.out) == (0, "tar: removing leading '/' from member names\n")
    assert back.read_text() == "one\n"
    assert podctl(*s, "cp", "default/p:/data", str(tmp_path / "data")).code == 0
    assert (tmp_path / "data" / "sub" / "b.txt").read_text() == "bee\n"
    assert (tmp_path / "data" / "notes.txt").read_text() == "one\n"


def test_cp_errors_are_kubectls(fake: Fake, tmp_path: Path) -> None:
    _running(fake)
    s = ("-s", fake.address)
    assert podctl(*s, "cp", "a", "b").err == "error: one of src or dest must be a remote file specification\n"
    assert podctl(*s, "cp", "p:/a", "q:/b").err == "error: one of src or dest must be a local file specification\n"
    assert podctl(*s, "cp", str(tmp_path / "nope"), "p:/x").err == \
        f"error: {tmp_path / 'nope'} doesn't exist in local filesystem\n"
    r = podctl(*s, "cp", "p:/missing", str(tmp_path / "m"))
    assert r.code == 1 and "No such file or directory" in r.out


def test_port_forward_carries_connections_and_refuses_a_pod_not_running(fake: Fake) -> None:
    fake.running_pod("pending")
    r = podctl("-s", fake.address, "port-forward", "pod/pending", "80")
    assert r.err == "error: unable to forward port because pod is not running. Current status=Pending\n"
    _running(fake)
    with hello_server() as port:
        forward = subprocess.Popen([sys.executable, "-m", "podctl", "-s", fake.address, "port-forward", "p",
                                    f":{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert forward.stdout is not None
            first = forward.stdout.readline().split()
            assert first[:2] == ["Forwarding", "from"] and first[2].startswith("127.0.0.1:")
            assert first[3:] == ["->", str(port)]
            local = int(first[2].rsplit(":", 1)[1])
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/x", timeout=5) as response:
                assert response.read() == b"hello from /x\n"
            assert fake.agent.forwards[-1].port == port and fake.agent.forwards[-1].uid
        finally:
            forward.terminate()
            forward.communicate(timeout=10)


def test_port_forward_reports_a_refused_port_and_keeps_serving(fake: Fake) -> None:
    _running(fake)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    forward = subprocess.Popen([sys.executable, "-m", "podctl", "-s", fake.address, "port-forward", "p",
                                f"0:{dead}", "--address", "127.0.0.1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        local = int(forward.stdout.readline().split()[2].rsplit(":", 1)[1])
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", local), timeout=5) as conn:
                conn.settimeout(5)
                assert conn.recv(10) == b""  # closed: nothing listens in the pod
    finally:
        forward.terminate()
        _, err = forward.communicate(timeout=10)
    assert err.count(f"error: an error occurred forwarding {local} -> {dead}: error forwarding port {dead}") == 2
    assert "connection refused" in err


# -- top ---------------------------------------------------------------------------------------

def test_top_pod_and_node_from_the_agents_stats(fake: Fake) -> None:
    pod = fake.running_pod("p", "app", "side")
    node = fake.get("Node", "node1", "")
    node.status.allocatable.update({"cpu": "2", "memory": "4Gi"})
    fake.call(fake.cluster.update_status(node))
    stats = fake.agent.stats
    stats.node_cpu_cores, stats.node_memory_working_set_bytes = 0.5, 1024 * 1024 * 1024
    for name, cpu, memory in (("app", 0.0101, 64 * 1024 * 1024), ("side", 0.002, 16 * 1024 * 1024)):
        stats.containers.add(pod_namespace="default", pod_name="p", pod_uid=pod.metadata.uid, container=name,
                             cpu_cores=cpu, memory_working_set_bytes=memory)
    s = ("-s", fake.address)
    assert podctl(*s, "top", "pod").out.splitlines() == ["NAME   CPU(cores)   MEMORY(bytes)",
                                                         "p      13m          80Mi"]
    assert [line.split() for line in podctl(*s, "top", "pod", "p", "--containers").out.splitlines()] == [
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], ["p", "app", "11m", "64Mi"], ["p", "side", "2m", "16Mi"]]
    assert [line.split() for line in podctl(*s, "top", "node").out.splitlines()] == [
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], ["node1", "500m", "25%", "1024Mi", "25%"]]
    assert podctl(*s, "top", "pod", "gone").err == \
        'Error from server (NotFound): podmetrics.metrics.k8s.io "default/gone" not found\n'
    assert podctl(*s, "top", "pod", "-n", "other").err == "No resources found in other namespace.\n"
