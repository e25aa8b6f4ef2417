"""test/e2e/common/storage/downwardapi_volume.go: "[sig-storage] Downward API volume"."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.conformance._framework import AGNHOST, Framework, upstream

pytestmark = pytest.mark.conformance


def base_pod(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
             source: str = "downwardAPI") -> dict[str, Any]:
    """Upstream's downwardAPIVolumeBasePod (`source` "projected" for the projected twin)."""
    items: list[dict[str, Any]] = [{"path": "podname", "fieldRef": {"apiVersion": "v1",
                                                                     "fieldPath": "metadata.name"}}]
    for path, res in (("cpu_limit", "limits.cpu"), ("cpu_request", "requests.cpu"),
                      ("memory_limit", "limits.memory"), ("memory_request", "requests.memory")):
        items.append({"path": path, "resourceFieldRef": {"containerName": "client-container", "resource": res}})
    if labels:
        items.append({"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}})
    if annotations:
        items.append({"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}})
    volume: dict[str, Any] = {"name": "podinfo"}
    volume.update({"downwardAPI": {"items": items}} if source == "downwardAPI"
                  else {"projected": {"sources": [{"downwardAPI": {"items": items}}]}})
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"volumes": [volume], "restartPolicy": "Never"}}


def client(args: list[str], resources: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "client-container", "image": AGNHOST, "args": ["mounttest", *args],
                         "volumeMounts": [{"name": "podinfo", "mountPath": "/etc/podinfo"}]}
    if resources:
        c["resources"] = {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "1250m", "memory": "64Mi"}}
    return c


def simple_pod(name: str, path: str, source: str = "downwardAPI") -> dict[str, Any]:
    pod = base_pod(name, source=source)
    pod["spec"]["containers"] = [client([f"--file_content={path}"])]
    return pod


def mode_pod(name: str, path: str, item_mode: int | None, default_mode: int | None,
             source: str = "downwardAPI") -> dict[str, Any]:
    pod = base_pod(name, source=source)
    pod["spec"]["containers"] = [client([f"--file_mode={path}"])]
    vol = pod["spec"]["volumes"][0]
    src = vol["downwardAPI"] if source == "downwardAPI" else vol["projected"]
    items = src["items"] if source == "downwardAPI" else src["sources"][0]["downwardAPI"]["items"]
    if item_mode is not None:
        items[0]["mode"] = item_mode
    if default_mode is not None:
        src["defaultMode"] = default_mode
    return pod


def resources_pod(name: str, path: str, limits: bool = True, source: str = "downwardAPI") -> dict[str, Any]:
    pod = base_pod(name, source=source)
    pod["spec"]["containers"] = [client([f"--file_content={path}"], resources=limits)]
    return pod


def update_pod(name: str, labels: dict[str, str], annotations: dict[str, str], path: str,
               source: str = "downwardAPI") -> dict[str, Any]:
    pod = base_pod(name, labels, annotations, source=source)
    pod["spec"]["containers"] = [client(["--break_on_expected_content=false", "--retry_time=120",
                                         f"--file_content_in_loop={path}"])]
    return pod


def dapi_name() -> str:
    return f"downwardapi-volume-{uuid.uuid4()}"


async def check_update(f: Framework, pod: dict[str, Any], first: str, change: Any, then: str) -> None:
    name = (await f.create_pod(pod)).metadata.name
    await f.wait_running(name)

    async def contains(text: str) -> bool:
        return text in await f.logs(name, "client-container")
    await f.eventually(lambda: contains(first), 60, repr(first))
    await f.update_pod(name, change)
    await f.eventually(lambda: contains(then), 60, repr(then))


DAPI = "storage/downwardapi_volume.go"


@upstream(DAPI, "should provide podname only [NodeConformance] [Conformance]")
async def test_should_provide_podname_only(f: Framework) -> None:
    """downwardapi_volume.go: "should provide podname only [NodeConformance]"."""
    name = dapi_name()
    await f.test_container_output(simple_pod(name, "/etc/podinfo/podname"), 0, [f"{name}\n"])


@upstream(DAPI, "should set DefaultMode on files [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_set_default_mode_on_files(f: Framework) -> None:
    """downwardapi_volume.go: "should set DefaultMode on files [LinuxOnly] [NodeConformance]"."""
    await f.test_container_output(mode_pod(dapi_name(), "/etc/podinfo/podname", None, 0o400), 0,
                                  ['mode of file "/etc/podinfo/podname": -r--------'])


@upstream(DAPI, "should set mode on item file [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_set_mode_on_item_file(f: Framework) -> None:
    """downwardapi_volume.go: "should set mode on item file [LinuxOnly] [NodeConformance]"."""
    await f.test_container_output(mode_pod(dapi_name(), "/etc/podinfo/podname", 0o400, None), 0,
                                  ['mode of file "/etc/podinfo/podname": -r--------'])


@upstream(DAPI, "should update labels on modification [NodeConformance] [Conformance]")
async def test_should_update_labels_on_modification(f: Framework) -> None:
    """downwardapi_volume.go: "should update labels on modification [NodeConformance]"."""
    await check_update(f, update_pod(f"labelsupdate{uuid.uuid4()}", {"key1": "value1", "key2": "value2"}, {},
                                     "/etc/podinfo/labels"),
                       'key1="value1"\n', lambda p: p.metadata.labels.__setitem__("key3", "value3"),
                       'key3="value3"\n')


@upstream(DAPI, "should update annotations on modification [NodeConformance] [Conformance]")
async def test_should_update_annotations_on_modification(f: Framework) -> None:
    """downwardapi_volume.go: "should update annotations on modification [NodeConformance]"."""
    await check_update(f, update_pod(f"annotationupdate{uuid.uuid4()}", {}, {"builder": "bar"},
                                     "/etc/podinfo/annotations"),
                       'builder="bar"\n', lambda p: p.metadata.annotations.__setitem__("builder", "foo"),
                       'builder="foo"\n')


@pytest.mark.parametrize(("path", "want"), [
    pytest.param("cpu_limit", "2\n", id="cpu-limit",
                 marks=upstream(DAPI, "should provide container's cpu limit [NodeConformance] [Conformance]")),
    pytest.param("memory_limit", "67108864\n", id="memory-limit",
                 marks=upstream(DAPI, "should provide container's memory limit [NodeConformance] [Conformance]")),
    pytest.param("cpu_request", "1\n", id="cpu-request",
                 marks=upstream(DAPI, "should provide container's cpu request [NodeConformance] [Conformance]")),
    pytest.param("memory_request", "33554432\n", id="memory-request",
                 marks=upstream(DAPI, "should provide container's memory request [NodeConformance] "
                                "[Conformance]")),
])
async def test_should_provide_containers_resource(f: Framework, path: str, want: str) -> None:
    """downwardapi_volume.go: "should provide container's cpu limit", "... memory limit", "... cpu
    request", "... memory request" [NodeConformance] (ConformanceIt, four tests)."""
    await f.test_container_output(resources_pod(dapi_name(), f"/etc/podinfo/{path}"), 0, [want])


@pytest.mark.parametrize("path", [
    pytest.param("cpu_limit", id="cpu", marks=upstream(
        DAPI, "should provide node allocatable (cpu) as default cpu limit if the limit is not set "
        "[NodeConformance] [Conformance]")),
    pytest.param("memory_limit", id="memory", marks=upstream(
        DAPI, "should provide node allocatable (memory) as default memory limit if the limit is not set "
        "[NodeConformance] [Conformance]")),
])
async def test_should_provide_node_allocatable_as_default_limit(f: Framework, path: str) -> None:
    """downwardapi_volume.go: "should provide node allocatable (cpu|memory) as default (cpu|memory) limit
    if the limit is not set [NodeConformance]" (ConformanceIt, two tests)."""
    await f.test_container_output(resources_pod(dapi_name(), f"/etc/podinfo/{path}", limits=False), 0,
                                  [re.compile("[1-9]")])
