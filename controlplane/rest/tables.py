"""`meta.k8s.io/v1 Table` from podlab.printers: kubectl's own columns, printed by the server.

kubectl asks for a Table with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
and prints the columns it is given; wide columns carry priority 1 and show
only with `-o wide`. kubectl adds NAMESPACE (for -A) and LABELS itself from
each row's object, so the rows carry the objects' metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from podlab.kinds import Kind, meta
from podlab.manifest import to_dict
from podlab.printers import since, table_headers, table_row, utcnow

TABLE_TYPE = "as=Table"


def wants_table(request: web.Request) -> bool:
    """Whether the client accepts a Table first (kubectl's human-readable `get`)."""
    first = request.headers.get("Accept", "").split(",")[0]
    return TABLE_TYPE in first.replace(" ", "") and "g=meta.k8s.io" in first


def _row_object(obj: Message, include: str) -> dict[str, Any]:
    data = to_dict(obj)
    if include == "Object":
        return data
    if include == "None":
        return {}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": data.get("metadata", {})}


def table(kind: Kind, objs: Sequence[Message], revision: str, include: str = "Metadata",
          headers: bool = True) -> dict[str, Any]:
    """The Table of `objs` (all of `kind`); `include` is the request's includeObject."""
    now = utcnow()
    try:
        narrow, wide = table_headers(kind), table_headers(kind, wide=True)

        def cells(obj: Message) -> list[str]:
            return table_row(kind, obj, now, wide=True)
    except KeyError:  # a kind podlab.printers has no columns for: Kubernetes' default table
        narrow = wide = ["NAME", "AGE"]

        def cells(obj: Message) -> list[str]:
            return [meta(obj).name, since(meta(obj).creation_timestamp, now)]

    columns = [{"name": h, "type": "string", "format": "name" if h == "NAME" else "", "description": "",
                "priority": 0 if h in narrow else 1} for h in wide]
    rows = [{"cells": cells(o), "object": _row_object(o, include)} for o in objs]
    body: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                            "metadata": {"resourceVersion": revision}, "rows": rows}
    body["columnDefinitions"] = columns if headers else []
    return body
