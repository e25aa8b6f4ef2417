"""Manifests load strictly into API objects and print back as Kubernetes does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from podlab import errors
from podlab.manifest import dump_json, dump_yaml, load_manifests, load_path, to_dict
from podlab.v1 import objects_pb2 as v1
from tests.support.rules import apply_defaults, validate

pytestmark = pytest.mark.unit

MANIFESTS = Path(__file__).parent / "manifests"
VALID = sorted(p for p in MANIFESTS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def _pod(text: str) -> v1.Pod:
    (obj,) = load_manifests(text, "pod.yaml")
    assert isinstance(obj, v1.Pod)
    return obj


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_fixture_manifest_loads_defaults_and_validates(path: Path) -> None:
    objs = load_manifests(path.read_text(), str(path))
    assert objs
    for obj in objs:
        apply_defaults(obj)
        validate(obj)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_to_dict_keeps_every_field_of_the_manifest(path: Path) -> None:
    for obj in load_manifests(path.read_text(), str(path)):
        again = load_manifests(dump_yaml(obj))
        assert again == [obj]
        assert load_manifests(dump_json(obj)) == [obj]


def test_seed_error_pod_gives_kubernetes_exact_message() -> None:
    (pod,) = load_manifests((MANIFESTS / "invalid" / "seed003-error-pod.yaml").read_text())
    apply_defaults(pod)
    with pytest.raises(errors.Invalid) as err:
        validate(pod)
    assert str(err.value) == (
        'The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: "Mybe": '
        'supported values: "Always", "OnFailure", "Never"')


def test_seed_pod_with_lost_indentation_is_refused_with_its_source() -> None:
    text = ("apiVersion: v1\nkind: Pod\nmetadata:\nlabels:\napp: test\nname: pod-network-test\n"
            "spec:\ncontainers:\n- image: busybox\nname: busybox\n")
    with pytest.raises(errors.BadRequest, match="pod-network.yml"):
        load_manifests(text, "pod-network.yml")


def test_unknown_fields_are_all_named_with_their_path() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: p, colour: red}
spec:
  containers:
  - name: a
    image: busybox
    foo: 1
    livenessProbe: {exec: {command: [x]}, bogus: true}
"""
    with pytest.raises(errors.BadRequest) as err:
        load_manifests(text, "p.yaml")
    assert str(err.value) == (
        'error parsing p.yaml: Pod in version "v1" cannot be handled as a Pod: strict decoding '
        'error: unknown field "metadata.colour", unknown field "spec.containers[0].foo", '
        'unknown field "spec.containers[0].livenessProbe.bogus"')


def test_snake_case_field_names_are_unknown_like_in_kubernetes() -> None:
    with pytest.raises(errors.BadRequest, match=r'unknown field "spec.restart_policy"'):
        _pod("apiVersion: v1\nkind: Pod\nspec: {restart_policy: Never}\n")


