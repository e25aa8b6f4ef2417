"""apply_defaults fills what the Kubernetes API server fills, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.admission import CREATE, Attributes, DefaultTolerationSeconds
from controlplane.defaults import image_pull_policy
from podlab.manifest import load_manifests
from podlab.v1 import objects_pb2 as v1
from tests.support.rules import apply_defaults

pytestmark = pytest.mark.unit

MANIFESTS = Path(__file__).parent / "manifests"


def _load(name: str) -> list:
    objs = load_manifests((MANIFESTS / name).read_text())
    for obj in objs:
        apply_defaults(obj)
    return objs


def test_pod_spec_defaults() -> None:
    (pod,) = _load("seed003-hello-world-pod.yaml")
    spec = pod.spec
    assert pod.metadata.namespace == "default"
    assert spec.restart_policy == "OnFailure"  # given, so kept
    assert spec.termination_grace_period_seconds == 30
    assert spec.dns_policy == "ClusterFirst"
    assert spec.scheduler_name == "default-scheduler"
    assert spec.service_account_name == "default"
    assert spec.enable_service_links is True
    c = spec.containers[0]
    assert c.image_pull_policy == "IfNotPresent"
    assert c.termination_message_path == "/dev/termination-log"
    assert c.termination_message_policy == "File"
    assert not spec.tolerations  # node-loss tolerations are the API server's to add


def test_restart_policy_defaults_to_always() -> None:
    (pod,) = _load("seed000-pod-network.yml")
    assert pod.spec.restart_policy == "Always"


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:1.0", "IfNotPresent"),
    ("nginx@sha256:abcd", "IfNotPresent"), ("ubuntu:14.04", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_init_containers_get_container_defaults() -> None:
    (pod,) = _load("k8s-sidecar.yaml")
    init = pod.spec.init_containers[0]
    assert init.image_pull_policy == "Always"
    assert init.termination_message_policy == "File"


def test_probe_and_port_defaults() -> None:
    (pod,) = _load("k8s-startup-probe.yaml")
    c = pod.spec.containers[0]
    assert c.ports[0].protocol == "TCP"
    for probe in (c.liveness_probe, c.startup_probe):
        assert probe.timeout_seconds == 1
        assert probe.success_threshold == 1
        assert probe.http_get.scheme == "HTTP"
    assert c.liveness_probe.failure_threshold == 1  # given
    assert c.startup_probe.failure_threshold == 30  # given
    (exec_pod,) = _load("k8s-liveness-exec-flow.yaml")
    probe = exec_pod.spec.containers[0].liveness_probe
    assert (probe.period_seconds, probe.failure_threshold) == (5, 3)


def test_http_get_path_defaults_to_root() -> None:
    (pod,) = _load("k8s-host-aliases.yaml")
    assert pod.spec.containers[0].lifecycle.pre_stop.http_get.path == "/shutdown"
    (json_pod,) = _load("k8s-pod.json")
    assert json_pod.spec.containers[0].readiness_probe.http_get.path == "/"


def test_volume_default_modes_and_empty_dir() -> None:
    (_, pod) = _load("k8s-secret-volume.yaml")
    assert pod.spec.volumes[0].secret.default_mode == 420
    (dapi,) = _load("k8s-downwardapi-volume.yaml")
    assert dapi.spec.volumes[0].downward_api.default_mode == 420
    (proj,) = _load("k8s-projected-volume.yaml")
    assert proj.spec.volumes[0].projected.default_mode == 420
    (shared,) = _load("seed000-pod-volume.yml")
    assert shared.spec.volumes[0].HasField("empty_dir")
    (wr,) = _load("seed003-hello-world-wr.yaml")
    assert wr.spec.volumes[0].host_path.type == ""
    bare = v1.Pod()
    bare.spec.volumes.add(name="scratch")
    apply_defaults(bare)
    assert bare.spec.volumes[0].HasField("empty_dir")


def test_limits_stand_in_for_missing_requests() -> None:
    (pod,) = _load("k8s-pod.json")
    assert dict(pod.spec.containers[0].resources.requests) == {"cpu": "500m", "memory": "128Mi"}


def test_host_network_pod_host_port_is_its_container_port() -> None:
    (pod,) = _load("seed003-my-app-host-network.yaml")
    assert pod.spec.containers[0].ports[0].host_port == 80


def test_secret_type_defaults_to_opaque_and_cluster_kinds_get_no_namespace() -> None:
    secret = v1.Secret(metadata=v1.ObjectMeta(name="s"))
    apply_defaults(secret)
    assert (secret.type, secret.metadata.namespace) == ("Opaque", "default")
    node = v1.Node(metadata=v1.ObjectMeta(name="n"))
    apply_defaults(node)
    assert node.metadata.namespace == ""


def test_defaults_are_idempotent() -> None:
    for path in sorted(MANIFESTS.glob("*.y*ml")):
        for obj in _load(path.name):
            again = type(obj)()
            again.CopyFrom(obj)
            apply_defaults(again)
            assert again == obj, path.name


def test_default_toleration_seconds_admission_adds_the_node_loss_tolerations_once() -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p"), spec=v1.PodSpec(containers=[v1.Container(name="c")]))
    plugin = DefaultTolerationSeconds(300)
    for _ in range(2):
        plugin.admit(Attributes(CREATE, pod, None, None))
    tolerations = pod.spec.tolerations
    assert [(t.key, t.operator, t.effect, t.toleration_seconds) for t in tolerations] == [
        ("node.kubernetes.io/not-ready", "Exists", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "Exists", "NoExecute", 300),
    ]
