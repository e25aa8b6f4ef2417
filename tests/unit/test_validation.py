"""Validation errors read exactly like Kubernetes' and name every bad field."""

from __future__ import annotations

import pytest

from podlab import errors
from podlab.manifest import load_manifests
from podlab.v1 import objects_pb2 as v1
from tests.support.rules import apply_defaults, field_errors, validate, validate_update

pytestmark = pytest.mark.unit

BASE = """
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: app
    image: busybox
"""


def _pod(extra_container: str = "", extra_spec: str = "", text: str = BASE) -> v1.Pod:
    lines = text.rstrip("\n")
    if extra_container:
        lines += "\n" + "\n".join("    " + line for line in extra_container.strip().splitlines())
    if extra_spec:
        lines += "\n" + "\n".join("  " + line for line in extra_spec.strip().splitlines())
    (pod,) = load_manifests(lines + "\n")
    assert isinstance(pod, v1.Pod)
    apply_defaults(pod)
    return pod


def _causes(obj: v1.Pod | v1.Node | v1.ConfigMap | v1.Secret) -> list[str]:
    return [str(e) for e in field_errors(obj)]


def test_valid_pod_passes() -> None:
    validate(_pod())


def test_several_errors_are_bracketed_and_listed_as_causes() -> None:
    pod = _pod()
    pod.spec.containers.add(name="app", image="x")
    pod.spec.containers.add(image="y")
    with pytest.raises(errors.Invalid) as err:
        validate(pod)
    assert str(err.value) == ('The Pod "p" is invalid: [spec.containers[1].name: Duplicate '
                              'value: "app", spec.containers[2].name: Required value]')
    assert err.value.causes == ['spec.containers[1].name: Duplicate value: "app"',
                                "spec.containers[2].name: Required value"]


def test_pod_name_must_be_a_dns_subdomain() -> None:
    pod = _pod()
    pod.metadata.name = "Bad_Name"
    with pytest.raises(errors.Invalid) as err:
        validate(pod)
    assert str(err.value) == (
        'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def test_name_is_required() -> None:
    pod = _pod()
    pod.metadata.name = ""
    assert _causes(pod) == ["metadata.name: Required value: name or generateName is required"]


def test_namespace_must_be_a_dns_label() -> None:
    pod = _pod()
    pod.metadata.namespace = "a.b"
    assert _causes(pod)[0].startswith('metadata.namespace: Invalid value: "a.b": a lowercase '
                                      "RFC 1123 label")


def test_labels_keys_and_values_are_checked() -> None:
    pod = _pod()
    pod.metadata.labels["bad key"] = "ok"
    pod.metadata.labels["good"] = "bad value!"
    causes = _causes(pod)
    assert causes[0].startswith('metadata.labels: Invalid value: "bad key": name part must')
    assert causes[1].startswith('metadata.labels: Invalid value: "bad value!": a valid label')


def test_containers_are_required() -> None:
    pod = _pod()
    del pod.spec.containers[:]
    assert _causes(pod) == ["spec.containers: Required value"]


def test_container_names_are_unique_across_init_and_app_containers() -> None:
    pod = _pod(extra_spec="initContainers:\n- name: app\n  image: busybox")
    assert _causes(pod) == ['spec.containers[0].name: Duplicate value: "app"']


def test_image_is_required() -> None:
    pod = _pod()
    pod.spec.containers[0].image = ""
    assert _causes(pod) == ["spec.containers[0].image: Required value"]


def test_volume_mount_must_name_a_volume() -> None:
    pod = _pod("volumeMounts:\n- name: data\n  mountPath: /data")
    assert _causes(pod) == ['spec.containers[0].volumeMounts[0].name: Not found: "data"']


def test_mount_path_is_required_and_volume_names_unique() -> None:
    pod = _pod("volumeMounts:\n- name: data",
               "volumes:\n- name: data\n  emptyDir: {}\n- name: data\n  emptyDir: {}")
    assert _causes(pod) == ['spec.volumes[1].name: Duplicate value: "data"',
                            "spec.containers[0].volumeMounts[0].mountPath: Required value"]


def test_volume_has_exactly_one_source() -> None:
    pod = _pod(extra_spec="volumes:\n- name: v\n  emptyDir: {}\n  hostPath: {path: /tmp}")
    assert _causes(pod) == ["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 "
                            "volume type"]


def test_ports_are_range_checked() -> None:
    pod = _pod("ports:\n- containerPort: 70000\n  hostPort: -1\n  protocol: HTTP\n- hostPort: 80")
    assert _causes(pod) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
        "65535, inclusive",
        "spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, "
        "inclusive",
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: '
        '"SCTP", "TCP", "UDP"',
        "spec.containers[0].ports[1].containerPort: Required value",
    ]


