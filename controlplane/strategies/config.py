"""ConfigMaps, Secrets and Leases: data kinds with key rules, size limits and (for the first two) `immutable`."""

from __future__ import annotations

from google.protobuf.message import Message

from controlplane.strategies.base import Strategy
from controlplane.validation.core import config_map_errors, immutable_data_errors, lease_errors, secret_errors
from podlab.kinds import CONFIG_MAPS, LEASES, SECRETS
from podlab.v1 import objects_pb2 as v1
from podlab.validation import ErrorList


class ConfigMapStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(CONFIG_MAPS)

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.ConfigMap)
        config_map_errors(errs, obj)

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        immutable_data_errors(errs, old, new, ("data", "binary_data"))


class SecretStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(SECRETS)

    def default(self, obj: Message) -> None:
        super().default(obj)
        assert isinstance(obj, v1.Secret)
        if not obj.type:
            obj.type = "Opaque"

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.Secret)
        secret_errors(errs, obj)

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        assert isinstance(new, v1.Secret) and isinstance(old, v1.Secret)
        immutable_data_errors(errs, old, new, ("data", "string_data"))
        if old.type != new.type:
            errs.invalid("type", new.type, "field is immutable")


class LeaseStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(LEASES)

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.Lease)
        lease_errors(errs, obj)
