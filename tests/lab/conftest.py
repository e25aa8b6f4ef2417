"""The lab tier: the compose lab (compose/lab.sh) and chaos against it.

The session brings the lab up (or reuses one that is up) and ends with
`compose/lab.sh down`, so no podlab container, volume or network is left
(PODLAB_LAB_KEEP=1 keeps it for the next run, when iterating by hand). Each
scenario starts from a healed lab with every node Ready and no pod, and runs
under an InvariantChecker that samples Docker every 200 ms for a pod name
running twice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from lab.chaos import NODES, InvariantChecker, Lab, LabApi, wait_until, wipe_pods
from tests.conftest import require_tier
from tests.support.procs import REPO, console_script

SERVER = "127.0.0.1:7443"


def _lab_sh(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "compose" / "lab.sh"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def podctl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script("podctl"), "--server", SERVER, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if shutil.which("docker") is None:
        require_tier("lab", "no docker client on PATH")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0 \
            and os.geteuid() != 0:
        require_tier("lab", "no `docker compose` (Compose v2) and not root to install it")
    try:
        try:
            already_up = Lab().is_up()
        except Exception:  # noqa: BLE001 - no engine yet: lab.sh up starts one
            already_up = False
        if not already_up:
            up = _lab_sh("up", timeout=900)
            if up.returncode != 0:
                pytest.fail(f"compose/lab.sh up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}",
                            pytrace=False)
        the_lab = Lab(SERVER, echo=print)
        the_lab.restore()
        yield the_lab
    finally:
        if os.environ.get("PODLAB_LAB_KEEP") != "1":
            down = _lab_sh("down", timeout=300)
            assert down.returncode == 0, f"compose/lab.sh down failed:\n{down.stderr[-3000:]}"
            left = subprocess.run(
                ["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=podlab"],
                capture_output=True, text=True).stdout.split()
            left += [c for n in NODES for c in subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=io.podlab.node={n}"],
                capture_output=True, text=True).stdout.split()]
            assert not left, f"containers left after lab.sh down: {left}"


@pytest.fixture
def api() -> LabApi:
    return LabApi(SERVER)


@pytest.fixture
def scenario(lab: Lab, api: LabApi) -> Iterator[Lab]:
    """A healed lab, every node Ready and schedulable, no pod; wiped again afterwards."""
    lab.restore()
    wait_until(lambda: api.all_ready(), 90, 0.25, "every lab node Ready")
    for node in NODES:
        podctl("uncordon", node)
    wipe_pods(lab, api)
    yield lab
    lab.restore()
    wait_until(lambda: api.all_ready(), 90, 0.25, "every lab node Ready after the scenario")
    leftovers = wipe_pods(lab, api)
    assert not leftovers, f"agents did not remove these pod containers within 60 s: {leftovers}"


@pytest.fixture
def checker(scenario: Lab) -> Iterator[InvariantChecker]:
    with InvariantChecker() as chk:
        yield chk
