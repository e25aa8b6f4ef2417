"""Structured logging shared by every component.

Lines are `time level component logger: message key=value ...`, so one pod's
story can be grepped across the cluster by its uid.
"""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(component: str, level: str | None = None) -> None:
    """Configure the root logger for `component` (level from PODLAB_LOG_LEVEL, default INFO)."""
    level = level or os.environ.get("PODLAB_LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("grpc").setLevel(logging.WARNING)
