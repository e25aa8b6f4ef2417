"""The seed tutorials' kubectl interactions, replayed with the unmodified kubectl against the 3-node lab,
through the kubeconfig `compose/lab.sh up` writes. One scenario, pods shared between the steps."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pexpect
import yaml

from lab.chaos import Lab
from tests.support.kubectl import Kubectl
from tests.support.procs import wait_for

MANIFESTS = Path(__file__).resolve().parents[1] / "unit" / "manifests"
KUBECONFIG = "/var/lib/podlab/kubeconfig"  # compose/lab.sh's KUBECONFIG_PATH
INVALID = ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: "Mybe": supported values: '
           '"Always", "OnFailure", "Never"')


def _kubectl(home: Path) -> Kubectl:
    binary = shutil.which("kubectl")
    assert binary, "no kubectl on PATH"
    return Kubectl(binary, {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": KUBECONFIG})


def _phase(kubectl: Kubectl, pod: str) -> str:
    return kubectl.run("get", "pods", pod, "--output=go-template", "--template={{.status.phase}}", check=False).stdout


def test_the_seeds_kubectl_lines_replay_against_the_lab(scenario: Lab, tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path)
    network = MANIFESTS / "seed000-pod-network.yml"
    assert kubectl.out("apply", "-f", str(network)).strip() == "pod/pod-network-test created"
    assert kubectl.out("create", "-f", str(MANIFESTS / "seed003-hello-world-pod.yaml")).strip() \
        == "pod/hello-world created"
    assert kubectl.out("run", "nginx", "--image=nginx").strip() == "pod/nginx created"
    kubectl.run("create", "-f", str(MANIFESTS / "seed003-downwardapi-env.yaml"))
    for pod in ("pod-network-test", "nginx", "downwardapi-env"):
        kubectl.run("wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=90s", timeout=100)

    # kubectl get pod: kubectl's columns, from the server's Table.
    rows = {line.split()[0]: line.split() for line in kubectl.out("get", "pod").splitlines()}
    assert rows["NAME"] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows["pod-network-test"][1:4] == ["2/2", "Running", "0"] and rows["nginx"][1:3] == ["1/1", "Running"]

    # hello-world runs to completion: its phase by go-template, its log, -o json|yaml.
    wait_for(lambda: _phase(kubectl, "hello-world") == "Succeeded", 90, interval=0.5,
             message="hello-world Succeeded")
    assert kubectl.out("logs", "hello-world") == "Hello World\n"
    assert kubectl.run("logs", "hello-world", "-f", timeout=30).stdout == "Hello World\n"
    as_json = json.loads(kubectl.out("get", "pod", "hello-world", "--output", "json"))
    as_yaml = yaml.safe_load(kubectl.out("get", "pod", "hello-world", "--output", "yaml"))
    assert as_json["status"]["phase"] == as_yaml["status"]["phase"] == "Succeeded"
    assert as_json["spec"]["containers"][0]["command"] == ["/bin/echo", "Hello", "World"]

    # --template={{.status.podIP}}: an address on the lab's pod network.
    ip = kubectl.out("get", "pod", "pod-network-test", "--template={{.status.podIP}}")
    assert re.fullmatch(r"10\.244\.\d+\.\d+", ip), ip

    # describe, with the pod's events.
    described = kubectl.out("describe", "pod", "pod-network-test")
    assert "Events:" in described and "Scheduled" in described and "Started" in described

    # logs -c of one container of two.
    assert kubectl.run("logs", "pod-network-test", "-c", "nginx").returncode == 0

    # exec POD -- env (the seed's `exec POD env` is refused by kubectl itself), and the API's service variables.
    env = kubectl.out("exec", "downwardapi-env", "--", "env")
    assert "MY_POD_NAME=downwardapi-env" in env and "MY_POD_NAMESPACE=default" in env
    assert "KUBERNETES_SERVICE_HOST=10.244.255.10" in env and "KUBERNETES_PORT=tcp://10.244.255.10:443" in env
    old_form = kubectl.run("exec", "downwardapi-env", "env", check=False)
    assert old_form.returncode != 0 and "exec [POD] -- [COMMAND]" in old_form.stderr
    # The address is the API's, reachable from a pod (a TLS server answers there).
    reach = kubectl.run("exec", "pod-network-test", "-c", "busybox", "--", "nc", "-z", "-w", "5",
                        "10.244.255.10", "443", check=False)
    assert reach.returncode == 0, reach.stderr

    # exec -it ... -- sh, through a pty: a prompt, a command, its answer, exit.
    shell = pexpect.spawn(kubectl.binary, ["exec", "-it", "pod-network-test", "-c", "busybox", "--", "sh"],
                          env=kubectl.env, encoding="utf-8", timeout=30)
    try:
        shell.expect(r"/ # ")
        shell.sendline("wget -qO- 127.0.0.1:80 | grep -o 'Welcome to nginx'")
        shell.expect("Welcome to nginx")
        shell.sendline("exit")
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)
    assert shell.exitstatus == 0

    # create secret generic --from-file, from the current directory as in the seed.
    (tmp_path / "password.txt").write_text("s3cret\n")
    assert kubectl.run("create", "secret", "generic", "pass", "--from-file=./password.txt",
                       cwd=str(tmp_path)).stdout.strip() == "secret/pass created"
    assert kubectl.out("get", "secret", "pass", "-o", "jsonpath={.data.password\\.txt}") == "czNjcmV0Cg=="
    kubectl.run("delete", "secret", "pass")

    # The seed's invalid pod: kubectl's own message, from the server's Status.
    refused = kubectl.run("create", "-f", str(MANIFESTS / "invalid" / "seed003-error-pod.yaml"), check=False)
    assert (refused.returncode, refused.stderr.strip()) == (1, INVALID)

    # replace --force: delete, then create again.
    replaced = kubectl.run("replace", "-f", str(MANIFESTS / "seed003-hello-world-pod.yaml"), "--force", timeout=90)
    assert replaced.stdout.splitlines() == ['pod "hello-world" deleted', "pod/hello-world replaced"]

    # delete pod --all.
    deleted = kubectl.run("delete", "pod", "--all", timeout=120).stdout.splitlines()
    assert sorted(deleted) == sorted(f'pod "{p}" deleted' for p in
                                     ("downwardapi-env", "hello-world", "nginx", "pod-network-test"))
    assert kubectl.run("get", "pods").stderr.strip() == "No resources found in default namespace."
