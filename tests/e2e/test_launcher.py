"""`podlab up` and `podlab down`, as a user runs them: a pod runs, and down leaves nothing behind.

Twice: from the checkout's modules (the venv the tests run in), and as a new user has it, from
a fresh virtual environment with the checkout installed into it by `pip install .` (not
editable), through that venv's console scripts alone, so an undeclared dependency fails here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.launcher import POD_NETWORK
from nodeagent.runtime.docker import remove_node_leftovers
from tests.e2e.conftest import DockerKit, Podctl, docker_cli
from tests.support.procs import REPO, free_port, wait_for

pytestmark = pytest.mark.e2e

# Where the wheels of the dependencies may already be (compose/build-image.sh puts every one
# there): pip takes them instead of downloading. The index and pip's cache serve the rest.
WHEELHOUSE = REPO / "compose" / ".wheels"


@dataclass
class Install:
    """How to run podlab and podctl, and the environment to run them in."""

    podlab: list[str]
    podctl: list[str]
    env: dict[str, str]


def _user_env(tmp_path: Path, path: str) -> dict[str, str]:
    """A user's environment for one test: its own HOME (~/.podlab/config) and state directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "HOME": str(tmp_path), "PODLAB_STATE_DIR": str(tmp_path / "state"),
            "PODLAB_SERVER": "", "PATH": path}


def test_podlab_up_runs_pods_and_down_stops_every_process_and_container(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    install = Install([sys.executable, "-m", "lab.launcher"], [sys.executable, "-m", "podctl"],
                      _user_env(tmp_path, os.environ.get("PATH", "")))
    _up_pod_down(install, docker_kit.node("up"), tmp_path)


@pytest.fixture
def clean_install(tmp_path: Path) -> Iterator[Install]:
    """A fresh venv with the checkout installed by `pip install .` (a copy of the sources, so no
    build/ is left in the checkout), and an environment whose PATH has that venv and the system's
    directories only: nothing of the venv the tests run in."""
    venv, src = tmp_path / "venv", tmp_path / "src"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([sys.executable, str(REPO / "scripts" / "project.py"), "copy-sources", str(src)],
                   check=True, timeout=60)
    find_links = ["--find-links", str(WHEELHOUSE)] if any(WHEELHOUSE.glob("*.whl")) else []
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                          "--root-user-action=ignore", "-q", *find_links, str(src)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    assert pip.returncode == 0, f"pip install . failed:\n{pip.stdout[-3000:]}\n{pip.stderr[-3000:]}"
    system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env = _user_env(tmp_path, f"{venv / 'bin'}:{system_path}")
    yield Install([str(venv / "bin" / "podlab")], [str(venv / "bin" / "podctl")], env)


@pytest.mark.timeout(900)  # pip install included: the index, or pip's cache
def test_a_clean_install_runs_podlab_up_podctl_and_a_pod(
        clean_install: Install, docker_kit: DockerKit, tmp_path: Path) -> None:
    venv = Path(clean_install.podlab[0]).parent.parent
    # Installed, not linked to the checkout: every package from the venv, no test or bench code.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import json, importlib.util as u, lab, podctl, podlab;"
         "from importlib import metadata as m; print(json.dumps({'files': [lab.__file__, podctl.__file__,"
         " podlab.__file__], 'absent': [n for n in ('tests', 'bench') if u.find_spec(n) is None],"
         " 'direct_url': m.distribution('podlab').read_text('direct_url.json')}))"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=clean_install.env, check=True)
    found = json.loads(where.stdout)
    assert all(f.startswith(str(venv / "lib")) for f in found["files"]), found
    assert found["absent"] == ["tests", "bench"], found
    assert not json.loads(found["direct_url"] or "{}").get("dir_info", {}).get("editable"), found

    version = subprocess.run([*clean_install.podctl, "version", "--client"], capture_output=True, text=True,
                             timeout=30, env=clean_install.env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == "Client Version: v0.1.0\n", version.stdout + version.stderr
    _up_pod_down(clean_install, docker_kit.node("clean"), tmp_path, server_version=True)


def _up_pod_down(install: Install, prefix: str, tmp_path: Path, server_version: bool = False) -> None:
    """`podlab up --nodes 1`; its node Ready; `podctl get nodes` finds the server from the config
    `up` wrote; a pod Running; `podlab down` stops every process it started and removes the pods'
    containers and network. Whatever `up` started is killed and removed even when a step fails."""
    port, env = free_port(), install.env
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([*install.podlab, "up", "--nodes", "1", "--port", str(port), "--node-prefix", prefix],
                          stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    try:
        podctl = Podctl(f"127.0.0.1:{port}", install.podctl, env)
        wait_for(lambda: " Ready " in podctl("get", "nodes", check=False).stdout, 90,
                 message=f"the node to be Ready (podlab up said: {(tmp_path / 'up.log').read_text()[-2000:]})")
        # No flag, no variable: podctl reads ~/.podlab/config, which `up` wrote.
        found = subprocess.run([*install.podctl, "get", "nodes"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=30)
        assert found.returncode == 0 and f"{prefix}1" in found.stdout, found.stdout + found.stderr
        if server_version:
            version = subprocess.run([*install.podctl, "version"], env=env, cwd=tmp_path,
                                     capture_output=True, text=True, timeout=30)
            assert version.returncode == 0, version.stdout + version.stderr
            assert re.search(r"^Server Version: \S+$", version.stdout, re.M), version.stdout
        podctl("run", "sleeper", "--image=busybox", "--", "sleep", "3600")
        podctl.wait_status("sleeper", "Running")
        assert docker_cli("ps", "-q", "--filter", f"label=io.podlab.node={prefix}1").split()
        # The pod reaches the Kubernetes API where its KUBERNETES_* variables say: the host, on the pods' bridge.
        reach = podctl("exec", "sleeper", "--", "sh", "-c", 'nc -z -w 5 "$KUBERNETES_SERVICE_HOST" '
                       '"$KUBERNETES_SERVICE_PORT" && echo "$KUBERNETES_PORT"')
        assert re.fullmatch(r"tcp://[\d.]+:6443\n", reach.stdout), reach.stdout + reach.stderr

        down = subprocess.run([*install.podlab, "down"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "podlab is down" in down.stdout, down.stdout + down.stderr
        assert up.wait(30) == 0
        pids = _started(tmp_path / "up.log")
        assert len(pids) == 4  # etcd, control plane, scheduler, one agent
        for pid in pids:
            wait_for(lambda pid=pid: not _alive(pid), 10, message=f"process {pid} to exit")
        assert docker_cli("ps", "-aq", "--filter", f"label=io.podlab.node={prefix}1") == ""
        assert docker_cli("network", "ls", "-q", "--filter", f"name=^{POD_NETWORK}$") == ""
    finally:
        if up.poll() is None:  # the test failed before `down`: kill what `up` started
            for pid in [up.pid, *_started(tmp_path / "up.log")]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            up.wait(10)
        log.close()
        remove_node_leftovers([f"{prefix}1"], POD_NETWORK)


def _started(log: Path) -> list[int]:
    """The pids `podlab up` says it started."""
    return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.read_text())]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for the user's purposes.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
