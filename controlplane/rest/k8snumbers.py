"""Kubernetes' protobuf field numbers for the fields podlab's kinds have (k8s.io/api generated.proto).

Each kind's registration declares the numbers of the messages it brings
(`Kind.wire`, taken from k8s.io/api's generated.proto); `numbers()` merges
them: numbers()[message][jsonName] is Kubernetes' number for a field podlab
has. A field podlab lacks is not listed (a client's value for it is skipped,
as Kubernetes' protobuf decoder skips unknown fields). INLINE names the
embedded structs Kubernetes' JSON flattens but its protobuf nests
(`Probe.handler` holds exec/httpGet/...): message -> (field, message).
"""

from __future__ import annotations

from collections.abc import Mapping

from podlab.kinds import KINDS


def numbers() -> dict[str, Mapping[str, int]]:
    """message name -> {jsonName: Kubernetes' number}, for every message the registered kinds bring."""
    merged: dict[str, Mapping[str, int]] = {}
    for kind in KINDS:
        merged.update(kind.wire)
    return merged


INLINE: dict[str, tuple[str, str]] = {
    "ConfigMapEnvSource": ("localObjectReference", "LocalObjectReference"),
    "ConfigMapKeySelector": ("localObjectReference", "LocalObjectReference"),
    "ConfigMapProjection": ("localObjectReference", "LocalObjectReference"),
    "ConfigMapVolumeSource": ("localObjectReference", "LocalObjectReference"),
    "Probe": ("handler", "ProbeHandler"),
    "SecretEnvSource": ("localObjectReference", "LocalObjectReference"),
    "SecretKeySelector": ("localObjectReference", "LocalObjectReference"),
    "SecretProjection": ("localObjectReference", "LocalObjectReference"),
    "Volume": ("volumeSource", "VolumeSource"),
}
