"""test/e2e/common/node/configmap.go ("[sig-node] ConfigMap") and secrets.go ("[sig-node] Secrets"):
ConfigMaps and Secrets consumed as environment variables, and their API checks."""

from __future__ import annotations

import base64
import uuid

import pytest

from podlab import errors
from podlab.v1 import objects_pb2 as v1
from tests.conformance._framework import BUSYBOX, Framework, upstream

pytestmark = pytest.mark.conformance

DATA = {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def new_config_map(f: Framework, name: str) -> None:
    await f.create("ConfigMap", {"metadata": {"name": name}, "data": DATA})


async def secret_for_test(f: Framework, name: str) -> None:
    await f.create("Secret", {"metadata": {"name": name},
                              "data": {k: b64(v + "\n") for k, v in DATA.items()}})


def env_pod(prefix: str, container: str, **fields: object) -> dict[str, object]:
    return {"metadata": {"name": f"{prefix}-{uuid.uuid4()}"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": container, "image": BUSYBOX, "command": ["sh", "-c", "env"], **fields}]}}


@upstream("node/configmap.go", "should be consumable via environment variable [NodeConformance] [Conformance]")
async def test_configmap_should_be_consumable_via_environment_variable(f: Framework) -> None:
    """configmap.go: "should be consumable via environment variable [NodeConformance]"."""
    name = f"configmap-test-{uuid.uuid4()}"
    await new_config_map(f, name)
    await f.test_container_output(env_pod("pod-configmaps", "env-test", env=[
        {"name": "CONFIG_DATA_1", "valueFrom": {"configMapKeyRef": {"name": name, "key": "data-1"}}}]),
        0, ["CONFIG_DATA_1=value-1"])


@upstream("node/configmap.go", "should be consumable via the environment [NodeConformance] [Conformance]")
async def test_configmap_should_be_consumable_via_the_environment(f: Framework) -> None:
    """configmap.go: "should be consumable via the environment [NodeConformance]" (envFrom, with and
    without prefix "p-"; issue #18)."""
    name = f"configmap-test-{uuid.uuid4()}"
    await new_config_map(f, name)
    await f.test_container_output(env_pod("pod-configmaps", "env-test", envFrom=[
        {"configMapRef": {"name": name}}, {"prefix": "p-", "configMapRef": {"name": name}}]), 0,
        ["data-1=value-1", "data-2=value-2", "data-3=value-3",
         "p-data-1=value-1", "p-data-2=value-2", "p-data-3=value-3"])


@upstream("node/configmap.go", "should fail to create ConfigMap with empty key [Conformance]")
async def test_should_fail_to_create_configmap_with_empty_key(f: Framework) -> None:
    """configmap.go: "should fail to create ConfigMap with empty key" (ConformanceIt)."""
    with pytest.raises(errors.Invalid):
        await f.create("ConfigMap", {"metadata": {"name": f"configmap-test-emptykey-{uuid.uuid4()}"},
                                     "data": {"": "value-1"}})


@upstream("node/configmap.go", "should update ConfigMap successfully")
async def test_should_update_configmap_successfully(f: Framework) -> None:
    """configmap.go: "should update ConfigMap successfully"."""
    name = f"configmap-test-{uuid.uuid4()}"
    await new_config_map(f, name)
    cm = await f.client.get(v1.ConfigMap, name, f.namespace)
    cm.data.clear()
    cm.data["data"] = "value"
    await f.client.update(cm)
    got = await f.client.get(v1.ConfigMap, name, f.namespace)
    assert dict(got.data) == {"data": "value"}


@upstream("node/secrets.go", "should be consumable from pods in env vars [NodeConformance] [Conformance]")
async def test_secret_should_be_consumable_from_pods_in_env_vars(f: Framework) -> None:
    """secrets.go: "should be consumable from pods in env vars [NodeConformance]"."""
    name = f"secret-test-{uuid.uuid4()}"
    await secret_for_test(f, name)
    await f.test_container_output(env_pod("pod-secrets", "secret-env-test", env=[
        {"name": "SECRET_DATA", "valueFrom": {"secretKeyRef": {"name": name, "key": "data-1"}}}]),
        0, ["SECRET_DATA=value-1"])


@upstream("node/secrets.go", "should be consumable via the environment [NodeConformance] [Conformance]")
async def test_secret_should_be_consumable_via_the_environment(f: Framework) -> None:
    """secrets.go: "should be consumable via the environment [NodeConformance]"."""
    name = f"secret-test-{uuid.uuid4()}"
    await secret_for_test(f, name)
    await f.test_container_output(env_pod("pod-configmaps", "env-test", envFrom=[
        {"secretRef": {"name": name}}, {"prefix": "p-", "secretRef": {"name": name}}]), 0,
        ["data-1=value-1", "data-2=value-2", "data-3=value-3",
         "p-data-1=value-1", "p-data-2=value-2", "p-data-3=value-3"])


@upstream("node/secrets.go", "should fail to create secret due to empty secret key [Conformance]")
async def test_should_fail_to_create_secret_due_to_empty_secret_key(f: Framework) -> None:
    """secrets.go: "should fail to create secret due to empty secret key" (ConformanceIt)."""
    with pytest.raises(errors.Invalid):
        await f.create("Secret", {"metadata": {"name": f"secret-emptykey-test-{uuid.uuid4()}"},
                                  "data": {"": b64("value-1\n")}})
