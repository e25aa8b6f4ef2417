"""`Call`: one subresource request as its handler sees it.

Its own module so that every subresource handler (`subresources.py`,
`scale.py`) can name it without importing the table that lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from controlplane.api import Api
from controlplane.rest import codec
from podlab import errors


@dataclass(frozen=True)
class Call:
    """One subresource request: the API, the parent object's namespace and name, and the HTTP request."""

    api: Api
    namespace: str
    name: str
    request: web.Request

    async def body(self, kind: str) -> dict[str, Any]:
        """The request's body as a JSON object; raises BadRequest when it names a kind other than `kind`."""
        doc = await codec.read_body(self.request)
        if doc.get("kind") not in (None, kind):
            raise errors.BadRequest(f'the kind in the data ("{doc.get("kind")}") does not match the expected '
                                    f'kind ("{kind}")')
        return doc
