"""Random and mutated manifests thrown at the real API server.

Each one is either stored valid (it reads back and passes validation) or
refused with INVALID_ARGUMENT (or another named ApiError such as NotFound
for a missing namespace) — and refused ones leave nothing behind. The server
never answers INTERNAL.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podlab import errors
from podlab.kinds import kind_of
from podlab.manifest import load_manifests
from tests.support.rules import validate
from tests.unit.manifest_strategies import mutated_manifests, valid_manifests

pytestmark = pytest.mark.integration
_names = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=st.one_of(mutated_manifests(), valid_manifests()))
def test_api_stores_valid_or_rejects_cleanly(cluster_sync, doc) -> None:
    try:
        objects = load_manifests(yaml.safe_dump(doc), "fuzz.yaml")
    except errors.ApiError:
        return  # refused before it reached the server, as kubectl would
    for obj in objects:
        # A fresh name each time, so examples never collide with one another.
        meta = obj.metadata
        if meta.name or not meta.generate_name:
            meta.name = f"fuzz-{next(_names)}"
        cluster_sync.check(obj)


class SyncCluster:
    """A blocking facade over the async client, for hypothesis' synchronous tests."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.loop = asyncio.new_event_loop()
        from podlab.client import Client

        self.client = self.loop.run_until_complete(self._make(Client))

    async def _make(self, client_cls):
        return client_cls(self.address)

    def check(self, obj) -> None:
        kind = kind_of(obj)
        try:
            stored = self.loop.run_until_complete(self.client.create(obj))
        except (errors.Invalid, errors.BadRequest, errors.NotFound, errors.AlreadyExists):
            name = obj.metadata.name
            if name:
                with pytest.raises(errors.NotFound):
                    self.loop.run_until_complete(
                        self.client.get(kind.name, name, obj.metadata.namespace if kind.namespaced else ""))
            return
        except errors.ApiError as err:
            raise AssertionError(f"server answered {type(err).__name__}: {err}") from None
        validate(stored)
        again = self.loop.run_until_complete(self.client.get(
            kind.name, stored.metadata.name, stored.metadata.namespace))
        assert again == stored

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture
def cluster_sync(control_plane):
    facade = SyncCluster(control_plane.address)
    yield facade
    facade.close()