def test_port_names_are_iana_service_names() -> None:
    pod = _pod("ports:\n- {name: a-very-long-port-name, containerPort: 80}\n"
               "- {name: '80', containerPort: 81}")
    assert _causes(pod) == [
        'spec.containers[0].ports[0].name: Invalid value: "a-very-long-port-name": must be no '
        "more than 15 characters",
        'spec.containers[0].ports[1].name: Invalid value: "80": must contain at least one '
        "letter (a-z)",
    ]


@pytest.mark.parametrize(("field", "value", "supported"), [
    ("restartPolicy", "Mybe", '"Always", "OnFailure", "Never"'),
    ("dnsPolicy", "Google", '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'),
])
def test_pod_enums(field: str, value: str, supported: str) -> None:
    pod = _pod(extra_spec=f"{field}: {value}")
    assert _causes(pod) == [f'spec.{field}: Unsupported value: "{value}": supported values: '
                            f"{supported}"]


def test_image_pull_policy_enum() -> None:
    pod = _pod("imagePullPolicy: Sometimes")
    assert _causes(pod) == ['spec.containers[0].imagePullPolicy: Unsupported value: '
                            '"Sometimes": supported values: "Always", "IfNotPresent", "Never"']


def test_init_container_restart_policy_may_only_be_always() -> None:
    pod = _pod(extra_spec="initContainers:\n- {name: i, image: b, restartPolicy: Never}")
    assert _causes(pod) == ['spec.initContainers[0].restartPolicy: Unsupported value: "Never": '
                            'supported values: "Always"']


def test_probe_needs_exactly_one_handler() -> None:
    pod = _pod("livenessProbe:\n  exec: {command: [ok]}\n  tcpSocket: {port: 80}\n"
               "readinessProbe:\n  periodSeconds: 3")
    assert _causes(pod) == [
        "spec.containers[0].livenessProbe: Forbidden: may not specify more than 1 handler type",
        "spec.containers[0].readinessProbe: Required value: must specify a handler type",
    ]


def test_probe_numbers_and_liveness_success_threshold() -> None:
    pod = _pod("livenessProbe:\n  exec: {command: [ok]}\n  successThreshold: 2\n"
               "  initialDelaySeconds: -1")
    assert _causes(pod) == [
        "spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -1: must be "
        "greater than or equal to 0",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    ]


def test_named_probe_port_must_exist_on_the_container() -> None:
    pod = _pod("livenessProbe:\n  httpGet: {port: liveness-port}")
    assert _causes(pod) == ['spec.containers[0].livenessProbe.httpGet.port: Not found: '
                            '"liveness-port"']


