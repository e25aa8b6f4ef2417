"""The node agent's clock, injected where timing logic lives (heartbeat and fence,
back-off waits, probes), so tests can drive time instead of sleeping.

`time()` is wall-clock epoch seconds (what the API and the runtime record),
`monotonic()` measures intervals, `sleep()` waits on this clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...
    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when a test calls `advance`; `sleep` returns once the clock
    has reached its deadline. Both readings move together from `start`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + seconds
        while self._now < deadline:
            self._moved.clear()
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._moved.set()
