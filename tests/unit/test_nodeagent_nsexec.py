"""How the agent resolves a container's user and cgroups before entering it (podlab-nsexec)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeagent.runtime import nsexec
from nodeagent.runtime.nsexec import _resolve_user, cgroup_files

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www:x:33:33:www:/var/www:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
www:x:33:
adm:x:4:www,daemon
audio:x:29:www
nogroup:x:65534:
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(("spec", "expected"), [
    ("", ("0:0:0", "/root")),
    ("root", ("0:0:0", "/root")),
    ("www", ("33:33:4,29,33", "/var/www")),
    ("33", ("33:33:4,29,33", "/var/www")),
    ("www:adm", ("33:4:4,29", "/var/www")),
    ("www:1", ("33:1:1,4,29", "/var/www")),
    ("1234", ("1234:0:0", "/")),  # no passwd entry: gid 0, home /
    ("1234:5678", ("1234:5678:5678", "/")),
])
def test_users_resolve_as_runc_resolves_them(rootfs: Path, spec: str, expected: tuple[str, str]) -> None:
    assert _resolve_user(spec, rootfs) == expected


@pytest.mark.parametrize("spec", ["ghost", "www:ghosts"])
def test_an_unknown_name_is_left_to_the_engine(rootfs: Path, spec: str) -> None:
    assert _resolve_user(spec, rootfs) is None


def test_a_root_without_etc_files_still_resolves_numeric_users(tmp_path: Path) -> None:
    assert _resolve_user("", tmp_path) == ("0:0:0", "/")
    assert _resolve_user("7:8", tmp_path) == ("7:8:8", "/")
    assert _resolve_user("someone", tmp_path) is None


V1_HOST = (("/", "/sys/fs/cgroup/memory", frozenset({"rw", "memory"})),
           ("/", "/sys/fs/cgroup/cpu,cpuacct", frozenset({"rw", "cpu", "cpuacct"})),
           ("/", "/sys/fs/cgroup/systemd", frozenset({"rw", "xattr", "name=systemd"})))
V1_CONTAINER = """4:memory:/docker/abc
2:cpu,cpuacct:/docker/abc
1:name=systemd:/docker/abc
"""


def test_v1_hierarchies_map_to_their_mounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nsexec, "_cgroup_mounts", lambda: V1_HOST)
    assert cgroup_files(V1_CONTAINER) == [
        "/sys/fs/cgroup/memory/docker/abc/cgroup.procs",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cgroup.procs",
        "/sys/fs/cgroup/systemd/docker/abc/cgroup.procs"]


def test_the_v2_unified_hierarchy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nsexec, "_cgroup_mounts", lambda: (("/", "/sys/fs/cgroup", None),))
    assert cgroup_files("0::/system.slice/docker-abc.scope\n") == [
        "/sys/fs/cgroup/system.slice/docker-abc.scope/cgroup.procs"]


def test_a_cgroup_outside_every_visible_mount_means_no_direct_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent in a container sees only its own subtree: entering would leave the
    command outside the pod's limits, so the engine execs instead."""
    own = (("/docker/agent", "/sys/fs/cgroup/memory", frozenset({"rw", "memory"})),)
    monkeypatch.setattr(nsexec, "_cgroup_mounts", lambda: own)
    assert cgroup_files("4:memory:/docker/abc\n") is None
    # the host's tree mounted as well: that mount is used
    monkeypatch.setattr(nsexec, "_cgroup_mounts",
                        lambda: (*own, ("/", "/host/cgroup/memory", frozenset({"rw", "memory"}))))
    assert cgroup_files("4:memory:/docker/abc\n") == ["/host/cgroup/memory/docker/abc/cgroup.procs"]


def test_a_hierarchy_with_no_mount_means_no_direct_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nsexec, "_cgroup_mounts", lambda: V1_HOST)
    assert cgroup_files(V1_CONTAINER + "8:pids:/docker/abc\n") is None


def test_a_symlinked_passwd_is_not_followed(tmp_path: Path) -> None:
    """Read through /proc/PID/root, an absolute symlink would lead into the agent's
    own filesystem: the container's files are read without following any."""
    elsewhere = tmp_path / "host"
    elsewhere.mkdir()
    (elsewhere / "passwd").write_text("www:x:0:0:leak:/host-secret:/bin/sh\n")
    root = tmp_path / "container"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").symlink_to(elsewhere / "passwd")
    assert _resolve_user("www", root) is None
    assert _resolve_user("33", root) == ("33:0:0", "/")
    (root / "etc/passwd").unlink()
    (root / "etc").rmdir()
    (root / "etc").symlink_to(elsewhere)
    assert _resolve_user("www", root) is None


def test_the_exec_helper_flag_takes_auto_none_or_an_executable(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.config import parse_args

    assert parse_args(["--exec-helper", "none"]).exec_helper == "none"
    assert parse_args([]).exec_helper == "auto"
    with pytest.raises(SystemExit):
        parse_args(["--exec-helper", str(tmp_path / "missing")])
    assert "is not an executable file" in capsys.readouterr().err
