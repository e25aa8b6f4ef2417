"""Dry runs on a real etcd: a guard-only transaction rides in the group commit's batches and writes nothing."""

from __future__ import annotations

import asyncio
import uuid

from controlplane.dryrun import DryRunStore
from controlplane.etcd import EtcdStore
from controlplane.storage import Guard, Put
from tests.support.procs import Etcd


async def test_dry_runs_among_concurrent_writes_answer_as_the_writes_would_and_store_nothing(etcd: Etcd) -> None:
    store = EtcdStore(etcd.endpoint)
    dry = DryRunStore(store)
    prefix = f"/dry-run-test/{uuid.uuid4().hex}/"
    taken = f"{prefix}taken".encode()

    def new(key: bytes) -> list[Guard]:
        return [Guard(key, 0, target="create")]

    try:
        await store.put(taken, b"original")
        real = [f"{prefix}real-{i}".encode() for i in range(20)]
        rehearsed = [f"{prefix}dry-{i}".encode() for i in range(20)]
        answers = await asyncio.gather(
            *(store.txn(new(k), [Put(k, b"v")]) for k in real),
            *(dry.txn(new(k), [Put(k, b"v")]) for k in rehearsed),
            *(dry.txn(new(taken), [Put(taken, b"changed")]) for _ in range(5)),
            *(dry.txn(new(k), [Put(k, b"again")]) for k in real[:5]))  # queued behind the real creates
        assert all(a is not None and a > 0 for a in answers[:20])
        assert answers[20:40] == [0] * 20  # would succeed: no new revision, since nothing was written
        assert answers[40:45] == [None] * 5  # the key exists: a create would fail
        assert answers[45:] == [None] * 5  # a later batch, after the real creates: they exist
        kvs, _ = await store.list(prefix.encode())
        assert {kv.key for kv in kvs} == {taken, *real}
        assert next(kv.value for kv in kvs if kv.key == taken) == b"original"
        assert {kv.value for kv in kvs if kv.key != taken} == {b"v"}
    finally:
        await store.close()
