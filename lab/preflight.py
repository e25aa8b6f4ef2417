"""What `podlab up` checks before it starts anything: its ports, and clusters already running.

Everything here reads /proc (Linux): which process listens on a port, which
`podlab up` a process belongs to, which node agents run. A check answers with
one line a user can act on (what runs, how to stop it, which flag avoids it),
raised as `Busy`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


class Busy(Exception):
    """Something `podlab up` needs is taken; the message is the one line to show."""


@dataclass(frozen=True)
class Process:
    pid: int
    argv: list[str]

    @property
    def command(self) -> str:
        return " ".join(self.argv)[:120]


def process(pid: int) -> Process | None:
    """The live process `pid`, or None (gone, or a zombie)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return Process(pid, [a.decode(errors="replace") for a in raw.split(b"\0") if a])


def parent(pid: int) -> int:
    try:
        return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def is_podlab_up(p: Process) -> bool:
    """`podlab up` as a console script or as `python -m lab.launcher up`."""
    argv = p.argv
    if "up" not in argv:
        return False
    before = argv[:argv.index("up")]
    return any(Path(a).name == "podlab" or a == "lab.launcher" for a in before)


def cluster_of(pid: int) -> Process | None:
    """The `podlab up` that `pid` is, or was started by (its parents, nearest first)."""
    seen = 0
    while pid > 1 and seen < 64:
        p = process(pid)
        if p is not None and is_podlab_up(p):
            return p
        pid, seen = parent(pid), seen + 1
    return None


def _listening_inodes() -> dict[int, set[str]]:
    """Local TCP port -> the inodes of its listening sockets (IPv4 and IPv6)."""
    out: dict[int, set[str]] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":  # LISTEN
                port = int(fields[1].rsplit(":", 1)[1], 16)
                out.setdefault(port, set()).add(fields[9])
    return out


def port_owner(port: int) -> Process | None:
    """The process listening on TCP `port`, when /proc tells (None: nobody, or unknown)."""
    inodes = _listening_inodes().get(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    return process(int(entry.name))
            except OSError:
                continue
    return None


def port_free(host: str, port: int) -> bool:
    """Whether a server could bind `host:port` now (as the components bind it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _state_dir_of(p: Process) -> str:
    """Where a running `podlab up` keeps its state (its PODLAB_STATE_DIR, else its HOME's)."""
    try:
        env = dict(kv.split("=", 1) for kv in
                   (PROC / str(p.pid) / "environ").read_bytes().decode(errors="replace").split("\0")
                   if "=" in kv)
    except OSError:
        return ""
    return env.get("PODLAB_STATE_DIR") or (f"{env['HOME']}/.podlab/local" if "HOME" in env else "")


def describe_cluster(up: Process) -> str:
    state = _state_dir_of(up)
    where = f", state {state}" if state else ""
    return f"a podlab cluster (`podlab up`, pid {up.pid}{where})"


def check_port(host: str, port: int, flag: str) -> None:
    """Raise Busy, naming what holds the port and how to get it back, unless it is free."""
    if port_free(host, port):
        return
    owner = port_owner(port)
    up = cluster_of(owner.pid) if owner is not None else None
    if up is not None:
        raise Busy(f"port {port} is in use by {describe_cluster(up)}: stop it with "
                   f"`podlab down` (PODLAB_STATE_DIR={_state_dir_of(up) or '?'}), or pick "
                   "other ports with --port and --https-port")
    who = f"pid {owner.pid} ({owner.command})" if owner is not None else "another process"
    raise Busy(f"port {port} ({flag}) is in use by {who}: stop it, or pick another port with {flag}")


def _flag(argv: list[str], name: str) -> str:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return ""


def running_agents() -> dict[str, Process]:
    """Node name -> a node agent process running on this machine."""
    out: dict[str, Process] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        p = process(int(entry.name))
        if p is None:
            continue
        if "nodeagent" in p.argv or any(Path(a).name == "podlab-nodeagent" for a in p.argv[:2]):
            name = _flag(p.argv, "--node-name")
            if name:
                out.setdefault(name, p)
    return out


def check_nodes(names: list[str]) -> None:
    """Raise Busy when an agent for one of `names` already runs here (of another cluster)."""
    agents = running_agents()
    for name in names:
        p = agents.get(name)
        if p is None:
            continue
        up = cluster_of(p.pid)
        owner = describe_cluster(up) if up is not None else f"pid {p.pid}"
        raise Busy(f"a node agent for {name} already runs (pid {p.pid}, of {owner}): stop that "
                   "cluster with `podlab down`, or name these nodes otherwise with --node-prefix")
