"""The official Python client (`kubernetes`, pinned in the dev extra) against a real control plane over HTTPS,
with the kubeconfig podlab writes: list/watch resumed from a resourceVersion, create/patch/delete, the scale
subresource, errors as ApiExceptions, and on a running (sim) cluster the log and exec streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as kubeconfig
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from podlab.pki import ClusterPki
from tests.integration.conftest import wipe
from tests.support.procs import ControlPlane, Etcd


def api_client(control_plane: ControlPlane, home: Path) -> k8s.ApiClient:
    path = ClusterPki(control_plane.pki_dir).write_kubeconfig(home / "kubeconfig", control_plane.https_url)
    return kubeconfig.new_client_from_config(str(path))


@pytest.fixture
def core(etcd: Etcd, control_plane: ControlPlane, tmp_path: Path) -> Iterator[k8s.CoreV1Api]:
    wipe(etcd.endpoint)
    with api_client(control_plane, tmp_path) as api:
        yield k8s.CoreV1Api(api)
    wipe(etcd.endpoint)


def _pod(name: str, command: str = "sleep 3600") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", command]}]}}


def test_create_list_patch_delete_and_a_watch_resumed_from_the_lists_resource_version(core: k8s.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", _pod("web"))
    assert isinstance(created, k8s.V1Pod) and created.metadata.uid and created.spec.restart_policy == "Always"
    listed = core.list_namespaced_pod("default", label_selector="app=web")
    assert [p.metadata.name for p in listed.items] == ["web"]
    resume_from = listed.metadata.resource_version
    patched = core.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "front"}
    core.delete_namespaced_pod("web", "default", grace_period_seconds=0)
    events = []
    for event in watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=resume_from,
                                      timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name, dict(event["object"].metadata.labels)))
        if event["type"] == "DELETED":
            break
    assert events[0] == ("MODIFIED", "web", {"app": "web", "tier": "front"}) and events[-1][0] == "DELETED"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("web", "default")
    assert missing.value.status == 404 and '"reason":"NotFound"' in missing.value.body.replace(" ", "")


def test_a_deployment_through_apps_v1_and_its_scale_subresource(core: k8s.CoreV1Api) -> None:
    apps = k8s.AppsV1Api(core.api_client)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}
    apps.create_namespaced_deployment("default", body)
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert isinstance(scale, k8s.V1Scale) and scale.spec.replicas == 4 and scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4
    apps.delete_namespaced_deployment("web", "default")


async def test_log_and_exec_streams_on_a_running_cluster(make_cluster, tmp_path: Path) -> None:
    cluster, _ = await make_cluster(1)
    with api_client(cluster.control_plane, tmp_path) as api:
        core = k8s.CoreV1Api(api)
        core.create_namespaced_pod("default", _pod("box"))
        deadline = time.monotonic() + 30
        while core.read_namespaced_pod("box", "default").status.phase != "Running":
            assert time.monotonic() < deadline, "pod box never ran"
            time.sleep(0.2)
        assert core.read_namespaced_pod_log("box", "default", container="app") == ""  # sim containers log nothing
        with pytest.raises(ApiException) as wrong:
            core.read_namespaced_pod_log("box", "default", container="nope")
        assert wrong.value.status == 400
        # stdin attached: the sim runtime's interactive exec runs the script (its one-shot exec is the probes').
        session = stream(core.connect_get_namespaced_pod_exec, "box", "default",
                         command=["sh", "-c", "echo out; echo err >&2; exit 3"],
                         stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
        session.run_forever(timeout=20)
        assert (session.read_stdout(), session.read_stderr(), session.returncode) == ("out\n", "err\n", 3)
        session.close()
