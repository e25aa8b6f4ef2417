"""Events: they expire (an etcd lease of `--event-ttl` seconds), as the API server's --event-ttl."""

from __future__ import annotations

from controlplane.strategies.base import Strategy
from podlab.kinds import kind_named


class EventStrategy(Strategy):
    def __init__(self, ttl_seconds: int) -> None:
        super().__init__(kind_named("Event"))
        self.ttl_seconds = ttl_seconds
