"""`limit` and `continue` for lists, as Kubernetes pages them: every page reads one state.

A continue token names the revision the first page read and the last
object it returned (namespace/name, as the store's keys order them). A later
page reads the store as it was at that revision (etcd's MVCC) and resumes
after that object, so objects created, changed or deleted between pages
neither show up nor vanish, and every page reports the first one's
resourceVersion. Once that revision is compacted the token has expired:
410, and the client lists again from the start (client-go's pager does so
on its own).
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

EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start a "
           "new list without the continue parameter.")


@dataclass(frozen=True)
class Continue:
    """Where a list resumes: the first page's revision, and the position after which to go on."""

    revision: int
    after: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps({"rv": self.revision, "start": self.after}).encode()).decode()

    @staticmethod
    def parse(token: str | None, resource_version: str | None = None) -> Continue | None:
        """The token of a `continue` parameter (None without one); BadRequest for one this server did not
        give, or given together with a resourceVersion."""
        if not token:
            return None
        if resource_version:
            raise errors.BadRequest("specifying resource version is not allowed when using continue")
        try:
            doc = json.loads(base64.urlsafe_b64decode(token.encode()))
            revision, after = int(doc["rv"]), str(doc["start"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise errors.BadRequest(f'invalid continue token "{token}"') from None
        if revision <= 0:
            raise errors.BadRequest(f'invalid continue token "{token}"')
        return Continue(revision, after)


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


def page(items: Sequence[Message], revision: int, limit: str | None, resume: Continue | None) -> Page:
    """The page of `items` (in key order, read at `revision`) that `limit` and `continue` ask for."""
    if resume is not None:
        items = [o for o in items if _position(o) > resume.after]
    if not limit:
        return Page(items)
    try:
        size = int(limit)
    except ValueError:
        raise errors.BadRequest(f'invalid limit "{limit}"') from None
    if size <= 0 or size >= len(items):
        return Page(items)
    head = items[:size]
    return Page(head, Continue(revision, _position(head[-1])).encode(), len(items) - size)
