"""Legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`), built from podlab.kinds.

Every kind in KINDS is listed under its group/version with its verbs, short
names and subresources; nothing here names a kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane.rest.subresources import subresources
from controlplane.strategies import Strategy
from podlab import __version__
from podlab.kinds import KINDS, Kind, short_names

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# The Kubernetes release whose API this one follows (kubectl warns on a large skew).
KUBE_MINOR = "32"


def group_version(kind: Kind) -> tuple[str, str]:
    """("", "v1") for the core group, ("coordination.k8s.io", "v1") for a named one."""
    group, _, version = kind.api_version.rpartition("/")
    return group, version


def kinds_in(group: str, version: str) -> list[Kind]:
    return [k for k in KINDS if group_version(k) == (group, version)]


def version_info() -> dict[str, str]:
    return {"major": "1", "minor": KUBE_MINOR, "gitVersion": f"v1.{KUBE_MINOR}.0+podlab-{__version__}",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "python", "compiler": "cpython", "platform": "linux/amd64"}


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def api_groups() -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for kind in KINDS:
        group, version = group_version(kind)
        if group and version not in groups.setdefault(group, []):
            groups[group].append(version)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
         "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
        for g, vs in groups.items()]}


def resource_list(group: str, version: str, strategies: Mapping[str, Strategy]) -> dict[str, Any] | None:
    """The APIResourceList of one group/version, or None if podlab serves none there."""
    kinds = kinds_in(group, version)
    if not kinds:
        return None
    resources: list[dict[str, Any]] = []
    for kind in kinds:
        resources.append({"name": kind.plural, "singularName": kind.name.lower(), "namespaced": kind.namespaced,
                          "kind": kind.name, "verbs": VERBS, "shortNames": short_names(kind),
                          **({"categories": list(kind.categories)} if kind.categories else {})})
        if strategies[kind.name].status_subresource:
            resources.append({"name": f"{kind.plural}/status", "singularName": "", "namespaced": kind.namespaced,
                              "kind": kind.name, "verbs": ["get", "patch", "update"]})
        for (plural, sub), handler in subresources().items():
            if plural == kind.plural:
                group_of = dict(zip(("group", "version"), handler.group_version.split("/"), strict=False))
                resources.append({"name": f"{plural}/{sub}", "singularName": "", "namespaced": kind.namespaced,
                                  **group_of, "kind": handler.kind, "verbs": list(handler.verbs)})
    for r in resources:
        if not r.get("shortNames"):
            r.pop("shortNames", None)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}
