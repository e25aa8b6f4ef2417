"""`limit` and `continue` for lists.

A continue token names the last object of the page (namespace/name, as the
store's keys order them). A later page lists again and resumes after that
object: unlike Kubernetes, whose pages
all read the first page's etcd revision, objects created or deleted between
pages show up or vanish, as with `resourceVersionMatch=NotOlderThan`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from podlab import errors
from podlab.kinds import meta


@dataclass
class Page:
    items: Sequence[Message]
    token: str = ""
    remaining: int = 0

    def metadata(self) -> dict[str, Any]:
        if not self.token:
            return {}
        return {"continue": self.token, "remainingItemCount": self.remaining}


def _position(obj: Message) -> str:
    """Where `obj` sits in the store's key order (its key's tail)."""
    md = meta(obj)
    return f"{md.namespace}/{md.name}" if md.namespace else md.name


def _decode(token: str) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise errors.BadRequest(f'invalid continue token "{token}"') from None


def page(items: Sequence[Message], limit: str | None, token: str | None) -> Page:
    """The page of `items` (in key order) that `limit` and `continue` ask for."""
    if token:
        after = _decode(token)
        items = [o for o in items if _position(o) > after]
    if not limit:
        return Page(items)
    try:
        size = int(limit)
    except ValueError:
        raise errors.BadRequest(f'invalid limit "{limit}"') from None
    if size <= 0 or size >= len(items):
        return Page(items)
    head = items[:size]
    next_token = base64.urlsafe_b64encode(json.dumps({"after": _position(head[-1])}).encode()).decode()
    return Page(head, next_token, len(items) - size)
