"""`podlab-scheduler`: run the scheduler against an API server until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from scheduler.config import from_args
from scheduler.scheduler import run_forever


def main(argv: Sequence[str] | None = None) -> int:
    config = from_args(argv)
    logging.basicConfig(
        level=getattr(logging, config.log_level, logging.INFO), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(config.describe(), file=sys.stderr, flush=True)

    async def serve() -> None:
        task = asyncio.create_task(run_forever(config))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            logging.getLogger("podlab.scheduler").info("stopped")

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
