"""The seed documents, replayed with podctl against a real cluster on real Docker.

etcd, the control plane, the scheduler and two node agents run as processes;
every command is the user's own `podctl ...` line from the seeds, run as a
subprocess, with kubectl replaced by podctl.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Podctl
from tests.support.cluster import LocalCluster
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e
MANIFESTS = Path(__file__).resolve().parents[1] / "unit" / "manifests"


def test_pod_network_test_shares_one_network_namespace(podctl: Podctl) -> None:
    assert "pod/pod-network-test created" in podctl("apply", "-f", str(MANIFESTS / "seed000-pod-network.yml")).stdout
    podctl.wait_status("pod-network-test", "Running")
    line = podctl("get", "pod").stdout.splitlines()[1].split()
    assert line[:3] == ["pod-network-test", "2/2", "Running"]
    page = podctl("exec", "pod-network-test", "-c", "busybox", "--", "wget", "-qO-", "127.0.0.1:80").stdout
    assert "<title>Welcome to nginx!</title>" in page
    listening = podctl("exec", "pod-network-test", "-c", "busybox", "--", "netstat", "-tpln").stdout
    assert ":80 " in listening
    hostname = podctl("exec", "pod-network-test", "-c", "busybox", "--", "hostname").stdout.strip()
    assert hostname == "pod-network-test"


def test_pod_volume_test_shares_a_file_between_containers(podctl: Podctl) -> None:
    podctl("apply", "-f", str(MANIFESTS / "seed000-pod-volume.yml"))
    podctl.wait_status("pod-volume-test", "Running")
    podctl("exec", "pod-volume-test", "-c", "nginx", "--", "bash", "-c", 'cd /data && echo "volume test" > a.txt')
    assert podctl("exec", "pod-volume-test", "-c", "busybox", "--", "cat", "/data/a.txt").stdout == "volume test\n"


def test_hello_world_completes_logs_and_deletes(podctl: Podctl) -> None:
    assert podctl("create", "-f", str(MANIFESTS / "seed003-hello-world-pod.yaml")).stdout.strip() == \
        "pod/hello-world created"
    podctl.wait_status("hello-world", "Completed")
    row = podctl("get", "pod", "hello-world").stdout.splitlines()
    assert row[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row[1].split()[:4] == ["hello-world", "0/1", "Completed", "0"]
    assert podctl("logs", "hello-world").stdout == "Hello World\n"
    assert podctl("get", "pods", "hello-world", "--output=go-template",
                  "--template={{.status.phase}}").stdout == "Succeeded"
    assert podctl("delete", "pod", "hello-world").stdout.strip() == 'pod "hello-world" deleted'
    assert "NotFound" in podctl("get", "pod", "hello-world", check=False).stderr


def test_invalid_pod_is_refused_with_the_seed_message(podctl: Podctl) -> None:
    result = podctl("create", "-f", str(MANIFESTS / "invalid" / "seed003-error-pod.yaml"), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: '
                                     '"Mybe": supported values: "Always", "OnFailure", "Never"')
    assert "NotFound" in podctl("get", "pod", "hello-world", check=False).stderr


def test_downward_api_env_shows_name_namespace_and_ip(podctl: Podctl) -> None:
    podctl("create", "-f", str(MANIFESTS / "seed003-downwardapi-env.yaml"))
    podctl.wait_status("downwardapi-env", "Running")
    ip = podctl("get", "pod", "downwardapi-env", "--template={{.status.podIP}}").stdout
    assert ip.count(".") == 3
    result = podctl("exec", "downwardapi-env", "env")  # the seed's deprecated form
    assert "is DEPRECATED" in result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("MY_POD"))
    assert env == {"MY_POD_NAME": "downwardapi-env", "MY_POD_NAMESPACE": "default", "MY_POD_IP": ip}


def test_hello_world_wr_containers_share_a_host_path(podctl: Podctl) -> None:
    podctl("create", "-f", str(MANIFESTS / "seed003-hello-world-wr.yaml"))
    podctl.wait_status("hello-world-wr", "Completed")
    assert "Hello World" in podctl("logs", "hello-world-wr", "hello").stdout
    multi = podctl("logs", "hello-world-wr", check=False)
    assert multi.returncode == 1 and "a container name must be specified" in multi.stderr


def test_host_port_is_published_on_the_node_address(podctl: Podctl, seeds_cluster: LocalCluster) -> None:
    import urllib.request

    podctl("create", "-f", str(MANIFESTS / "seed003-nginx.yaml"))
    podctl.wait_status("my-nginx", "Running")
    host_ip = podctl("get", "pod", "my-nginx", "--template={{.status.hostIP}}").stdout
    assert host_ip in [seeds_cluster.host_ip(n) for n in seeds_cluster.node_names]

    def fetch() -> str:
        with urllib.request.urlopen(f"http://{host_ip}:80/", timeout=2) as response:
            return response.read().decode()

    assert "Welcome to nginx!" in wait_for(fetch, 20, message="nginx on the hostPort")


def test_replace_force_recreates_the_pod_with_a_new_uid(podctl: Podctl) -> None:
    manifest = str(MANIFESTS / "seed003-hello-world-never.yaml")
    podctl("create", "-f", manifest)
    old = podctl("get", "pod", "hello-world", "-o", "jsonpath={.metadata.uid}").stdout
    podctl("replace", "-f", manifest, "--force")
    new = podctl("get", "pod", "hello-world", "-o", "jsonpath={.metadata.uid}").stdout
    assert old and new and old != new


def test_delete_all_removes_every_pod_and_its_containers(podctl: Podctl) -> None:
    import docker

    podctl("apply", "-f", str(MANIFESTS / "seed000-pod-network.yml"))
    podctl.wait_status("pod-network-test", "Running")
    uid = podctl("get", "pod", "pod-network-test", "-o", "jsonpath={.metadata.uid}").stdout
    podctl("delete", "pod", "--all", "--grace-period=1")
    assert "No resources found" in podctl("get", "pods").stderr + podctl("get", "pods").stdout
    client = docker.from_env()
    try:
        wait_for(lambda: not client.containers.list(all=True, filters={"label": f"io.podlab.pod.uid={uid}"}),
                 30, message="the pod's containers to be removed")
    finally:
        client.close()
