"""The agent's word to its fence watchdog: a small file the agent rewrites every heartbeat.

The watchdog (nodeagent.watchdog) is a separate process, so that a node whose
agent is frozen, hung or dead still stops its pods in time. It learns two
things from the beacon: when the agent last renewed its lease (`renewed_at`,
written only after a successful renewal), and, when renewal fails, the latest
moment the agent had evidence that the failure is everyone's (`held_at`; see
nodeagent.witness): then nobody can replace the node's pods, so none must
stop. Agent and watchdog follow one rule, `fence_due`: fence a fence timeout
after the later of the two. So a hold counts only while its evidence is
fresh: an agent that froze while holding is fenced a fence timeout after the
last of it.

Times are the kernel's monotonic clock (CLOCK_MONOTONIC, Python's
time.monotonic): one clock for every process on the machine, containers
included (Docker makes no time namespaces), and unmoved when the wall clock is
set, so a clock step can neither fence a healthy node nor spare a dead one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RENEWED = "renewed"
UNREACHABLE = "unreachable"  # the control plane did not answer: maybe only this node is cut off
STORAGE_UNAVAILABLE = "storage-unavailable"  # the API answered that its storage is down


@dataclass(frozen=True)
class Beacon:
    renewed_at: float  # the last successful lease renewal (monotonic s)
    written_at: float  # when the agent wrote this (monotonic s)
    reason: str  # RENEWED, or why the last renewal failed
    hold: bool  # the agent holds: the failure is everyone's (for the log; held_at decides)
    fence_timeout: float
    agent_pid: int = 0
    held_at: float = 0.0  # the latest evidence that nobody can replace the pods (monotonic s)


def beacon_path(root_dir: str) -> Path:
    return Path(root_dir) / "fence" / "beacon.json"


def write_beacon(path: Path, beacon: Beacon) -> None:
    """Replace the file atomically: the watchdog never reads half a beacon."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(beacon)))
    os.replace(tmp, path)


def read_beacon(path: Path) -> Beacon | None:
    """The beacon, or None when there is none (yet) or it cannot be read."""
    try:
        return Beacon(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def fence_due(renewed_at: float, held_at: float, now: float, fence_timeout: float) -> bool:
    """The one fence rule: more than `fence_timeout` since the later of the last renewal and
    the last evidence that nobody could replace the pods."""
    return now - max(renewed_at, held_at) > fence_timeout


def should_fence(beacon: Beacon | None, now: float, fence_timeout: float | None = None) -> bool:
    """Whether the node's pods must be stopped now (`fence_due` on the beacon). No beacon:
    no agent has run here yet, nothing to fence."""
    if beacon is None:
        return False
    timeout = beacon.fence_timeout if fence_timeout is None else fence_timeout
    return fence_due(beacon.renewed_at, beacon.held_at, now, timeout)
