"""test/e2e/common/storage/configmap_volume.go: "[sig-storage] ConfigMap" (volumes)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.conformance._framework import BUSYBOX, Framework, upstream
from tests.conformance._volumes import DATA, file_mode_regex, mounttest_pod

pytestmark = pytest.mark.conformance

MOUNT = "/etc/configmap-volume"


def cm_volume(name: str, **source: Any) -> dict[str, Any]:
    return {"name": "configmap-volume", "configMap": {"name": name, **source}}


async def without_mappings(f: Framework, as_user: bool, default_mode: int | None) -> None:
    """Upstream's doConfigMapE2EWithoutMappings."""
    name = f"configmap-test-volume-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": DATA})
    source = {"defaultMode": default_mode} if default_mode is not None else {}
    pod = mounttest_pod("pod-configmaps", cm_volume(name, **source), MOUNT, f"--file_content={MOUNT}/data-1",
                        f"--file_mode={MOUNT}/data-1", as_user=as_user)
    await f.test_container_output(pod, 0, [f'content of file "{MOUNT}/data-1": value-1',
                                           file_mode_regex(f"{MOUNT}/data-1", default_mode)])


async def with_mappings(f: Framework, as_user: bool, item_mode: int | None) -> None:
    """Upstream's doConfigMapE2EWithMappings."""
    name = f"configmap-test-volume-map-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": DATA})
    item: dict[str, Any] = {"key": "data-2", "path": "path/to/data-2"}
    if item_mode is not None:
        item["mode"] = item_mode
    path = f"{MOUNT}/path/to/data-2"
    pod = mounttest_pod("pod-configmaps", cm_volume(name, items=[item]), MOUNT, f"--file_content={path}",
                        f"--file_mode={path}", as_user=as_user)
    await f.test_container_output(pod, 0, [f'content of file "{path}": value-2', file_mode_regex(path, item_mode)])


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume [NodeConformance]"."""
    await without_mappings(f, False, None)


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume with defaultMode set "
          "[LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_default_mode_set(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume with defaultMode set [LinuxOnly]"."""
    await without_mappings(f, False, 0o400)


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume as non-root "
          "[NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_as_non_root(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume as non-root [NodeConformance]"."""
    await without_mappings(f, True, None)


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume with mappings "
          "[NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_mappings(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume with mappings [NodeConformance]"."""
    await with_mappings(f, False, None)


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume with mappings and Item mode "
          "set [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_mappings_and_item_mode_set(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume with mappings and Item mode set
    [LinuxOnly]"."""
    await with_mappings(f, False, 0o400)


@upstream("storage/configmap_volume.go", "should be consumable from pods in volume with mappings as non-root "
          "[NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_mappings_as_non_root(f: Framework) -> None:
    """configmap_volume.go: "should be consumable from pods in volume with mappings as non-root"."""
    await with_mappings(f, True, None)


@upstream("storage/configmap_volume.go", "binary data should be reflected in volume [NodeConformance] "
          "[Conformance]")
async def test_binary_data_should_be_reflected_in_volume(f: Framework) -> None:
    """configmap_volume.go: "binary data should be reflected in volume [NodeConformance]"."""
    name = f"configmap-test-upd-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": {"data-1": "value-1"},
                                 "binaryData": {"dump.bin": base64.b64encode(bytes(
                                     [0xde, 0xca, 0xfe, 0xba, 0xd0, 0xfe, 0xff])).decode()}})
    pod = mounttest_pod("pod-configmaps", cm_volume(name), MOUNT, "--break_on_expected_content=false",
                        "--retry_time=120", f"--file_content_in_loop={MOUNT}/data-1")
    pod["spec"]["containers"].append({
        "name": "configmap-volume-binary-test", "image": BUSYBOX, "command": ["hexdump", "-C", f"{MOUNT}/dump.bin"],
        "volumeMounts": [{"name": "configmap-volume", "mountPath": MOUNT, "readOnly": True}]})
    pname = (await f.create_pod(pod)).metadata.name
    await f.wait_running(pname)
    await f.eventually(lambda: _contains(f, pname, "agnhost-container", "value-1"), 60, "the text data")
    await f.eventually(lambda: _contains(f, pname, "configmap-volume-binary-test", "de ca fe ba d0 fe ff"), 60,
                       "the binary data")


async def _contains(f: Framework, pod: str, container: str, text: str) -> bool:
    return text in await f.logs(pod, container)


@upstream("storage/configmap_volume.go", "updates should be reflected in volume [NodeConformance] [Conformance]")
async def test_updates_should_be_reflected_in_volume(f: Framework) -> None:
    """configmap_volume.go: "updates should be reflected in volume [NodeConformance]"."""
    from podlab.v1 import objects_pb2 as v1

    name = f"configmap-test-upd-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": {"data-1": "value-1"}})
    pod = mounttest_pod("pod-configmaps", cm_volume(name), MOUNT, "--break_on_expected_content=false",
                        "--retry_time=120", f"--file_content_in_loop={MOUNT}/data-1")
    pname = (await f.create_pod(pod)).metadata.name
    await f.wait_running(pname)
    await f.eventually(lambda: _contains(f, pname, "agnhost-container", "value-1"), 60, "value-1")
    cm = await f.client.get(v1.ConfigMap, name, f.namespace)
    cm.data["data-1"] = "value-2"
    await f.client.update(cm)
    await f.eventually(lambda: _contains(f, pname, "agnhost-container", "value-2"), 90, "value-2 in the volume")


async def _never_running(f: Framework, pod: dict[str, Any]) -> None:
    """Upstream's WaitForPodNameRunningInNamespace must fail (it waits minutes; 15 s here):
    the pod stays Pending, its container ContainerCreating."""
    name = (await f.create_pod(pod)).metadata.name
    with pytest.raises(AssertionError):
        await f.wait_running(name, timeout=15)
    got = await f.get_pod(name)
    assert got.status.phase == "Pending"
    assert got.status.container_statuses[0].state.waiting.reason == "ContainerCreating"


@upstream("storage/configmap_volume.go", "Should fail non-optional pod creation due to configMap object does not "
          "exist [Slow]")
async def test_should_fail_non_optional_pod_creation_due_to_configmap_object_does_not_exist(f: Framework) -> None:
    """configmap_volume.go: "Should fail non-optional pod creation due to configMap object does not exist
    [Slow]"."""
    name = f"cm-test-opt-create-{uuid.uuid4()}"
    vol = {"name": "createcm-volume", "configMap": {"name": name, "optional": False}}
    await _never_running(f, mounttest_pod("pod-configmaps", vol, "/etc/configmap-volumes/create",
                                          "--break_on_expected_content=false", "--retry_time=120",
                                          "--file_content_in_loop=/etc/configmap-volumes/create/data-1"))


@upstream("storage/configmap_volume.go", "Should fail non-optional pod creation due to the key in the configMap "
          "object does not exist [Slow]")
async def test_should_fail_non_optional_pod_creation_due_to_the_key_does_not_exist(f: Framework) -> None:
    """configmap_volume.go: "Should fail non-optional pod creation due to the key in the configMap object
    does not exist [Slow]"."""
    name = f"cm-test-opt-create-{uuid.uuid4()}"
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": DATA})
    vol = {"name": "createcm-volume", "configMap": {"name": name, "optional": False,
                                                   "items": [{"key": "data-4", "path": "path/to/data-4"}]}}
    await _never_running(f, mounttest_pod("pod-configmaps", vol, "/etc/configmap-volumes/create",
                                          "--break_on_expected_content=false", "--retry_time=120",
                                          "--file_content_in_loop=/etc/configmap-volumes/create/data-1"))