def test_bad_resource_quantity_names_its_path() -> None:
    pod = _pod("resources: {limits: {memory: 12x}}")
    assert _causes(pod) == [
        'spec.containers[0].resources.limits[memory]: Invalid value: "12x": quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]


def test_requests_may_not_exceed_limits() -> None:
    pod = _pod("resources: {limits: {cpu: 500m}, requests: {cpu: '1'}}")
    assert _causes(pod) == ['spec.containers[0].resources.requests[cpu]: Invalid value: "1": '
                            "must be less than or equal to cpu limit of 500m"]


def test_env_value_from_needs_exactly_one_supported_source() -> None:
    pod = _pod("env:\n- {name: A, valueFrom: {}}\n"
               "- {name: B, valueFrom: {fieldRef: {fieldPath: spec.foo}}}\n"
               "- {name: C, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n"
               "- {name: 1D, value: x}")
    causes = _causes(pod)
    assert causes[0] == ('spec.containers[0].env[0].valueFrom: Invalid value: "": must specify '
                         "one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                         "`secretKeyRef`")
    assert causes[1].startswith('spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: '
                                'Unsupported value: "spec.foo": supported values: ')
    assert causes[2].startswith('spec.containers[0].env[3].name: Invalid value: "1D": a valid '
                                "environment variable name")
    assert len(causes) == 3


def test_tolerations_are_checked() -> None:
    pod = _pod(extra_spec="tolerations:\n- {key: k, operator: Exists, value: v}\n"
                          "- {key: k, operator: Maybe}\n- {operator: Equal}\n"
                          "- {key: k, effect: NoSchedule, tolerationSeconds: 5}")
    assert _causes(pod) == [
        'spec.tolerations[0].operator: Invalid value: "v": value must be empty when `operator` '
        "is 'Exists'",
        'spec.tolerations[1].operator: Unsupported value: "Maybe": supported values: "Exists", '
        '"Equal"',
        'spec.tolerations[2].operator: Invalid value: "Equal": operator must be Exists when '
        '`key` is empty, which means "match all values and all keys"',
        'spec.tolerations[3].effect: Invalid value: "NoSchedule": effect must be \'NoExecute\' '
        "when `tolerationSeconds` is set",
    ]


def test_node_affinity_operators_and_values() -> None:
    pod = _pod(extra_spec="""
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: a, operator: In}
        - {key: b, operator: Exists, values: [x]}
        - {key: c, operator: Gt, values: [x]}
        - {key: d, operator: Near}
""")
    assert _causes(pod) == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        "nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified "
        "when `operator` is 'In' or 'NotIn'",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        "nodeSelectorTerms[0].matchExpressions[1].values: Forbidden: may not be specified when "
        "`operator` is 'Exists' or 'DoesNotExist'",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        'nodeSelectorTerms[0].matchExpressions[2].values[0]: Invalid value: "x": must be an '
        "integer",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        'nodeSelectorTerms[0].matchExpressions[3].operator: Unsupported value: "Near": '
        'supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"',
    ]


def test_host_network_host_port_must_equal_container_port() -> None:
    pod = _pod("ports:\n- {containerPort: 80, hostPort: 81}", "hostNetwork: true")
    assert _causes(pod) == ["spec.containers[0].ports[0].hostPort: Invalid value: 81: must match "
                            "`containerPort` when `hostNetwork` is true"]


def test_deadlines_and_grace_periods() -> None:
    pod = _pod(extra_spec="activeDeadlineSeconds: 0\nterminationGracePeriodSeconds: -1")
    assert _causes(pod) == [
        "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal "
        "to 0",
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, "
        "inclusive",
    ]


def test_config_map_and_secret_keys_are_checked() -> None:
    cm = v1.ConfigMap(metadata=v1.ObjectMeta(name="c", namespace="default"),
                      data={"ok.key": "1", "bad key": "2"})
    assert [c.split(":")[0] for c in _causes(cm)] == ["data[bad key]"]
    secret = v1.Secret(metadata=v1.ObjectMeta(name="s", namespace="default"),
                       data={"..": b"x"})
    assert _causes(secret) == ['data[..]: Invalid value: "..": must not be \'..\'']


def test_node_taint_effect_is_an_enum() -> None:
    node = v1.Node(metadata=v1.ObjectMeta(name="n1"))
    node.spec.taints.add(key="k", effect="Sometimes")
    node.spec.taints.add(key="k2")
    assert _causes(node) == [
        'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: '
        '"NoSchedule", "PreferNoSchedule", "NoExecute"',
        "spec.taints[1].effect: Required value",
    ]


def test_pod_update_may_change_image_but_not_restart_policy() -> None:
    old = _pod()
    new = v1.Pod()
    new.CopyFrom(old)
    new.spec.containers[0].image = "busybox:1.36"
    new.spec.tolerations.add(key="k", operator="Exists")
    new.metadata.labels["x"] = "y"
    validate_update(old, new)
    new.spec.restart_policy = "Never"
    with pytest.raises(errors.Invalid) as err:
        validate_update(old, new)
    assert str(err.value).startswith(
        'The Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`")


def test_pod_update_may_not_remove_tolerations_or_rename() -> None:
    old = _pod(extra_spec="tolerations:\n- {key: k, operator: Exists}")
    new = v1.Pod()
    new.CopyFrom(old)
    del new.spec.tolerations[:]
    new.metadata.name = "q"
    with pytest.raises(errors.Invalid) as err:
        validate_update(old, new)
    assert err.value.causes[0] == 'metadata.name: Invalid value: "q": field is immutable'
    assert err.value.causes[1].startswith("spec: Forbidden: pod updates may not change")


def test_immutable_config_map_data_cannot_change() -> None:
    old = v1.ConfigMap(metadata=v1.ObjectMeta(name="c"), data={"a": "1"}, immutable=True)
    new = v1.ConfigMap(metadata=v1.ObjectMeta(name="c"), data={"a": "2"}, immutable=True)
    with pytest.raises(errors.Invalid, match="data: Forbidden: field is immutable when "):
        validate_update(old, new)