@pytest.mark.parametrize(("snippet", "message"), [
    ("ports: [{containerPort: abc}]",
     'spec.containers[0].ports[0].containerPort: Invalid value: "abc": must be an integer'),
    ("env: [{name: A, value: 42}]",
     "spec.containers[0].env[0].value: Invalid value: 42: must be a string"),
    ("command: [sleep, 3600]", "spec.containers[0].command[1]: Invalid value: 3600: must be a "
     "string"),
    ("stdin: yes-please", 'spec.containers[0].stdin: Invalid value: "yes-please": must be a '
     "boolean"),
    ("ports: {containerPort: 80}", "spec.containers[0].ports: Invalid value: "
     '{"containerPort": 80}: must be a list'),
    ("livenessProbe: {tcpSocket: {port: 1.5}}", "spec.containers[0].livenessProbe.tcpSocket."
     "port: Invalid value: 1.5: must be an integer or a string"),
    ("ports: [{containerPort: 4294967296}]", "spec.containers[0].ports[0].containerPort: "
     "Invalid value: 4294967296: must be between -2147483648 and 2147483647, inclusive"),
])
def test_wrongly_typed_value_names_its_path(snippet: str, message: str) -> None:
    text = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n" \
           f"  - name: a\n    image: b\n    {snippet}\n"
    with pytest.raises(errors.BadRequest) as err:
        load_manifests(text, "p.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("error parsing p.yaml: ")


def test_numeric_quantities_become_strings() -> None:
    pod = _pod("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: b\n"
               "    resources: {limits: {cpu: 1, memory: 128974848}, requests: {cpu: 0.5}}\n")
    assert dict(pod.spec.containers[0].resources.limits) == {"cpu": "1", "memory": "128974848"}
    assert pod.spec.containers[0].resources.requests["cpu"] == "0.5"


def test_int_or_string_ports_accept_numbers_and_names() -> None:
    pod = _pod("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: b\n"
               "    livenessProbe: {httpGet: {port: 8080}}\n"
               "    readinessProbe: {tcpSocket: {port: http}}\n")
    c = pod.spec.containers[0]
    assert c.liveness_probe.http_get.port.number_value == 8080
    assert c.readiness_probe.tcp_socket.port.string_value == "http"
    spec = to_dict(pod)["spec"]["containers"][0]
    assert spec["livenessProbe"]["httpGet"]["port"] == 8080
    assert isinstance(spec["livenessProbe"]["httpGet"]["port"], int)


def test_secret_data_is_base64_and_bad_base64_is_refused() -> None:
    (secret,) = load_manifests("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                               "data: {user: YWRtaW4=}\nstringData: {pass: plain}\n")
    assert isinstance(secret, v1.Secret)
    assert secret.data["user"] == b"admin"
    assert secret.string_data["pass"] == "plain"
    with pytest.raises(errors.BadRequest, match=r'data\[user\]: Invalid value: "admin!": illegal '
                       "base64 data"):
        load_manifests("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                       "data: {user: admin!}\n", "s.yaml")


def test_unknown_kind_is_refused_like_kubectl() -> None:
    with pytest.raises(errors.BadRequest) as err:
        load_manifests("apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n", "g.yaml")
    assert str(err.value) == ('resource mapping not found for name: "g" namespace: "" from '
                              '"g.yaml": no matches for kind "Gadget" in version "v1"')


def test_kind_in_the_wrong_api_version_is_refused() -> None:
    with pytest.raises(errors.BadRequest, match='no matches for kind "Pod" in version "apps/v1"'):
        load_manifests("apiVersion: apps/v1\nkind: Pod\nmetadata: {name: p}\n")
    with pytest.raises(errors.BadRequest, match='no matches for kind "Lease" in version "v1"'):
        load_manifests("apiVersion: v1\nkind: Lease\nmetadata: {name: l}\n")


def test_missing_kind_or_api_version_is_refused() -> None:
    with pytest.raises(errors.BadRequest, match="Object 'Kind' is missing"):
        load_manifests("apiVersion: v1\nmetadata: {name: p}\n")
    with pytest.raises(errors.BadRequest, match="Object 'apiVersion' is missing"):
        load_manifests("kind: Pod\nmetadata: {name: p}\n")


def test_multi_document_yaml_skips_empty_documents_and_flattens_lists() -> None:
    text = (MANIFESTS / "k8s-configmap-volume.yaml").read_text()
    assert [type(o).__name__ for o in load_manifests(text)] == ["ConfigMap", "Pod"]
    listed = load_manifests((MANIFESTS / "k8s-list.yaml").read_text())
    assert [type(o).__name__ for o in listed] == ["Namespace", "Pod"]
    assert load_manifests("---\n# nothing\n---\n") == []


def test_json_and_a_json_stream_load() -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert len(load_manifests(json.dumps(doc) + "\n" + json.dumps(doc))) == 2


def test_yaml_syntax_error_names_source_and_line() -> None:
    with pytest.raises(errors.BadRequest) as err:
        load_manifests("apiVersion: v1\nkind: Pod\nspec:\n  a: b\n c: d\n", "bad.yaml")
    assert str(err.value).startswith("error parsing bad.yaml: error converting YAML to JSON: "
                                     "yaml: line ")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(errors.BadRequest, match='mapping key "kind" already defined'):
        load_manifests("apiVersion: v1\nkind: Pod\nkind: Pod\n")


def test_yaml_timestamps_stay_strings() -> None:
    pod = _pod("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
               "  annotations: {built: 2024-01-02}\n")
    assert pod.metadata.annotations["built"] == "2024-01-02"


def test_octal_file_modes_load_as_numbers() -> None:
    (_, pod) = load_manifests((MANIFESTS / "k8s-configmap-volume.yaml").read_text())
    assert isinstance(pod, v1.Pod)
    assert pod.spec.volumes[0].config_map.default_mode == 0o644
    assert pod.spec.volumes[0].config_map.items[1].mode == 0o400


def test_load_path_reads_a_file_a_directory_and_reports_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text((MANIFESTS / "seed003-nginx.yaml").read_text())
    (tmp_path / "a.json").write_text((MANIFESTS / "k8s-pod.json").read_text())
    (tmp_path / "notes.txt").write_text("not a manifest")
    loaded = load_path(str(tmp_path))
    assert [source for source, _ in loaded] == [str(tmp_path / "a.json"),
                                                str(tmp_path / "b.yaml")]
    assert len(load_path(str(tmp_path / "b.yaml"))) == 1
    with pytest.raises(errors.BadRequest) as err:
        load_path("x.yaml")
    assert str(err.value) == 'the path "x.yaml" does not exist'


def test_to_dict_prints_kubernetes_names_and_fills_api_version_and_kind() -> None:
    pod = v1.Pod()
    pod.metadata.name = "p"
    pod.metadata.creation_timestamp.FromJsonString("2024-05-01T10:00:00.123Z")
    pod.spec.containers.add(name="a", image="b").ports.add(container_port=80, host_ip="1.2.3.4")
    pod.status.pod_ip = "10.0.0.1"
    data = to_dict(pod)
    assert list(data)[:2] == ["apiVersion", "kind"]
    assert data["apiVersion"] == "v1" and data["kind"] == "Pod"
    assert data["metadata"] == {"name": "p", "creationTimestamp": "2024-05-01T10:00:00Z"}
    assert data["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "hostIP": "1.2.3.4"}]
    assert data["status"] == {"podIP": "10.0.0.1"}
    lease = v1.Lease()
    assert to_dict(lease)["apiVersion"] == "coordination.k8s.io/v1"


def test_dump_yaml_is_block_style_with_kubectl_key_order_and_lists_several() -> None:
    pod = _pod((MANIFESTS / "seed003-hello-world-pod.yaml").read_text())
    text = dump_yaml(pod)
    assert text.startswith("apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello-world\nspec:\n")
    assert "{" not in text
    several = yaml.safe_load(dump_yaml([pod, pod]))
    assert several["kind"] == "List" and len(several["items"]) == 2
    assert json.loads(dump_json([pod]))["items"][0]["metadata"]["name"] == "hello-world"


def test_multiline_strings_dump_as_literal_blocks() -> None:
    (cm, _) = load_manifests((MANIFESTS / "k8s-configmap-volume.yaml").read_text())
    assert "game.properties: |\n    enemy.types=aliens,monsters\n" in dump_yaml(cm)


# -- aliases (CVE-2019-11253: "billion laughs" in YAML) ---------------------------------------

BOMB = MANIFESTS.parent / "hostile" / "billion-laughs.yaml"


def test_a_billion_laughs_manifest_is_refused_before_it_expands() -> None:
    # 446 bytes that stand for 9**9 strings: refused as go-yaml (and so kubectl and the API server) does.
    with pytest.raises(errors.BadRequest) as refused:
        load_path(str(BOMB))
    assert str(refused.value) == (f"error parsing {BOMB}: error converting YAML to JSON: yaml: document "
                                  "contains excessive aliasing")


def test_a_wide_bomb_in_flow_style_and_an_anchor_that_contains_itself_are_refused() -> None:
    levels = ["a0: &a0 [" + ",".join(["x"] * 10) + "]"]
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    with pytest.raises(errors.BadRequest, match="excessive aliasing"):
        load_manifests("\n".join(levels) + "\n", "wide.yaml")
    with pytest.raises(errors.BadRequest, match="anchor value contains itself"):
        load_manifests("&a [*a]\n", "loop.yaml")


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    (obj,) = load_manifests("""
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  containers:
  - &app {name: a, image: busybox, env: &env [{name: MODE, value: x}, {name: LEVEL, value: "2"}]}
  - <<: *app
    name: b
    env: *env
""", "anchors.yaml")
    assert isinstance(obj, v1.Pod)
    assert [(c.name, c.image, [e.name for e in c.env]) for c in obj.spec.containers] == [
        ("a", "busybox", ["MODE", "LEVEL"]), ("b", "busybox", ["MODE", "LEVEL"])]


def test_a_large_document_may_still_reuse_an_anchor_many_times() -> None:
    # 2,000 aliases of a one-node anchor among 20,000 plain nodes: well inside go-yaml's budget.
    labels = "\n".join(f"    k{i}: v{i}" for i in range(10_000))
    notes = "\n".join(f"    n{i}: *note" for i in range(2_000))
    text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  labels:\n{labels}\n"
            f"data:\n    first: &note hello\n{notes}\n")
    (obj,) = load_manifests(text, "big.yaml")
    assert isinstance(obj, v1.ConfigMap) and len(obj.data) == 2_001 and obj.data["n1999"] == "hello"
