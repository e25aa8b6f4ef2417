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
import sys
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
    _use_pidfd_watcher()
    argv = [helper, "--container", target.container_id, "--user", target.user, "--cwd", target.workdir]
    for path in target.cgroups:
        argv += ["--cgroup", path]
    proc = await asyncio.create_subprocess_exec(
        *argv, str(target.pid), "--", *command, env=target.env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except BaseException:
        await _stop(proc)
        raise
    code = proc.returncode if proc.returncode is not None else -1
    if code == HELPER_FAILED and err.startswith(f"{HELPER}: ".encode()):
        raise NsExecUnavailable(err.decode(errors="replace").strip())
    return ExecResult(code, out, err)


def _use_pidfd_watcher() -> None:
    """Python 3.11 waits for every subprocess on a thread of its own; a pidfd in the
    running loop does without (3.12 does so by itself)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    watcher = asyncio.get_child_watcher()
    if isinstance(watcher, asyncio.PidfdChildWatcher) and watcher.is_active():
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill a command that ran out of time: SIGTERM makes the helper kill the command's
    process group. A process that left the group may still hold the output pipes,
    which `wait()` also waits for; it is not waited for longer than a moment."""
    for signal_it in (proc.terminate, proc.kill):
        with contextlib.suppress(ProcessLookupError):
            signal_it()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await proc.wait()
                return
    log.warning("exec helper %s: output still held open after the kill", proc.pid)


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
