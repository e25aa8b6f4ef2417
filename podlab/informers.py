"""A shared informer factory (client-go's SharedInformerFactory).

Controllers ask it for an informer per kind (and namespace and selectors,
when they need them) and add their handlers; everyone who asks for the same
thing shares one list+watch and one cache. Whoever makes the factory runs it
(`run()`), once every user has asked for its informers: the controller
manager builds one for all its controllers, and a test builds its own.
"""

from __future__ import annotations

import asyncio

from podlab.client import ApiClient, Informer, KindRef, resolve_kind

_Key = tuple[str, str, str, str]  # kind, namespace, label selector, field selector


class SharedInformerFactory:
    """Informers by (kind, namespace, selectors), each made once.

    Contract: ask for informers and add handlers before `run()` starts (a
    handler added later would miss the first list's notifications, so
    asking for a new informer once running raises RuntimeError). `run()`
    lists and watches until cancelled and may be run again afterwards (a new
    leadership term): each informer then relists and notifies every handler.
    """

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._informers: dict[_Key, Informer] = {}
        self._running = False

    def informer(self, kind: KindRef, namespace: str = "", label_selector: str = "",
                 field_selector: str = "") -> Informer:
        k = resolve_kind(kind)
        key = (k.name, namespace if k.namespaced else "", label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            if self._running:
                raise RuntimeError(f"informer for {k.plural} asked for after the factory started")
            informer = self._informers[key] = Informer(self.client, k.name, key[1], label_selector,
                                                       field_selector)
        return informer

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    async def run(self) -> None:
        """List and watch every informer asked for, until cancelled."""
        self._running = True
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in self._informers.values():
                    informer.synced.clear()
                    tasks.create_task(informer.run())
        finally:
            self._running = False

    async def wait_synced(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in self._informers.values()))

    async def caught_up(self) -> bool:
        """Every informer holds what the store holds now (see Informer.caught_up)."""
        return all([await i.caught_up() for i in self._informers.values()])
