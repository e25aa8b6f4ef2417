"""Exec probes and hooks without the engine: enter the container with podlab-nsexec.

Through Docker one exec costs ~70 ms of CPU here (dockerd, containerd, the
shim and two runc start-ups), so a hundred exec probes a second need more
cores than a small node has. `podlab-nsexec` (nodeagent/nsexec.c) does what
`runc exec` does for such a command: it joins the container's cgroups,
enters its namespaces and root, takes its capability sets and runs the
command as the container's user with the container's environment, for ~3 ms.

It can only do that from where the container's processes are visible: the
agent must be root in the host's pid namespace. `target_of` checks this for
every container (its main pid's cgroup names the container's id); when it
cannot, or the helper is not installed, the runtime execs through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeagent.runtime.base import ExecResult

log = logging.getLogger("podlab.nodeagent.nsexec")

HELPER = "podlab-nsexec"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HELPER_FAILED = 125  # with a "podlab-nsexec: " line: the helper, not the command, failed


class NsExecUnavailable(Exception):
    """The container could not be entered; exec through the engine instead."""


@dataclass(frozen=True)
class Target:
    """How to enter one running container."""

    container_id: str
    pid: int
    user: str  # uid:gid[:supplementary,...]
    workdir: str
    env: dict[str, str]
    cgroups: tuple[str, ...]  # the cgroup.procs files to join


def find_helper(setting: str) -> str | None:
    """The helper's path: `setting` ("auto": look on PATH; "none": never use it)."""
    if setting == "none":
        return None
    if setting == "auto":
        return shutil.which(HELPER)
    return setting


def target_of(attrs: dict[str, Any]) -> Target | None:
    """How to enter the container `attrs` (docker inspect) from this process; None when
    it cannot be done here (not running, not root, pid not visible, unknown user)."""
    state = attrs.get("State") or {}
    pid = int(state.get("Pid") or 0)
    if not state.get("Running") or pid <= 0 or os.geteuid() != 0:
        return None
    container_id = str(attrs.get("Id", ""))
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    if not container_id or container_id not in cgroup:
        return None  # another pid namespace: this pid is not the container's process
    config = attrs.get("Config") or {}
    resolved = _resolve_user(str(config.get("User") or ""), Path(f"/proc/{pid}/root"))
    if resolved is None:
        return None
    user, home = resolved
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOME", home)
    env.setdefault("HOSTNAME", str(config.get("Hostname") or ""))
    workdir = str(config.get("WorkingDir") or "/")
    cgroups = cgroup_files(cgroup)
    if cgroups is None:
        return None  # a cgroup not visible here: the command could escape its limits
    return Target(container_id, pid, user, workdir, env, tuple(cgroups))


async def nsexec(helper: str, target: Target, command: list[str], timeout: float) -> ExecResult:
    """Run `command` in `target`; TimeoutError after `timeout` s (the command is killed)."""
    argv = [helper, "--container", target.container_id, "--user", target.user, "--cwd", target.workdir]
    for path in target.cgroups:
        argv += ["--cgroup", path]
    try:
        spawned = _Spawned(argv + [str(target.pid), "--", *command], target.env)
    except OSError as spawn_error:  # e.g. the helper was removed since the agent started
        raise NsExecUnavailable(f"{helper}: {spawn_error}") from spawn_error
    code, out, err = await spawned.result(timeout)
    if code == HELPER_FAILED and err.startswith(f"{HELPER}: ".encode()):
        raise NsExecUnavailable(err.decode(errors="replace").strip())
    return ExecResult(code, out, err)


