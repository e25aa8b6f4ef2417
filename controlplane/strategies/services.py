"""core/v1 Service (pkg/registry/core/service/strategy.go): a status subresource (the load balancer's)."""

from __future__ import annotations

from controlplane.strategies.base import Strategy
from podlab.kinds import SERVICES


class ServiceStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(SERVICES)
