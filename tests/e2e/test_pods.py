"""Pod features end to end: podctl → API → scheduler → agent → Docker, checked from inside the pods."""

from __future__ import annotations

import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Podctl
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e


def apply(podctl: Podctl, manifest: str) -> None:
    podctl("apply", "-f", "-", stdin=textwrap.dedent(manifest))


def test_config_secret_downward_and_projected_volumes_and_env(podctl: Podctl) -> None:
    podctl("create", "configmap", "app-config", "--from-literal=mode=fast", "--from-literal=level=3")
    podctl("create", "secret", "generic", "app-secret", "--from-literal=password=s3cret")
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: volumes, labels: {tier: web}}
        spec:
          containers:
          - name: app
            image: busybox
            command: ["sh", "-c", "sleep 3600"]
            env:
            - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
            - {name: GREETING, value: "mode is $(MODE)"}
            envFrom:
            - {prefix: CFG_, configMapRef: {name: app-config}}
            volumeMounts:
            - {name: config, mountPath: /etc/config}
            - {name: secret, mountPath: /etc/secret, readOnly: true}
            - {name: info, mountPath: /etc/info}
            - {name: all, mountPath: /etc/all}
          volumes:
          - {name: config, configMap: {name: app-config, items: [{key: mode, path: sub/mode.txt}]}}
          - {name: secret, secret: {secretName: app-secret}}
          - name: info
            downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}},
                                  {path: name, fieldRef: {fieldPath: metadata.name}}]}
          - name: all
            projected:
              sources:
              - configMap: {name: app-config}
              - secret: {name: app-secret}
              - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
    """)
    podctl.wait_status("volumes", "Running")

    def cat(path: str) -> str:
        return podctl("exec", "volumes", "--", "cat", path).stdout

    assert cat("/etc/config/sub/mode.txt") == "fast"
    assert cat("/etc/secret/password") == "s3cret"
    assert 'tier="web"' in cat("/etc/info/labels")
    assert cat("/etc/info/name") == "volumes"
    assert cat("/etc/all/level") == "3" and cat("/etc/all/password") == "s3cret" and cat("/etc/all/ns") == "default"
    env = dict(line.split("=", 1) for line in podctl("exec", "volumes", "--", "env").stdout.splitlines() if "=" in line)
    node = podctl("get", "pod", "volumes", "-o", "jsonpath={.spec.nodeName}").stdout
    assert env["MODE"] == "fast" and env["PASSWORD"] == "s3cret" and env["NODE"] == node
    assert env["GREETING"] == "mode is fast" and env["CFG_level"] == "3"
    denied = podctl("exec", "volumes", "--", "sh", "-c", "echo x > /etc/secret/new", check=False)
    assert denied.returncode != 0, "a readOnly mount must refuse writes"


def test_init_containers_run_in_order_before_the_app(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: ordered}
        spec:
          initContainers:
          - {name: first, image: busybox, command: ["sh", "-c", "echo first >> /work/order"],
             volumeMounts: [{name: work, mountPath: /work}]}
          - {name: second, image: busybox, command: ["sh", "-c", "echo second >> /work/order"],
             volumeMounts: [{name: work, mountPath: /work}]}
          containers:
          - {name: app, image: busybox, command: ["sh", "-c", "echo app >> /work/order; sleep 3600"],
             volumeMounts: [{name: work, mountPath: /work}]}
          volumes: [{name: work, emptyDir: {}}]
    """)
    podctl.wait_status("ordered", "Running")
    assert podctl("exec", "ordered", "--", "cat", "/work/order").stdout.split() == ["first", "second", "app"]


def test_failing_init_container_fails_a_never_pod(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: bad-init}
        spec:
          restartPolicy: Never
          initContainers: [{name: setup, image: busybox, command: ["sh", "-c", "exit 3"]}]
          containers: [{name: app, image: busybox, command: ["sh", "-c", "sleep 3600"]}]
    """)
    wait_for(lambda: podctl("get", "pod", "bad-init", "-o", "jsonpath={.status.phase}").stdout == "Failed", 60,
             message="the pod to fail")
    assert podctl.status("bad-init") == "Init:Error"


def test_sidecar_init_container_keeps_running_beside_the_app(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: with-sidecar}
        spec:
          initContainers:
          - {name: sidecar, image: busybox, restartPolicy: Always, command: ["sh", "-c", "sleep 3600"]}
          containers: [{name: app, image: busybox, command: ["sh", "-c", "sleep 3600"]}]
    """)
    podctl.wait_status("with-sidecar", "Running")
    sidecar = podctl("get", "pod", "with-sidecar", "-o",
                     "jsonpath={.status.initContainerStatuses[0].state.running.startedAt}").stdout
    assert sidecar, "the sidecar init container must be running"