class _Spawned:
    """One helper run: posix_spawn, its output read and its exit seen (a pidfd) in the
    running loop. A third of what asyncio's subprocess machinery costs per run, and
    the result does not wait on pipes a stray grandchild may still hold open."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.loop = asyncio.get_running_loop()
        self.output: dict[int, list[bytes]] = {}
        out_r, out_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        err_r, err_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            self.pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.out, self.err = out_r, err_r
        self.pidfd = os.pidfd_open(self.pid)
        self.exited: asyncio.Future[int] = self.loop.create_future()
        for fd in (out_r, err_r):
            self.output[fd] = []
            self.loop.add_reader(fd, self._read, fd)
        self.loop.add_reader(self.pidfd, self._reap)

    def _read(self, fd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while data := os.read(fd, 65536):
                self.output[fd].append(data)
            self.loop.remove_reader(fd)  # end of file

    def _reap(self) -> None:
        self.loop.remove_reader(self.pidfd)
        _, status = os.waitpid(self.pid, 0)
        if not self.exited.done():
            self.exited.set_result(os.waitstatus_to_exitcode(status))

    async def result(self, timeout: float) -> tuple[int, bytes, bytes]:
        try:
            async with asyncio.timeout(timeout):
                code = await asyncio.shield(self.exited)
        except BaseException:
            await self._stop()
            raise
        finally:
            for fd in (self.out, self.err):
                self._read(fd)  # what is left in the pipe
                self.loop.remove_reader(fd)
                os.close(fd)
        os.close(self.pidfd)
        return code, b"".join(self.output[self.out]), b"".join(self.output[self.err])

    async def _stop(self) -> None:
        """SIGTERM makes the helper kill the command's process group; SIGKILL if it lingers."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.shield(self.exited)
                    break
        if not self.exited.done():
            self.loop.remove_reader(self.pidfd)
            log.warning("exec helper %d did not exit after SIGKILL", self.pid)
        os.close(self.pidfd)


# -- users --------------------------------------------------------------------------------

def _read_in_root(root: Path, *parts: str) -> str:
    """A file of the container's, following no symlink: an absolute one read through
    /proc/PID/root would lead into the agent's own filesystem. "" when absent."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return ""
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        with os.fdopen(os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd),
                       errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""
    finally:
        os.close(fd)


def _entries(root: Path, name: str) -> list[list[str]]:
    text = _read_in_root(root, "etc", name)
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _resolve_user(spec: str, root: Path) -> tuple[str, str] | None:
    """(`uid:gid:groups`, home) for a container's User ("", "name", "uid",
    "name:group", "uid:gid"), resolved in its /etc/passwd and /etc/group as runc
    does; None when a name is unknown (the engine then reports the error)."""
    name, _, group = spec.partition(":")
    passwd = _entries(root, "passwd")
    groups = _entries(root, "group")
    if not name:
        name = "0"
    entry = next((e for e in passwd if len(e) > 3 and (e[0] == name or e[2] == name)), None)
    if name.isdigit():
        uid = int(name)
    elif entry is not None:
        uid = int(entry[2])
    else:
        return None
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            match = next((g for g in groups if len(g) > 2 and g[0] == group), None)
            if match is None:
                return None
            gid = int(match[2])
    login = entry[0] if entry is not None else None
    # Supplementary: the primary group and every group listing the user, as runc sets them.
    extra = sorted({gid} | {int(g[2]) for g in groups
                            if login and len(g) > 3 and g[2].isdigit() and login in g[3].split(",")})
    home = entry[5] if entry is not None and len(entry) > 5 and entry[5] else "/"
    return f"{uid}:{gid}:" + ",".join(map(str, extra)), home


# -- cgroups ------------------------------------------------------------------------------

@functools.cache
def _cgroup_mounts() -> tuple[tuple[str, str, frozenset[str] | None], ...]:
    """(root, mount point, controllers; None for cgroup2) of this process's cgroup mounts."""
    mounts: list[tuple[str, str, frozenset[str] | None]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            mounts.append((fields[3], fields[4], None))
        elif tail[0] == "cgroup":
            mounts.append((fields[3], fields[4], frozenset(tail[2].split(","))))
    return tuple(mounts)


def cgroup_files(proc_cgroup: str) -> list[str] | None:
    """The cgroup.procs files, in this process's view, of every cgroup listed in
    /proc/PID/cgroup text (v1 hierarchies and the v2 unified one); None when one
    of them is not visible from here (e.g. the agent in a container of its own)."""
    files = []
    for line in proc_cgroup.splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        wanted = frozenset(controllers.split(",")) if controllers else None
        found = None
        for root, mount_point, options in _cgroup_mounts():
            if wanted is None and (options is not None or hierarchy != "0"):
                continue
            if wanted is not None and (options is None or not wanted <= options):
                continue
            relative = os.path.relpath(path, root)
            if relative == ".." or relative.startswith("../"):
                continue  # this mount shows only part of the tree
            found = os.path.normpath(os.path.join(mount_point, relative, "cgroup.procs"))
            break
        if found is None:
            return None
        files.append(found)
    return files
