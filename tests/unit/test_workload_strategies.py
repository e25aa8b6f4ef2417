"""apps/v1 ReplicaSet and Deployment through the real registry: defaults, Kubernetes' validation messages,
generation, immutable selectors. Nothing invalid is stored."""

from __future__ import annotations

import pytest

from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.kinds import DEPLOYMENTS
from podlab.manifest import from_dict
from podlab.v1 import objects_pb2 as v1

# Kubernetes' documentation example (concepts/workloads/controllers/nginx-deployment.yaml).
NGINX = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                                   "ports": [{"containerPort": 80}]}]}}},
}


def deployment(**spec: object) -> v1.Deployment:
    data = {**NGINX, "spec": {**NGINX["spec"], **spec}}
    obj = from_dict(data, DEPLOYMENTS)
    assert isinstance(obj, v1.Deployment)
    return obj


def refused(cluster: InMemoryApi, obj: v1.Deployment) -> str:
    with pytest.raises(errors.Invalid) as err:
        cluster.create_now(obj)
    assert not cluster.objects(v1.Deployment), "nothing invalid is stored"
    return str(err.value)


def test_the_docs_deployment_is_defaulted_as_kubernetes_does() -> None:
    created = InMemoryApi().create_now(deployment())
    assert created.api_version == "apps/v1" and created.metadata.generation == 1
    spec = created.spec
    assert spec.strategy.type == "RollingUpdate"
    assert (spec.strategy.rolling_update.max_surge.string_value,
            spec.strategy.rolling_update.max_unavailable.string_value) == ("25%", "25%")
    assert (spec.revision_history_limit, spec.progress_deadline_seconds) == (10, 600)
    assert spec.template.spec.restart_policy == "Always"
    assert spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"


def test_a_selector_that_does_not_match_the_template_is_refused() -> None:
    message = refused(InMemoryApi(), deployment(selector={"matchLabels": {"app": "web"}}))
    assert message == ('The Deployment "nginx-deployment" is invalid: spec.template.metadata.labels: Invalid value: '
                       'map[string]string{"app":"nginx"}: `selector` does not match template `labels`')


def test_negative_replicas_are_refused() -> None:
    assert refused(InMemoryApi(), deployment(replicas=-1)) == (
        'The Deployment "nginx-deployment" is invalid: spec.replicas: Invalid value: -1: '
        'must be greater than or equal to 0')


def test_max_surge_and_max_unavailable_both_zero_are_refused() -> None:
    message = refused(InMemoryApi(), deployment(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}))
    assert message == ('The Deployment "nginx-deployment" is invalid: spec.strategy.rollingUpdate.maxUnavailable: '
                       'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
                       'may not be 0 when `maxSurge` is 0')


def test_an_unknown_strategy_type_is_refused() -> None:
    assert refused(InMemoryApi(), deployment(strategy={"type": "BlueGreen"})) == (
        'The Deployment "nginx-deployment" is invalid: spec.strategy.type: Unsupported value: "BlueGreen": '
        'supported values: "Recreate", "RollingUpdate"')


def test_a_template_that_would_not_restart_is_refused() -> None:
    template = {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "nginx", "image": "nginx"}]}}
    assert refused(InMemoryApi(), deployment(template=template)) == (
        'The Deployment "nginx-deployment" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
        '"OnFailure": supported values: "Always"')


def test_template_pod_errors_carry_the_template_path() -> None:
    template = {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx"}]}}
    assert "spec.template.spec.containers[0].image: Required value" in refused(
        InMemoryApi(), deployment(template=template))


def test_generation_moves_with_the_spec_and_the_selector_never_changes() -> None:
    cluster = InMemoryApi()
    created = cluster.create_now(deployment())
    created.metadata.labels["team"] = "web"
    relabeled = cluster.update_now(created)
    assert relabeled.metadata.generation == 1, "a metadata change is not a new generation"
    relabeled.spec.replicas = 5
    scaled = cluster.update_now(relabeled)
    assert scaled.metadata.generation == 2
    scaled.spec.selector.match_labels["tier"] = "front"
    scaled.spec.template.metadata.labels["tier"] = "front"
    with pytest.raises(errors.Invalid, match="spec.selector: Invalid value: v1.LabelSelector.*field is immutable"):
        cluster.update_now(scaled)


def test_status_is_written_only_through_the_status_subresource() -> None:
    cluster = InMemoryApi()
    created = cluster.create_now(deployment())
    created.status.replicas = 3
    created.spec.replicas = 4
    updated = cluster.update_now(created)
    assert (updated.spec.replicas, updated.status.replicas) == (4, 0)
    updated.status.replicas = 3
    updated.spec.replicas = 9
    written = cluster.update_status_now(updated)
    assert (written.spec.replicas, written.status.replicas) == (4, 3)
