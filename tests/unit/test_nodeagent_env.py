"""The kubernetes service's variables in every container's environment, as the kubelet sets them."""

from __future__ import annotations

import pytest

from nodeagent.env import build_env, service_env
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit


async def _none(kind: str, namespace: str, name: str) -> object | None:
    return None


def test_service_env_has_kubernetes_names_and_tcp_url_forms() -> None:
    assert service_env("10.244.255.10:443") == {
        "KUBERNETES_SERVICE_HOST": "10.244.255.10", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.244.255.10:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.244.255.10:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.244.255.10"}
    assert service_env("") == {}


async def test_the_containers_own_env_wins_and_may_refer_to_the_service_variables() -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p", namespace="default"))
    container = pod.spec.containers.add(name="c", image="busybox")
    container.env.add(name="KUBERNETES_SERVICE_PORT", value="8443")
    container.env.add(name="API", value="https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)")
    env = await build_env(pod, container, _none, "10.244.0.5", "127.0.0.1", {}, service_env("10.0.0.1:443"))
    assert env["KUBERNETES_SERVICE_PORT"] == "8443" and env["API"] == "https://10.0.0.1:8443"
    assert env["KUBERNETES_PORT"] == "tcp://10.0.0.1:443" and env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"
