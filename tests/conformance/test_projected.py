"""test/e2e/common/storage/projected_combined.go, projected_downwardapi.go, projected_configmap.go and
projected_secret.go: "[sig-storage] Projected ..." (the same pods as their plain-volume twins, with the
source inside a projected volume)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from podlab.v1 import objects_pb2 as v1
from tests.conformance._framework import BUSYBOX, Framework, upstream
from tests.conformance._volumes import DATA, b64, file_mode_regex, mounttest_pod
from tests.conformance.test_downwardapi_volume import check_update, resources_pod, simple_pod, update_pod

pytestmark = pytest.mark.conformance


@upstream("storage/projected_combined.go", "should project all components that make up the projection API "
          "[Projection] [NodeConformance] [Conformance]")
async def test_should_project_all_components_that_make_up_the_projection_api(f: Framework) -> None:
    """projected_combined.go: "should project all components that make up the projection API
    [Projection][NodeConformance]" (ConformanceIt)."""
    pod_name = f"projected-volume-{uuid.uuid4()}"
    secret = f"secret-projected-all-test-volume-{uuid.uuid4()}"
    cm = f"configmap-projected-all-test-volume-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": cm}, "data": {"configmap-data": "configmap-value-1"}})
    await f.create("Secret", {"metadata": {"name": secret}, "data": {"secret-data": b64("secret-value-1")}})
    await f.test_container_output({"metadata": {"name": pod_name}, "spec": {
        "restartPolicy": "Never",
        "volumes": [{"name": "podinfo", "projected": {"sources": [
            {"downwardAPI": {"items": [{"path": "podname", "fieldRef": {"apiVersion": "v1",
                                                                         "fieldPath": "metadata.name"}}]}},
            {"secret": {"name": secret}}, {"configMap": {"name": cm}}]}}],
        "containers": [{"name": "projected-all-volume-test", "image": BUSYBOX,
                        "command": ["sh", "-c", "cat /all/podname && cat /all/secret-data && cat /all/configmap-data"],
                        "volumeMounts": [{"name": "podinfo", "mountPath": "/all"}]}]}},
        0, [pod_name, "secret-value-1", "configmap-value-1"])


PDAPI = "storage/projected_downwardapi.go"


@upstream(PDAPI, "should provide podname only [NodeConformance] [Conformance]")
async def test_projected_downward_api_should_provide_podname_only(f: Framework) -> None:
    """projected_downwardapi.go: "should provide podname only [NodeConformance]"."""
    name = f"downwardapi-volume-{uuid.uuid4()}"
    await f.test_container_output(simple_pod(name, "/etc/podinfo/podname", "projected"), 0, [f"{name}\n"])


@upstream(PDAPI, "should provide container's cpu limit [NodeConformance] [Conformance]")
async def test_projected_downward_api_should_provide_containers_cpu_limit(f: Framework) -> None:
    """projected_downwardapi.go: "should provide container's cpu limit [NodeConformance]"."""
    await f.test_container_output(resources_pod(f"downwardapi-volume-{uuid.uuid4()}", "/etc/podinfo/cpu_limit",
                                                source="projected"), 0, ["2\n"])


@upstream(PDAPI, "should update labels on modification [NodeConformance] [Conformance]")
async def test_projected_downward_api_should_update_labels_on_modification(f: Framework) -> None:
    """projected_downwardapi.go: "should update labels on modification [NodeConformance]"."""
    await check_update(f, update_pod(f"labelsupdate{uuid.uuid4()}", {"key1": "value1", "key2": "value2"}, {},
                                     "/etc/podinfo/labels", "projected"),
                       'key1="value1"\n', lambda p: p.metadata.labels.__setitem__("key3", "value3"),
                       'key3="value3"\n')


def projected(volume: str, kind: str, name: str, **source: Any) -> dict[str, Any]:
    key = "configMap" if kind == "ConfigMap" else "secret"
    return {"name": volume, "projected": {"sources": [{key: {"name": name, **source}}]}}


@upstream("storage/projected_configmap.go", "should be consumable from pods in volume [NodeConformance] "
          "[Conformance]")
async def test_projected_configmap_should_be_consumable_from_pods_in_volume(f: Framework) -> None:
    """projected_configmap.go: "should be consumable from pods in volume [NodeConformance]"."""
    name = f"projected-configmap-test-volume-{uuid.uuid4()}"
    mount = "/etc/projected-configmap-volume"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": DATA})
    await f.test_container_output(mounttest_pod(
        "pod-projected-configmaps", projected("projected-configmap-volume", "ConfigMap", name), mount,
        f"--file_content={mount}/data-1", f"--file_mode={mount}/data-1"), 0,
        [f'content of file "{mount}/data-1": value-1', file_mode_regex(f"{mount}/data-1", None)])


@upstream("storage/projected_configmap.go", "updates should be reflected in volume [NodeConformance] "
          "[Conformance]")
async def test_projected_configmap_updates_should_be_reflected_in_volume(f: Framework) -> None:
    """projected_configmap.go: "updates should be reflected in volume [NodeConformance]"."""
    name = f"projected-configmap-test-upd-{uuid.uuid4()}"
    mount = "/etc/projected-configmap-volume"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": {"data-1": "value-1"}})
    pod = mounttest_pod("pod-projected-configmaps", projected("projected-configmap-volume", "ConfigMap", name),
                        mount, "--break_on_expected_content=false", "--retry_time=120",
                        f"--file_content_in_loop={mount}/data-1")
    pname = (await f.create_pod(pod)).metadata.name
    await f.wait_running(pname)

    async def contains(text: str) -> bool:
        return text in await f.logs(pname, "agnhost-container")
    await f.eventually(lambda: contains("value-1"), 60, "value-1")
    cm = await f.client.get(v1.ConfigMap, name, f.namespace)
    cm.data["data-1"] = "value-2"
    await f.client.update(cm)
    await f.eventually(lambda: contains("value-2"), 90, "value-2 in the volume")


@upstream("storage/projected_secret.go", "should be consumable from pods in volume [NodeConformance] "
          "[Conformance]")
async def test_projected_secret_should_be_consumable_from_pods_in_volume(f: Framework) -> None:
    """projected_secret.go: "should be consumable from pods in volume [NodeConformance]"."""
    name = f"projected-secret-test-{uuid.uuid4()}"
    mount = "/etc/projected-secret-volume"
    await f.create("Secret", {"metadata": {"name": name}, "data": {k: b64(v) for k, v in DATA.items()}})
    await f.test_container_output(mounttest_pod(
        "pod-projected-secrets", projected("projected-secret-volume", "Secret", name), mount,
        f"--file_content={mount}/data-1", f"--file_mode={mount}/data-1"), 0,
        [f'content of file "{mount}/data-1": value-1', file_mode_regex(f"{mount}/data-1", None)])
