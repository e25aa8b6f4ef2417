"""podctl --dry-run=client|server and -o on the writing verbs, against the real gRPC API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.podctl_server import ERROR_POD, HELLO, INVALID, Fake, closed_port, podctl

pytestmark = pytest.mark.unit


def test_a_client_dry_run_writes_a_manifest_without_a_server() -> None:
    server = f"127.0.0.1:{closed_port()}"  # nothing listens: a client dry run sends nothing
    r = podctl("-s", server, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2",
               "--dry-run=client", "-o", "yaml")
    assert r.code == 0, r.err
    d = yaml.safe_load(r.out)
    assert (d["apiVersion"], d["kind"], d["metadata"]) == ("apps/v1", "Deployment",
                                                          {"name": "web", "labels": {"app": "web"}})
    assert d["spec"]["replicas"] == 2 and d["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:1.25"}]
    r = podctl("-s", server, "-n", "team", "run", "box", "--image=busybox", "--dry-run=client", "-o", "yaml")
    assert yaml.safe_load(r.out)["metadata"] == {"name": "box", "namespace": "team", "labels": {"run": "box"}}
    r = podctl("-s", server, "create", "configmap", "c", "--from-literal=a=b", "--dry-run=client")
    assert (r.code, r.out) == (0, "configmap/c created (dry run)\n")


def test_a_server_dry_run_is_checked_and_answered_by_the_server_and_stores_nothing(fake: Fake, hello: Path,
                                                                                 tmp_path: Path) -> None:
    r = podctl("-s", fake.address, "create", "-f", str(hello), "--dry-run=server", "-o", "yaml")
    assert r.code == 0, r.err
    answered = yaml.safe_load(r.out)
    assert answered["metadata"]["uid"] and answered["spec"]["containers"][0]["terminationMessagePath"] \
        == "/dev/termination-log"  # the server's defaults: it ran the create
    assert fake.objects("Pod") == []
    bad = tmp_path / "error-pod.yaml"
    bad.write_text(ERROR_POD)
    r = podctl("-s", fake.address, "create", "-f", str(bad), "--dry-run=server")
    assert (r.code, r.err) == (1, INVALID + "\n")
    assert podctl("-s", fake.address, "apply", "-f", str(hello), "--dry-run=server").out == \
        "pod/hello-world created (server dry run)\n"
    assert fake.objects("Pod") == []


def test_apply_and_delete_dry_runs_report_what_would_happen_and_change_nothing(fake: Fake, hello: Path) -> None:
    podctl("-s", fake.address, "apply", "-f", str(hello))
    before = fake.get("Pod", "hello-world")
    hello.write_text(HELLO.replace("  name: hello-world\n", "  name: hello-world\n  labels:\n    app: hi\n"))
    for mode in ("client", "server"):
        r = podctl("-s", fake.address, "apply", "-f", str(hello), f"--dry-run={mode}")
        suffix = "(dry run)" if mode == "client" else "(server dry run)"
        assert (r.code, r.out) == (0, f"pod/hello-world configured {suffix}\n")
    r = podctl("-s", fake.address, "apply", "-f", str(hello), "--dry-run=server", "-o",
               "jsonpath={.metadata.labels.app}")
    assert r.out == "hi"
    for mode, suffix in (("client", "(dry run)"), ("server", "(server dry run)")):
        r = podctl("-s", fake.address, "delete", "pod", "hello-world", f"--dry-run={mode}")
        assert (r.code, r.out) == (0, f'pod "hello-world" deleted {suffix}\n')
    assert fake.get("Pod", "hello-world") == before
    missing = podctl("-s", fake.address, "delete", "pod", "nope", "--dry-run=client")
    assert (missing.code, missing.err) == (1, 'Error from server (NotFound): pods "nope" not found\n')


def test_bad_dry_run_and_output_values_are_one_line_errors(fake: Fake) -> None:
    r = podctl("-s", fake.address, "run", "x", "--image=nginx", "--dry-run=maybe")
    assert (r.code, r.err) == (1, 'error: Invalid dry-run value (maybe). Must be "none", "server", or "client".\n')
    r = podctl("-s", fake.address, "run", "x", "--image=nginx", "-o", "wide")
    assert r.code == 1 and r.err.startswith('error: unable to match a printer suitable for the output format "wide"')
    r = podctl("-s", fake.address, "run", "x", "--image=nginx", "--dry-run")
    assert (r.code, r.out) == (0, "pod/x created (dry run)\n")
    assert r.err == "warning: --dry-run is deprecated and can be replaced with --dry-run=client.\n"
    assert fake.objects("Pod") == []
