"""Each kind's own rules, called as the registry calls them, for tests that check one rule at a time."""

from __future__ import annotations

from google.protobuf.message import Message

from controlplane.strategies import Strategy, strategies
from podlab.kinds import kind_of
from podlab.validation import ErrorList

_STRATEGIES = strategies()


def strategy(obj: Message) -> Strategy:
    return _STRATEGIES[kind_of(obj).name]


def apply_defaults(obj: Message) -> None:
    strategy(obj).default(obj)


def field_errors(obj: Message) -> ErrorList:
    return strategy(obj).errors(obj)


def validate(obj: Message) -> None:
    strategy(obj).validate(obj)


def validate_update(old: Message, new: Message) -> None:
    strategy(new).validate_update(new, old)
