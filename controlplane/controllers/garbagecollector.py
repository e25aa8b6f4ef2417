"""The garbage collector (kube-controller-manager's, pkg/controller/garbagecollector).

An object's ownerReferences name its owners by uid. The collector watches
every kind but Events (Kubernetes ignores them too) and keeps an index from
an owner's uid to the objects that name it. reconcile(`Kind|key`) looks at
one object in both of its roles:

- an owner marked for deletion with the `orphan` finalizer: its uid is taken
  out of every dependent's ownerReferences, then the finalizer off the owner
  (the registry then removes it);
- an owner marked with `foregroundDeletion`: each of its dependents is
  deleted (below); once no dependent that blocks it (blockOwnerDeletion) is
  left, the finalizer comes off and the owner goes;
- a dependent: each owner is *solid* (it exists and is not deleting its
  dependents), *dangling* (gone, or a new object under its name) or
  *waiting* (deleting its dependents in the foreground). With a solid owner
  the dependent stays, and its references to the others are dropped;
  otherwise it is deleted: in the foreground when an owner waits for it and
  it has dependents of its own, else as its own finalizers say (background
  when it has none).

Background propagation is the default: the owner goes at once and this
collector deletes its dependents afterwards, their own dependents after them.
An owner's absence is confirmed with a live read before anything is deleted,
so a slow informer never deletes a dependent whose owner was just created.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from google.protobuf.message import Message

from controlplane.controllers.framework import Controller
from podlab import errors, names
from podlab.client import ApiClient, Handler, Informer
from podlab.informers import SharedInformerFactory
from podlab.kinds import KINDS, Kind, kind_named, meta
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

IGNORED_KINDS = ("Event",)
ORPHAN = names.FINALIZER_ORPHAN_DEPENDENTS
FOREGROUND = names.FINALIZER_DELETE_DEPENDENTS
# Tries of a read-modify-write that keeps losing to other writers before the work queue retries.
UPDATE_TRIES = 8


def _deleting(obj: Message) -> bool:
    return meta(obj).HasField("deletion_timestamp")


def _deleting_dependents(obj: Message) -> bool:
    return _deleting(obj) and FOREGROUND in meta(obj).finalizers


class GarbageCollector(Controller):
    """Invariant: `dependents[uid]` holds exactly the cached objects (as `Kind|key`) whose
    ownerReferences name `uid`; `items[uid]` is the cached object with that uid."""

    name = "garbage-collector"

    def __init__(self, client: ApiClient, workers: int = 2,
                 informers: SharedInformerFactory | None = None) -> None:
        super().__init__(client, workers, informers)
        self.caches: dict[str, Informer] = {}
        self.dependents: dict[str, set[str]] = defaultdict(set)
        self.items: dict[str, str] = {}
        for kind in KINDS:
            if kind.name not in IGNORED_KINDS:
                self.caches[kind.name] = self.watch(kind.name, self._changed(kind.name))

    # -- event handlers: keep the index, say which objects to look at -----------------------

    def _changed(self, kind: str) -> Handler:
        def handler(key: str, old: Message | None, new: Message | None) -> None:
            item = f"{kind}|{key}"
            old_owners = {r.uid for r in meta(old).owner_references} if old is not None else set()
            new_owners = {r.uid for r in meta(new).owner_references} if new is not None else set()
            for uid in old_owners - new_owners:
                self._unindex(uid, item)
            for uid in new_owners:
                self.dependents[uid].add(item)
            if new is None:
                assert old is not None
                self.items.pop(meta(old).uid, None)
                for dependent in self.dependents.get(meta(old).uid, ()):
                    self.queue.add(dependent)  # an owner went: its dependents may be garbage now
            else:
                self.items[meta(new).uid] = item
                if new_owners or (_deleting(new) and set(meta(new).finalizers) & {ORPHAN, FOREGROUND}):
                    self.queue.add(item)
            # An owner deleting its dependents waits for this one: it looks again.
            for uid in old_owners | new_owners:
                owner_item = self.items.get(uid)
                if owner_item is not None and (owner := self._cached(owner_item)) is not None \
                        and _deleting_dependents(owner):
                    self.queue.add(owner_item)
        return handler

    def _unindex(self, uid: str, item: str) -> None:
        held = self.dependents.get(uid)
        if held is not None:
            held.discard(item)
            if not held:
                del self.dependents[uid]

    def _cached(self, item: str) -> Message | None:
        kind, _, key = item.partition("|")
        cache = self.caches.get(kind)
        return cache.get(key) if cache is not None else None

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, item: str) -> None:
        obj = self._cached(item)
        if obj is None:
            return
        kind = item.partition("|")[0]
        md = meta(obj)
        if md.HasField("deletion_timestamp"):
            if ORPHAN in md.finalizers:
                await self._orphan_dependents(kind, obj)
            elif FOREGROUND in md.finalizers:
                await self._delete_dependents(kind, obj)
            return
        if md.owner_references and not self._all_solid_in_cache(obj):
            await self._collect(kind, obj)

    async def _orphan_dependents(self, kind: str, owner: Message) -> None:
        uid = meta(owner).uid
        for item in sorted(self.dependents.get(uid, ())):
            dependent = self._cached(item)
            if dependent is not None:
                await self._drop_owners(item.partition("|")[0], dependent, {uid})
        log.info("garbage collector: orphaned the dependents of %s %s", kind, _name(owner))
        await self._remove_finalizer(kind, owner, ORPHAN)

    async def _delete_dependents(self, kind: str, owner: Message) -> None:
        """Foreground: every dependent is deleted; the owner goes when none blocks it any more."""
        uid = meta(owner).uid
        blocking = 0
        for item in sorted(self.dependents.get(uid, ())):
            dependent = self._cached(item)
            if dependent is None:
                continue
            if any(r.uid == uid and r.block_owner_deletion for r in meta(dependent).owner_references):
                blocking += 1
            if not _deleting(dependent):
                self.queue.add(item)  # its own reconcile finds this owner waiting, and deletes it
        if not blocking:
            await self._remove_finalizer(kind, owner, FOREGROUND)

    def _all_solid_in_cache(self, obj: Message) -> bool:
        """Every owner is in the cache, with its uid, and not deleting its dependents."""
        for ref in meta(obj).owner_references:
            item = self.items.get(ref.uid)
            owner = self._cached(item) if item else None
            if owner is None or _deleting_dependents(owner):
                return False
        return True

    async def _collect(self, kind: str, cached: Message) -> None:
        """A dependent with an owner that is gone or waiting: keep it, trim it, or delete it."""
        md = meta(cached)
        try:
            latest = await self.client.get(kind, md.name, md.namespace)
        except errors.NotFound:
            return
        if meta(latest).uid != md.uid:
            return  # another object now has its name; that one has its own key
        by_state: dict[str, list[v1.OwnerReference]] = {"solid": [], "dangling": [], "waiting": []}
        for ref in meta(latest).owner_references:
            by_state[await self._owner_state(ref, meta(latest).namespace)].append(ref)
        solid, dangling, waiting = by_state["solid"], by_state["dangling"], by_state["waiting"]
        lm = meta(latest)
        if solid:
            if dangling or waiting:
                await self._drop_owners(kind, latest, {r.uid for r in dangling + waiting})
            return
        if waiting and self.dependents.get(lm.uid):
            policy = names.FOREGROUND
        elif ORPHAN in lm.finalizers:
            policy = names.ORPHAN
        elif FOREGROUND in lm.finalizers:
            policy = names.FOREGROUND
        else:
            policy = names.BACKGROUND
        log.info("garbage collector: deleting %s %s (%s): its owners %s are %s", kind, _name(latest), policy,
                 ", ".join(f"{r.kind}/{r.name}" for r in lm.owner_references),
                 "deleting their dependents" if waiting else "gone")
        try:
            await self.client.delete(kind, lm.name, lm.namespace, uid=lm.uid, propagation_policy=policy)
        except (errors.NotFound, errors.Conflict):
            pass

    async def _owner_state(self, ref: v1.OwnerReference, namespace: str) -> str:
        """"solid", "dangling" or "waiting" (deleting its dependents in the foreground)."""
        try:
            owner_kind: Kind[Message] = kind_named(ref.kind)
        except errors.BadRequest:
            return "solid"  # a kind this server does not serve: nothing here may judge it
        item = self.items.get(ref.uid)
        owner = self._cached(item) if item else None
        if owner is None:
            try:
                owner = await self.client.get(owner_kind.name, ref.name, namespace if owner_kind.namespaced else "")
            except errors.NotFound:
                return "dangling"
            if meta(owner).uid != ref.uid:
                return "dangling"
        return "waiting" if _deleting_dependents(owner) else "solid"

    # -- writes ---------------------------------------------------------------------------------

    async def _drop_owners(self, kind: str, obj: Message, uids: set[str]) -> None:
        def drop(current: Message) -> bool:
            refs = meta(current).owner_references
            kept = [r for r in refs if r.uid not in uids]
            if len(kept) == len(refs):
                return False
            del refs[:]
            refs.extend(kept)
            return True
        await self._update_live(kind, obj, drop)

    async def _remove_finalizer(self, kind: str, obj: Message, finalizer: str) -> None:
        def remove(current: Message) -> bool:
            finalizers = meta(current).finalizers
            if finalizer not in finalizers:
                return False
            kept = [f for f in finalizers if f != finalizer]
            del finalizers[:]
            finalizers.extend(kept)
            return True
        await self._update_live(kind, obj, remove)

    async def _update_live(self, kind: str, obj: Message, change: Callable[[Message], bool]) -> None:
        """Apply `change` to the stored object (this uid) and write it, re-reading after a conflict."""
        md = meta(obj)
        current: Message = obj
        for _ in range(UPDATE_TRIES):
            if meta(current).uid != md.uid:
                return
            updated = type(current)()
            updated.CopyFrom(current)
            if not change(updated):
                return
            try:
                await self.client.update(updated)
                return
            except errors.NotFound:
                return
            except errors.Conflict:
                try:
                    current = await self.client.get(kind, md.name, md.namespace)
                except errors.NotFound:
                    return
        raise errors.Conflict(f"{kind} {_name(obj)}: too many concurrent writers")


def _name(obj: Message) -> str:
    md = meta(obj)
    return f"{md.namespace}/{md.name}" if md.namespace else md.name