def test_logs_follow_and_previous_and_exec_exit_codes(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: chatty}
        spec:
          containers:
          - {name: app, image: busybox,
             command: ["sh", "-c", "for i in 1 2 3; do echo line-$i; sleep 1; done; echo bye; exit 1"]}
    """)
    # Follow the first run to its end: -f returns when the container stops.
    wait_for(lambda: "line-1" in podctl("logs", "chatty", check=False).stdout, 60, message="first log line")
    followed = podctl("logs", "chatty", "-f", timeout=30).stdout
    assert followed.split()[-1] == "bye" and "line-3" in followed
    wait_for(lambda: int(podctl("get", "pod", "chatty", "-o",
                                "jsonpath={.status.containerStatuses[0].restartCount}").stdout or 0) >= 1,
             60, message="a restart")
    previous = podctl("logs", "chatty", "--previous").stdout
    assert previous.split() == ["line-1", "line-2", "line-3", "bye"]
    assert podctl("logs", "chatty", "--tail", "1", "--previous").stdout.split() == ["bye"]
    stamped = podctl("logs", "chatty", "--previous", "--timestamps").stdout.splitlines()[0]
    assert stamped.split()[0].startswith("20") and stamped.endswith("line-1")
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: exec-target}
        spec: {containers: [{name: app, image: busybox, command: ["sh", "-c", "sleep 3600"]}]}
    """)
    podctl.wait_status("exec-target", "Running")
    result = podctl("exec", "exec-target", "--", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert result.returncode == 7 and result.stdout == "out\n" and "err" in result.stderr
    echoed = podctl("exec", "-i", "exec-target", "--", "cat", stdin="through stdin\n")
    assert echoed.stdout == "through stdin\n"


def test_host_network_pod_uses_its_node_address(podctl: Podctl, seeds_cluster) -> None:
    import urllib.request

    podctl("create", "-f", str(Path(__file__).resolve().parents[1] / "unit" / "manifests" /
                               "seed003-my-app-host-network.yaml"))
    podctl.wait_status("my-app", "Running")
    pod_ip = podctl("get", "pod", "my-app", "--template={{.status.podIP}}").stdout
    host_ip = podctl("get", "pod", "my-app", "--template={{.status.hostIP}}").stdout
    assert pod_ip == host_ip and pod_ip in [seeds_cluster.host_ip(n) for n in seeds_cluster.node_names]

    def fetch() -> str:
        with urllib.request.urlopen(f"http://{pod_ip}:80/", timeout=2) as reply:
            return reply.read().decode()

    assert "Welcome to nginx!" in wait_for(fetch, 20, message="nginx on the node's network")


def test_host_aliases_land_in_etc_hosts(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: aliased}
        spec:
          hostAliases: [{ip: "10.1.2.3", hostnames: ["foo.local", "bar.local"]}]
          containers: [{name: app, image: busybox, command: ["sh", "-c", "sleep 3600"]}]
    """)
    podctl.wait_status("aliased", "Running")
    hosts = podctl("exec", "aliased", "--", "cat", "/etc/hosts").stdout
    resolved = {name: line.split()[0] for line in hosts.splitlines() if line.strip() for name in line.split()[1:]}
    assert resolved.get("foo.local") == "10.1.2.3" and resolved.get("bar.local") == "10.1.2.3", hosts


def test_image_pull_errors_show_in_status(podctl: Podctl) -> None:
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: never-pull}
        spec:
          containers: [{name: app, image: "podlab/absent:1.0", imagePullPolicy: Never}]
    """)
    apply(podctl, """
        apiVersion: v1
        kind: Pod
        metadata: {name: cannot-pull}
        spec:
          containers: [{name: app, image: "podlab/absent:1.0", imagePullPolicy: IfNotPresent}]
    """)
    podctl.wait_status("never-pull", "ErrImageNeverPull")
    wait_for(lambda: podctl.status("cannot-pull") in ("ErrImagePull", "ImagePullBackOff"), 60,
             message="a pull error")
    # The kubelet's events say why, in `describe` as in `get events`.
    wait_for(lambda: 'Failed to pull image "podlab/absent:1.0"'
             in podctl("describe", "pod", "cannot-pull").stdout, 30, message="the Failed event")
    described = podctl("describe", "pod", "cannot-pull").stdout
    assert 'Pulling image "podlab/absent:1.0"' in described and "Error: ErrImagePull" in described
    events = podctl("get", "events", "--field-selector", "involvedObject.name=never-pull").stdout
    assert "ErrImageNeverPull" in events, events


def test_graceful_deletion_runs_pre_stop_then_sigterm(podctl: Podctl) -> None:
    marks = Path(tempfile.mkdtemp(prefix="podlab-e2e-marks-"))
    apply(podctl, f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: graceful}}
        spec:
          terminationGracePeriodSeconds: 20
          containers:
          - name: app
            image: busybox
            command: ["sh", "-c", "trap 'echo term >> /marks/log; exit 0' TERM; while true; do sleep 0.2; done"]
            lifecycle: {{preStop: {{exec: {{command: ["sh", "-c", "echo prestop >> /marks/log"]}}}}}}
            volumeMounts: [{{name: marks, mountPath: /marks}}]
          volumes: [{{name: marks, hostPath: {{path: "{marks}", type: Directory}}}}]
    """)
    podctl.wait_status("graceful", "Running")
    started = time.monotonic()
    assert podctl("delete", "pod", "graceful").stdout.strip() == 'pod "graceful" deleted'
    took = time.monotonic() - started
    assert (marks / "log").read_text().split() == ["prestop", "term"]
    assert took < 15, f"the container exited on SIGTERM; deletion should not wait out the grace ({took:.1f}s)"


def test_kubernetes_docs_liveness_example_runs_from_the_mirror(podctl: Podctl) -> None:
    podctl("apply", "-f", str(Path(__file__).resolve().parents[1] / "unit" / "manifests" /
                              "k8s-liveness-exec-flow.yaml"))
    podctl.wait_status("liveness-exec", "Running")
    described = podctl("describe", "pod", "liveness-exec").stdout
    assert "Liveness:" in described and "cat /tmp/healthy" in described
