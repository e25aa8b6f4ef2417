"""The garbage collector (background propagation): dependents whose owner is gone are deleted.

An object's ownerReferences name its owners by uid. When none of them exists
any more (an owner of that name with another uid is another object), the
object is deleted, and its own dependents follow in turn: deleting a
Deployment removes its ReplicaSets, and then their pods. An object that
still has one live owner is kept. Owners are checked with a live read
before anything is deleted, so a slow informer never deletes a dependent
whose owner was just created.

Foreground and orphan propagation (finalizers) are not built yet.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from controlplane.controllers.framework import Controller
from podlab import errors
from podlab.client import ApiClient, Handler, Informer
from podlab.kinds import Kind, kind_named, meta
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

# Kinds whose objects own others, and kinds whose objects may be owned.
OWNERS = ("Deployment", "ReplicaSet")
DEPENDENTS = ("ReplicaSet", "Pod")


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, client: ApiClient, workers: int = 2) -> None:
        super().__init__(client, workers)
        self.owners: dict[str, Informer] = {}
        self.dependents: dict[str, Informer] = {}
        for kind in sorted(set(OWNERS) | set(DEPENDENTS)):
            informer = self.watch(kind, self._changed(kind))
            if kind in OWNERS:
                self.owners[kind] = informer
            if kind in DEPENDENTS:
                self.dependents[kind] = informer

    def _changed(self, kind: str) -> Handler:
        def handler(key: str, old: Message | None, new: Message | None) -> None:
            if kind in DEPENDENTS and new is not None and meta(new).owner_references:
                self.queue.add(f"{kind}|{key}")
            if kind in OWNERS and new is None and old is not None:
                # An owner went away: look at everything it owned.
                uid = meta(old).uid
                for dep_kind, informer in self.dependents.items():
                    for obj in informer.items():
                        if any(r.uid == uid for r in meta(obj).owner_references):
                            self.queue.add(f"{dep_kind}|{meta(obj).namespace}/{meta(obj).name}")
        return handler

    async def reconcile(self, key: str) -> None:
        kind_name, _, obj_key = key.partition("|")
        obj = self.dependents[kind_name].get(obj_key)
        if obj is None or meta(obj).HasField("deletion_timestamp"):
            return
        refs = list(meta(obj).owner_references)
        if not refs or any([await self._owner_exists(r, meta(obj).namespace) for r in refs]):
            return
        kind = kind_named(kind_name)
        log.info("garbage collector: deleting %s %s: its owners %s are gone", kind.name, obj_key,
                 ", ".join(f"{r.kind}/{r.name}" for r in refs))
        try:
            await self.client.delete(kind.name, meta(obj).name, meta(obj).namespace, uid=meta(obj).uid)
        except (errors.NotFound, errors.Conflict):
            pass

    async def _owner_exists(self, ref: v1.OwnerReference, namespace: str) -> bool:
        owner_kind: Kind[Message] | None = None
        try:
            owner_kind = kind_named(ref.kind)
        except errors.BadRequest:
            return False  # a kind this server does not have owns nothing here
        cached = self.owners.get(owner_kind.name)
        if cached is not None:
            hit = cached.get(f"{namespace}/{ref.name}" if owner_kind.namespaced else ref.name)
            if hit is not None and meta(hit).uid == ref.uid:
                return True
        try:
            live = await self.client.get(owner_kind.name, ref.name, namespace)
        except errors.NotFound:
            return False
        return bool(meta(live).uid == ref.uid)
