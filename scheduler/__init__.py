"""podlab's scheduler: queue, framework and plugins, cache with assume, binder, leader election."""

from scheduler.config import SchedulerConfig
from scheduler.scheduler import Scheduler

__all__ = ["Scheduler", "SchedulerConfig"]
