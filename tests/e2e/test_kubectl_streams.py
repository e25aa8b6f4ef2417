"""kubectl's and podctl's streaming verbs on real Docker: port-forward to nginx, attach, cp.

One two-node cluster (the seeds' fixture) for the module; the real kubectl
over the HTTPS API, podctl over gRPC.
"""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Podctl
from tests.integration.test_kubectl import Kubectl, kubectl_for
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def kubectl(seeds_cluster: Any, podctl: Podctl, tmp_path: Path) -> Iterator[Kubectl]:
    yield kubectl_for(seeds_cluster.control_plane, tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _forwarding(argv: list[str], env: dict[str, str] | None, url: str) -> tuple[str, str]:
    """Run a port-forward command, GET `url` through it; its first line and the page."""
    forward = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline().strip()
        page = str(wait_for(lambda: _get(url), 20, interval=0.2, message=f"a page from {url}"))
    finally:
        forward.terminate()
        forward.communicate(timeout=10)
    return first, page


def test_port_forward_to_nginx_then_get_and_cp_both_ways(kubectl: Kubectl, podctl: Podctl, tmp_path: Path) -> None:
    kubectl.run("run", "nginx", "--image=nginx", "--port=80")
    kubectl.run("wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s", timeout=70)
    local = _free_port()
    first, page = _forwarding([kubectl.binary, "port-forward", "pod/nginx", f"{local}:80"], kubectl.env,
                              f"http://127.0.0.1:{local}/")
    assert first == f"Forwarding from 127.0.0.1:{local} -> 80"
    assert "<title>Welcome to nginx!</title>" in page
    local = _free_port()
    first, page = _forwarding([*podctl.argv, "--server", podctl.server, "port-forward", "nginx", f"{local}:80"],
                              podctl.env, f"http://127.0.0.1:{local}/")
    assert first == f"Forwarding from 127.0.0.1:{local} -> 80"
    assert "<title>Welcome to nginx!</title>" in page
    # cp, both ways, with either client: tar over exec
    notes = tmp_path / "notes.txt"
    notes.write_text("copied in\n")
    kubectl.run("cp", str(notes), "nginx:/tmp/by-kubectl.txt")
    podctl("cp", str(notes), "nginx:/usr/share/nginx/html")  # a directory: the file keeps its name
    assert podctl("exec", "nginx", "--", "cat", "/tmp/by-kubectl.txt", "/usr/share/nginx/html/notes.txt").stdout \
        == "copied in\ncopied in\n"
    podctl("cp", "nginx:/usr/share/nginx/html", str(tmp_path / "html"))
    assert "Welcome to nginx!" in (tmp_path / "html" / "index.html").read_text()
    assert (tmp_path / "html" / "notes.txt").read_text() == "copied in\n"
    kubectl.run("cp", "nginx:/tmp/by-kubectl.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "copied in\n"


def test_attach_feeds_the_main_process_stdin(kubectl: Kubectl, podctl: Podctl, tmp_path: Path) -> None:
    manifest = tmp_path / "echo.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: echo}\nspec:\n  restartPolicy: Never\n  containers:\n"
        "  - name: echo\n    image: busybox\n    stdin: true\n    stdinOnce: true\n"
        "    command: [sh, -c, 'while read l; do echo \"got $l\"; done; echo bye']\n")
    kubectl.run("apply", "-f", str(manifest))
    kubectl.run("wait", "--for=condition=Ready", "pod/echo", "--timeout=60s", timeout=70)
    attached = subprocess.run([kubectl.binary, "attach", "-i", "echo"], env=kubectl.env, input="one\ntwo\n",
                              capture_output=True, text=True, timeout=30)
    assert attached.stdout.splitlines()[-3:] == ["got one", "got two", "bye"], attached.stderr
    manifest.write_text(manifest.read_text().replace("name: echo}", "name: echo2}"))
    kubectl.run("apply", "-f", str(manifest))
    kubectl.run("wait", "--for=condition=Ready", "pod/echo2", "--timeout=60s", timeout=70)
    attached = podctl("attach", "-i", "echo2", stdin="three\n", timeout=30)
    assert attached.stdout.splitlines()[-2:] == ["got three", "bye"], attached.stderr
