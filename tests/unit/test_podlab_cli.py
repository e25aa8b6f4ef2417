"""The `podlab` command line (launcher and chaos) on click: its commands, flags, and one-line errors.

The actions themselves are proven against a real cluster (tests/e2e/test_launcher.py) and the
compose lab (tests/lab); here a fake Lab stands in, so nothing needs Docker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lab import chaos, launcher
from lab.chaos import LabError

pytestmark = pytest.mark.unit

ACTIONS = ["power-off", "power-on", "partition", "heal", "freeze", "thaw",
           "restart-controlplane", "kill-scheduler-leader", "restart-etcd", "stop-controlplane",
           "stop-etcd", "restore"]


def podlab(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(launcher.app, list(args), prog_name="podlab", env=env)


def listed_commands(help_text: str) -> list[str]:
    section = help_text.split("Commands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()]


class FakeLab:
    """Records the action asked for; `fail` makes every action raise it."""

    calls: list[tuple[str, str, tuple[object, ...]]] = []
    fail: Exception | None = None

    def __init__(self, server: str, echo: Callable[[str], None]) -> None:
        self.server = server
        self.echo = echo

    def __getattr__(self, action: str) -> Callable[..., None]:
        def act(*args: object) -> None:
            if FakeLab.fail is not None:
                raise FakeLab.fail
            FakeLab.calls.append((action, self.server, args))
            self.echo(f"2026-11-23T10:00:00.123Z {action} {' '.join(map(str, args))}".rstrip())
        return act

    # The lab-wide actions are taken from the class (`_run(Lab.restore)`), unbound: each routes
    # its instance to the recorder above.
    restart_controlplane = staticmethod(lambda lab: lab.__getattr__("restart_controlplane")())
    kill_scheduler_leader = staticmethod(lambda lab: lab.__getattr__("kill_scheduler_leader")())
    restart_etcd = staticmethod(lambda lab: lab.__getattr__("restart_etcd")())
    restore = staticmethod(lambda lab: lab.__getattr__("restore")())


@pytest.fixture
def fake_lab(monkeypatch: pytest.MonkeyPatch) -> type[FakeLab]:
    FakeLab.calls, FakeLab.fail = [], None
    monkeypatch.setattr(chaos, "Lab", FakeLab)
    return FakeLab


def test_podlab_lists_up_down_and_chaos_in_that_order() -> None:
    result = podlab("--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: podlab [OPTIONS] COMMAND [ARGS]...")
    assert listed_commands(result.output) == ["up", "down", "chaos"]


def test_no_arguments_prints_the_help() -> None:
    result = podlab()
    assert "Usage: podlab [OPTIONS] COMMAND" in result.output
    assert listed_commands(result.output) == ["up", "down", "chaos"]


def test_chaos_lists_every_action_in_the_order_a_user_reads_them() -> None:
    result = podlab("chaos", "--help")
    assert result.exit_code == 0, result.output
    assert listed_commands(result.output) == ACTIONS
    assert "NODE is node1, node2 or node3" in result.output


def test_up_keeps_every_flag_and_default() -> None:
    result = podlab("up", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for flag, default in [("--nodes", "3"), ("--runtime", "docker"), ("--port", "7443"),
                          ("--node-grace", "4.0"), ("--pod-eviction-timeout", "4.0"),
                          ("--node-prefix", "node")]:
        assert flag in text
        assert f"default: {default}" in text
    assert "--mirror PATH" in text


def test_up_refuses_an_unknown_runtime_and_a_negative_node_count() -> None:
    result = podlab("up", "--runtime", "kvm")
    assert result.exit_code == 2
    assert "Invalid value: --runtime must be docker or sim" in result.output
    result = podlab("up", "--nodes", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '--nodes'" in result.output


def test_down_without_a_running_cluster_says_so_and_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "STATE_DIR", tmp_path)
    result = podlab("down")
    assert result.exit_code == 0
    assert result.output == "no local cluster is running\n"


def test_down_with_a_stale_pid_file_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "STATE_DIR", tmp_path)
    (tmp_path / "pid").write_text("999999999")  # no such process
    result = podlab("down")
    assert result.exit_code == 0
    assert result.output == "no local cluster is running\n"
    assert not (tmp_path / "pid").exists()


@pytest.mark.parametrize("action", ["power-off", "power-on", "partition", "heal", "freeze", "thaw"])
def test_a_node_action_runs_on_the_named_node_and_prints_its_line(fake_lab: type[FakeLab], action: str) -> None:
    result = podlab("chaos", action, "node2")
    assert result.exit_code == 0, result.output
    assert fake_lab.calls == [(action.replace("-", "_"), chaos.SERVER, ("node2",))]
    assert result.output == f"2026-11-23T10:00:00.123Z {action.replace('-', '_')} node2\n"


def test_a_node_action_needs_a_node() -> None:
    result = podlab("chaos", "power-off")
    assert result.exit_code == 2
    assert "Missing argument 'NODE'" in result.output


def test_kill_scheduler_leader_takes_its_server_from_the_flag_or_the_environment(
        fake_lab: type[FakeLab]) -> None:
    assert podlab("chaos", "kill-scheduler-leader").exit_code == 0
    assert podlab("chaos", "kill-scheduler-leader", env={"PODLAB_SERVER": "127.0.0.1:9"}).exit_code == 0
    assert podlab("chaos", "kill-scheduler-leader", "--server", "127.0.0.1:8").exit_code == 0
    assert [server for _, server, _ in fake_lab.calls] == [chaos.SERVER, "127.0.0.1:9", "127.0.0.1:8"]


def test_a_lab_error_is_one_line_and_exit_code_1(fake_lab: type[FakeLab]) -> None:
    fake_lab.fail = LabError("unknown node 'node7': the lab's nodes are node1, node2, node3")
    result = podlab("chaos", "power-off", "node7")
    assert result.exit_code == 1
    assert result.output == "error: unknown node 'node7': the lab's nodes are node1, node2, node3\n"


def test_any_other_failure_is_one_line_with_its_type_not_a_traceback(fake_lab: type[FakeLab]) -> None:
    fake_lab.fail = RuntimeError("engine went away\nsecond line")
    result = podlab("chaos", "restore")
    assert result.exit_code == 1
    assert result.output == "error: RuntimeError: engine went away\n"


def test_each_local_node_gets_its_own_loopback_address_for_its_host_ports(tmp_path: Path) -> None:
    argvs = [launcher.agent_argv("py", "127.0.0.1:7443", f"node{i}", i, 7500 + i, "docker", tmp_path,
                                 "", 6443, tmp_path / "no-mirror") for i in (1, 2, 3)]
    host_ips = [argv[argv.index("--host-ip") + 1] for argv in argvs]
    assert host_ips == ["127.0.10.1", "127.0.10.2", "127.0.10.3"]
    # What the agent binds for hostIP 0.0.0.0 is what the scheduler and the Node say.
    from nodeagent.specs import host_ports
    from podlab.v1 import objects_pb2 as v1
    pod = v1.Pod()
    pod.spec.containers.add(name="web", image="nginx").ports.add(
        container_port=80, host_port=80, host_ip="0.0.0.0")
    assert [m.host_ip for m in host_ports(pod, host_ips[1])] == ["127.0.10.2"]


def test_up_refuses_more_nodes_than_addresses() -> None:
    result = podlab("up", "--nodes", "255")
    assert result.exit_code == 2 and "Invalid value for '--nodes'" in result.output


def test_up_with_its_port_taken_fails_with_one_line_naming_the_process_and_starts_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import socket

    monkeypatch.setattr(launcher, "STATE_DIR", tmp_path)
    started: list[str] = []
    monkeypatch.setattr(launcher.Cluster, "start", lambda self, name, argv: started.append(name))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = podlab("up", "--runtime", "sim", "--nodes", "0", "--port", str(port))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: port {port} (--port) is in use by pid {os.getpid()} (")
    assert lines[0].endswith("stop it, or pick another port with --port")
    assert started == [] and not (tmp_path / "pid").exists()


def test_a_second_up_in_one_state_dir_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    first = launcher.StateLock(tmp_path)
    first.acquire()
    first.mark_running()
    try:
        with pytest.raises(launcher.preflight.Busy, match=r"^podlab is already running from .* \(pid \d+\): "
                           r"stop it with `podlab down`"):
            launcher.StateLock(tmp_path).acquire()
    finally:
        first.release()
    again = launcher.StateLock(tmp_path)
    again.acquire()  # free once the first is gone
    again.release()


def test_an_up_racing_a_down_waits_for_the_stopping_cluster_then_fails_clearly(tmp_path: Path) -> None:
    first = launcher.StateLock(tmp_path)
    first.acquire()
    first.mark_running()
    first.mark_stopping()
    ticks = iter(range(100))
    try:
        with pytest.raises(launcher.preflight.Busy, match="is still stopping after 1s"):
            launcher.StateLock(tmp_path).acquire(wait=1.0, clock=lambda: float(next(ticks)))
    finally:
        first.release()


def test_preflight_names_the_podlab_cluster_a_port_belongs_to(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import preflight

    up = preflight.Process(4242, ["/venv/bin/python", "-m", "lab.launcher", "up", "--nodes", "3"])
    monkeypatch.setattr(preflight, "port_free", lambda host, port: False)
    monkeypatch.setattr(preflight, "port_owner", lambda port: preflight.Process(4243, ["python", "-m",
                                                                                       "controlplane"]))
    monkeypatch.setattr(preflight, "cluster_of", lambda pid: up)
    monkeypatch.setattr(preflight, "_state_dir_of", lambda p: "/home/a/.podlab/local")
    with pytest.raises(preflight.Busy) as err:
        preflight.check_port("127.0.0.1", 7443, "--port")
    assert str(err.value) == (
        "port 7443 is in use by a podlab cluster (`podlab up`, pid 4242, state /home/a/.podlab/local): "
        "stop it with `podlab down` (PODLAB_STATE_DIR=/home/a/.podlab/local), or pick other ports "
        "with --port and --https-port")
    assert preflight.is_podlab_up(up) and preflight.is_podlab_up(preflight.Process(1, ["/v/bin/podlab", "up"]))
    assert not preflight.is_podlab_up(preflight.Process(1, ["/v/bin/podlab", "down"]))
