"""Container environment: env/envFrom with every valueFrom, $(VAR) expansion, and the API's service variables."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping

from podlab import errors
from podlab.quantity import cpu_millis, to_bytes
from podlab.v1 import objects_pb2 as v1


class ContainerConfigError(Exception):
    """The container cannot be configured yet (CreateContainerConfigError)."""


ObjectGetter = Callable[[str, str, str], Awaitable[object | None]]
"""getter(kind, namespace, name) -> the ConfigMap/Secret, or None when it does not exist."""

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined vars are replaced, `$$` escapes, others stay."""
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR.sub(repl, text)


def referenced(text: str) -> set[str]:
    """The variable names `text` refers to as $(VAR) (`$$` escapes are not references)."""
    return {m.group(1) for m in _VAR.finditer(text) if m.group(1)}


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: v1.Pod, path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API fieldRef path."""
    m = _LABEL_REF.match(path)
    if m:
        source = pod.metadata.labels if m.group(1) == "labels" else pod.metadata.annotations
        return source.get(m.group(2), "")
    simple = {
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace or "default",
        "metadata.uid": pod.metadata.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return simple[path]
    if path in ("metadata.labels", "metadata.annotations"):
        source = pod.metadata.labels if path == "metadata.labels" else pod.metadata.annotations
        return "\n".join(f'{k}="{v}"' for k, v in sorted(source.items()))
    raise ContainerConfigError(f'unsupported fieldPath "{path}"')


def resource_value(pod: v1.Pod, container_name: str, ref: v1.ResourceFieldSelector,
                   allocatable: Mapping[str, str]) -> str:
    """A resourceFieldRef value: limits fall back to node allocatable, like the kubelet."""
    name = ref.container_name or container_name
    container = next((c for c in list(pod.spec.containers) + list(pod.spec.init_containers)
                      if c.name == name), None)
    if container is None:
        raise ContainerConfigError(f'resourceFieldRef: no container "{name}"')
    kind, _, res = ref.resource.partition(".")
    source = container.resources.limits if kind == "limits" else container.resources.requests
    raw = source.get(res) or (allocatable.get(res, "0") if kind == "limits" else "0")
    if res == "cpu":
        divisor = cpu_millis(ref.divisor) if ref.divisor else 1000
        return str(max(1 if kind == "limits" else 0, math.ceil(cpu_millis(raw) / divisor)))
    divisor = to_bytes(ref.divisor) if ref.divisor else 1
    return str(math.ceil(to_bytes(raw) / divisor))


def service_env(address: str) -> dict[str, str]:
    """The variables the kubelet gives every container for the `kubernetes` service (envvars.FromServices),
    for the API at `address` ("HOST:PORT", the address pods reach it at); {} when there is none.

    Kubernetes' names and forms: KUBERNETES_SERVICE_HOST/_PORT/_PORT_HTTPS (the
    port is named https), KUBERNETES_PORT=tcp://HOST:PORT and the
    KUBERNETES_PORT_<port>_TCP family.
    """
    if not address:
        return {}
    host, _, port = address.rpartition(":")
    url, prefix = f"tcp://{host}:{port}", f"KUBERNETES_PORT_{port}_TCP"
    return {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": url, prefix: url, f"{prefix}_PROTO": "tcp", f"{prefix}_PORT": port,
            f"{prefix}_ADDR": host}


def _data(obj: object) -> dict[str, str]:
    if isinstance(obj, v1.Secret):
        out = {k: bytes(v).decode("utf-8", "replace") for k, v in obj.data.items()}
        out.update(obj.string_data)
        return out
    if isinstance(obj, v1.ConfigMap):
        out = dict(obj.data)
        out.update({k: bytes(v).decode("utf-8", "replace") for k, v in obj.binary_data.items()})
        return out
    return {}


async def _fetch(getter: ObjectGetter, kind: str, ns: str, name: str,
                 optional: bool) -> dict[str, str] | None:
    try:
        obj = await getter(kind, ns, name)
    except errors.NotFound:
        obj = None
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    return _data(obj)


async def build_env(pod: v1.Pod, container: v1.Container, getter: ObjectGetter, pod_ip: str,
                    host_ip: str, allocatable: Mapping[str, str],
                    services: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's environment, in Kubernetes' order: envFrom, then env (later wins),
    each value expanded against the variables defined before it (then the service
    variables, `services`), then the service variables the container does not define.
    Raises ContainerConfigError for a missing non-optional reference."""
    services = services or {}
    ns = pod.metadata.namespace or "default"
    env: dict[str, str] = {}
    for src in container.env_from:
        if src.config_map_ref.name:
            data = await _fetch(getter, "ConfigMap", ns, src.config_map_ref.name,
                                src.config_map_ref.optional)
        elif src.secret_ref.name:
            data = await _fetch(getter, "Secret", ns, src.secret_ref.name, src.secret_ref.optional)
        else:
            data = None
        for k, val in (data or {}).items():
            env[src.prefix + k] = val
    for var in container.env:
        vf = var.value_from
        if vf.field_ref.field_path:
            env[var.name] = field_value(pod, vf.field_ref.field_path, pod_ip, host_ip)
        elif vf.resource_field_ref.resource:
            env[var.name] = resource_value(pod, container.name, vf.resource_field_ref, allocatable)
        elif vf.config_map_key_ref.name or vf.secret_key_ref.name:
            is_cm = bool(vf.config_map_key_ref.name)
            ref = vf.config_map_key_ref if is_cm else vf.secret_key_ref
            kind = "ConfigMap" if is_cm else "Secret"
            data = await _fetch(getter, kind, ns, ref.name, ref.optional)
            if data is None:
                continue
            if ref.key not in data:
                if ref.optional:
                    continue
                raise ContainerConfigError(
                    f"couldn't find key {ref.key} in {kind} {ns}/{ref.name}")
            env[var.name] = data[ref.key]
        else:
            env[var.name] = expand(var.value, {**services, **env})
    return {**env, **{k: v for k, v in services.items() if k not in env}}
