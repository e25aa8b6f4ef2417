"""When the Docker runtime reuses a container's inspection, and when it asks the engine again.

The rule (DockerRuntime._inspect_all): an inspection is reused only while no
engine event came for the container and the engine's list shows it in the
state the inspection recorded. Docker 20.10 sends "die" before its list shows
the exit, so the list alone must never be trusted.
"""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from nodeagent.runtime.docker import DockerRuntime

pytestmark = pytest.mark.unit


class FakeEngine:
    """The two engine calls _inspect_all makes, over a dict of containers by id."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}  # what inspect says
        self.list_lag: dict[str, str] = {}  # what the list still says instead, for a while
        self.inspections: list[str] = []

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: A002
        return [{"Id": cid, "State": self.list_lag.get(cid, state)} for cid, state in self.states.items()]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self.inspections.append(cid)
        if cid not in self.states:
            raise docker.errors.NotFound(f"No such container: {cid}")
        state = self.states[cid]
        return {"Id": cid, "State": {"Status": state, "Running": state == "running", "ExitCode": 0},
                "Config": {"Labels": {}}}


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def runtime(engine: FakeEngine) -> DockerRuntime:
    # Only the inspection bookkeeping is under test: no engine connection, no exec helper.
    rt = DockerRuntime.__new__(DockerRuntime)
    rt._api = engine
    rt._inspected, rt._events_seen, rt._targets = {}, {}, {}
    rt._helper = None
    return rt


def statuses(runtime: DockerRuntime, complete: bool = False) -> dict[str, str]:
    return {a["Id"]: a["State"]["Status"] for a in runtime._inspect_all({}, complete)}


def test_an_unchanged_container_is_inspected_once(runtime: DockerRuntime, engine: FakeEngine) -> None:
    engine.states = {"a": "running", "b": "exited"}
    assert statuses(runtime) == {"a": "running", "b": "exited"}
    assert statuses(runtime) == {"a": "running", "b": "exited"}
    assert sorted(engine.inspections) == ["a", "b"]


def test_an_engine_event_makes_the_next_list_inspect_again(runtime: DockerRuntime,
                                                           engine: FakeEngine) -> None:
    engine.states = {"a": "running"}
    statuses(runtime)
    # "die" arrived but the engine's list still says running (Docker 20.10's order).
    runtime._events_seen["a"] = 1
    engine.states["a"], engine.list_lag["a"] = "exited", "running"
    engine.inspections.clear()
    assert statuses(runtime) == {"a": "exited"}
    assert engine.inspections == ["a"]
    engine.list_lag.clear()
    assert statuses(runtime) == {"a": "exited"}
    assert engine.inspections == ["a"], "the fresh inspection is reused until the next event"


def test_a_listed_state_that_differs_from_the_inspection_is_not_trusted(
        runtime: DockerRuntime, engine: FakeEngine) -> None:
    engine.states = {"a": "running"}
    statuses(runtime)
    engine.states["a"] = "exited"  # an event the stream dropped: the list still tells
    assert statuses(runtime) == {"a": "exited"}
    assert engine.inspections == ["a", "a"]


def test_a_complete_list_forgets_containers_that_are_gone(runtime: DockerRuntime,
                                                          engine: FakeEngine) -> None:
    engine.states = {"a": "running", "b": "running"}
    statuses(runtime, complete=True)
    runtime._events_seen["b"] = 3
    del engine.states["b"]
    assert statuses(runtime, complete=True) == {"a": "running"}
    assert set(runtime._inspected) == {"a"} and "b" not in runtime._events_seen


def test_a_container_removed_between_list_and_inspect_is_left_out(runtime: DockerRuntime,
                                                                  engine: FakeEngine) -> None:
    engine.states = {"a": "running"}
    original = engine.containers
    engine.containers = lambda all, filters: original(all, filters) + [
        {"Id": "gone", "State": "running"}]
    assert statuses(runtime) == {"a": "running"}
    assert "gone" not in runtime._inspected
