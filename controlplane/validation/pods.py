"""Pod rules, at a field path: `pod_spec_errors(errs, "spec", spec)` for a Pod and
`pod_spec_errors(errs, "spec.template.spec", spec)` for every pod template (as Kubernetes'
ValidatePodSpec with its fldPath)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from podlab.v1 import objects_pb2 as v1
from podlab.validation import (
    HTTP_HEADER,
    ErrorList,
    camel,
    check,
    config_key_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    enum,
    env_name_errors,
    is_http_header,
    label_value_errors,
    labels,
    non_negative,
    port_name_errors,
    port_number,
    qualified_name_errors,
    quantity,
    relative_path,
)

# ---------------------------------------------------------------- pods

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PROTOCOLS = ("SCTP", "TCP", "UDP")
MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
SCHEMES = ("HTTP", "HTTPS")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")
STORAGE_MEDIA = ("", "Memory")
ENV_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name",
                   "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                   "status.podIP", "status.podIPs")
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name",
                      "metadata.namespace", "metadata.uid")
RESOURCE_FIELD_REFS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory",
                       "requests.cpu", "requests.ephemeral-storage", "requests.memory")
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_SUBSCRIPTED = re.compile(r"^(metadata\.(?:labels|annotations))\['([^']*)'\]$")


def _field_ref(errs: ErrorList, path: str, ref: v1.ObjectFieldSelector,
               supported: Sequence[str]) -> None:
    if ref.api_version and ref.api_version != "v1":
        errs.unsupported(f"{path}.apiVersion", ref.api_version, ("v1",))
    if not ref.field_path:
        errs.required(f"{path}.fieldPath")
        return
    sub = _SUBSCRIPTED.match(ref.field_path)
    if sub:
        check(errs, f"{path}.fieldPath", sub.group(2), qualified_name_errors)
    elif ref.field_path not in supported:
        errs.unsupported(f"{path}.fieldPath", ref.field_path, supported)


def _resource_field_ref(errs: ErrorList, path: str, ref: v1.ResourceFieldSelector,
                        container_names: set[str] | None) -> None:
    if container_names is not None:
        if not ref.container_name:
            errs.required(f"{path}.containerName")
        elif ref.container_name not in container_names:
            errs.not_found(f"{path}.containerName", ref.container_name)
    enum(errs, f"{path}.resource", ref.resource, RESOURCE_FIELD_REFS, required=True)
    if ref.divisor:
        quantity(errs, f"{path}.divisor", ref.divisor)


def _one_of(errs: ErrorList, path: str, msg: Message, names: Sequence[str],
            none_error: Callable[[], None], many_error: Callable[[str], None]) -> str | None:
    """The one field of `names` that `msg` sets; reports none or several."""
    given = [n for n in names if msg.HasField(n)]
    if not given:
        none_error()
        return None
    for extra in given[1:]:
        many_error(extra)
    return given[0]


_VOLUME_SOURCES = [f.name for f in v1.Volume.DESCRIPTOR.fields if f.name != "name"]


def _volumes(errs: ErrorList, path: str, spec: v1.PodSpec) -> set[str]:
    """Checks `path`.volumes; returns the volume names."""
    containers = {c.name for c in (*spec.init_containers, *spec.containers)}
    names: set[str] = set()
    for i, vol in enumerate(spec.volumes):
        vpath = f"{path}.volumes[{i}]"
        if not vol.name:
            errs.required(f"{vpath}.name")
        else:
            check(errs, f"{vpath}.name", vol.name, dns1123_label_errors)
            if vol.name in names:
                errs.duplicate(f"{vpath}.name", vol.name)
            names.add(vol.name)
        source = _one_of(
            errs, vpath, vol, _VOLUME_SOURCES,
            lambda p=vpath: errs.required(p, "must specify a volume type"),  # type: ignore[misc]
            lambda n, p=vpath: errs.forbidden(  # type: ignore[misc]
                f"{p}.{camel(n) if n != 'downward_api' else 'downwardAPI'}",
                "may not specify more than 1 volume type"))
        if source is not None:
            _volume_source(errs, vpath, vol, source, containers)
    return names


def _items(errs: ErrorList, path: str, items: Iterable[v1.KeyToPath]) -> None:
    for j, item in enumerate(items):
        ipath = f"{path}.items[{j}]"
        if not item.key:
            errs.required(f"{ipath}.key")
        if not item.path:
            errs.required(f"{ipath}.path")
        else:
            relative_path(errs, f"{ipath}.path", item.path)
        if item.HasField("mode"):
            _file_mode(errs, f"{ipath}.mode", item.mode)


def _file_mode(errs: ErrorList, path: str, mode: int) -> None:
    if not 0 <= mode <= 0o777:
        errs.invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")


def _downward_items(errs: ErrorList, path: str,
                    items: Iterable[v1.DownwardAPIVolumeFile], container_names: set[str]) -> None:
    for j, item in enumerate(items):
        ipath = f"{path}.items[{j}]"
        if not item.path:
            errs.required(f"{ipath}.path")
        else:
            relative_path(errs, f"{ipath}.path", item.path)
        if item.HasField("mode"):
            _file_mode(errs, f"{ipath}.mode", item.mode)
        if item.HasField("field_ref") and item.HasField("resource_field_ref"):
            errs.invalid(ipath, "resource", "fieldRef and resourceFieldRef can not be specified "
                         "simultaneously")
        elif item.HasField("field_ref"):
            _field_ref(errs, f"{ipath}.fieldRef", item.field_ref, VOLUME_FIELD_PATHS)
        elif item.HasField("resource_field_ref"):
            _resource_field_ref(errs, f"{ipath}.resourceFieldRef", item.resource_field_ref,
                                container_names)
        else:
            errs.required(ipath, "one of fieldRef and resourceFieldRef is required")


def _volume_source(errs: ErrorList, path: str, vol: v1.Volume, source: str,
                   names: set[str]) -> None:
    if source == "empty_dir":
        enum(errs, f"{path}.emptyDir.medium", vol.empty_dir.medium, STORAGE_MEDIA[1:])
        if vol.empty_dir.size_limit:
            quantity(errs, f"{path}.emptyDir.sizeLimit", vol.empty_dir.size_limit)
    elif source == "host_path":
        if not vol.host_path.path:
            errs.required(f"{path}.hostPath.path")
        elif ".." in vol.host_path.path.split("/"):
            errs.invalid(f"{path}.hostPath.path", vol.host_path.path, "must not contain '..'")
        if vol.host_path.type not in HOST_PATH_TYPES:
            errs.unsupported(f"{path}.hostPath.type", vol.host_path.type, HOST_PATH_TYPES)
    elif source == "config_map":
        if not vol.config_map.name:
            errs.required(f"{path}.configMap.name")
        _items(errs, f"{path}.configMap", vol.config_map.items)
        if vol.config_map.HasField("default_mode"):
            _file_mode(errs, f"{path}.configMap.defaultMode", vol.config_map.default_mode)
    elif source == "secret":
        if not vol.secret.secret_name:
            errs.required(f"{path}.secret.secretName")
        _items(errs, f"{path}.secret", vol.secret.items)
        if vol.secret.HasField("default_mode"):
            _file_mode(errs, f"{path}.secret.defaultMode", vol.secret.default_mode)
    elif source == "downward_api":
        _downward_items(errs, f"{path}.downwardAPI", vol.downward_api.items, names)
        if vol.downward_api.HasField("default_mode"):
            _file_mode(errs, f"{path}.downwardAPI.defaultMode", vol.downward_api.default_mode)
    elif source == "projected":
        _projected(errs, f"{path}.projected", vol.projected, names)


def _projected(errs: ErrorList, path: str, proj: v1.ProjectedVolumeSource,
               container_names: set[str]) -> None:
    if proj.HasField("default_mode"):
        _file_mode(errs, f"{path}.defaultMode", proj.default_mode)
    kinds = ("secret", "config_map", "downward_api", "service_account_token")
    for j, src in enumerate(proj.sources):
        spath = f"{path}.sources[{j}]"
        which = _one_of(
            errs, spath, src, kinds,
            lambda p=spath: errs.required(p, "must specify exactly 1 volume type"),  # type: ignore[misc]
            lambda n, p=spath: errs.forbidden(p, "may not specify more than 1 volume type"),  # type: ignore[misc]
        )
        if which == "secret":
            if not src.secret.name:
                errs.required(f"{spath}.secret.name")
            _items(errs, f"{spath}.secret", src.secret.items)
        elif which == "config_map":
            if not src.config_map.name:
                errs.required(f"{spath}.configMap.name")
            _items(errs, f"{spath}.configMap", src.config_map.items)
        elif which == "downward_api":
            _downward_items(errs, f"{spath}.downwardAPI", src.downward_api.items,
                            container_names)
        elif which == "service_account_token":
            tok = src.service_account_token
            if not tok.path:
                errs.required(f"{spath}.serviceAccountToken.path")
            else:
                relative_path(errs, f"{spath}.serviceAccountToken.path", tok.path)
            if tok.expiration_seconds and tok.expiration_seconds < 600:
                errs.invalid(f"{spath}.serviceAccountToken.expirationSeconds",
                             tok.expiration_seconds, "may not specify a duration less than 10 "
                             "minutes")


def _int_or_string_port(errs: ErrorList, path: str, port: struct_pb2.Value,
                        port_names: set[str]) -> None:
    which = port.WhichOneof("kind")
    if which is None or which == "null_value":
        errs.required(path)
    elif which == "number_value":
        number = port.number_value
        if not math.isfinite(number) or number != int(number):
            errs.invalid(path, number, "must be an integer")
        else:
            port_number(errs, path, int(number))
    elif which == "string_value":
        name = port.string_value
        if name.isdigit():
            port_number(errs, path, int(name))
            return
        check(errs, path, name, port_name_errors)
        if not port_name_errors(name) and name not in port_names:
            errs.not_found(path, name)
    else:
        errs.invalid(path, "", "must be an integer or a string")


def _handler(errs: ErrorList, path: str, handler: Message, kinds: Sequence[str],
             port_names: set[str]) -> None:
    which = _one_of(
        errs, path, handler, kinds,
        lambda: errs.required(path, "must specify a handler type"),
        lambda _n: errs.forbidden(path, "may not specify more than 1 handler type"))
    if which == "exec":
        if not handler.exec.command:
            errs.required(f"{path}.exec.command")
    elif which == "http_get":
        get: v1.HTTPGetAction = handler.http_get
        _int_or_string_port(errs, f"{path}.httpGet.port", get.port, port_names)
        enum(errs, f"{path}.httpGet.scheme", get.scheme, SCHEMES)
        for k, header in enumerate(get.http_headers):
            hpath = f"{path}.httpGet.httpHeaders[{k}].name"
            if not header.name:
                errs.required(hpath)
            elif not is_http_header(header.name):
                errs.invalid(hpath, header.name, "a valid HTTP header must consist of "
                             "alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used "
                             f"for validation is '{HTTP_HEADER}')")
    elif which == "tcp_socket":
        _int_or_string_port(errs, f"{path}.tcpSocket.port", handler.tcp_socket.port,
                            port_names)
    elif which == "grpc":
        port_number(errs, f"{path}.grpc.port", handler.grpc.port)
    elif which == "sleep":
        non_negative(errs, f"{path}.sleep.seconds", handler.sleep.seconds)


def _probe(errs: ErrorList, path: str, probe: v1.Probe, kind: str, port_names: set[str]) -> None:
    _handler(errs, path, probe, ("exec", "http_get", "tcp_socket", "grpc"), port_names)
    for field in ("initial_delay_seconds", "timeout_seconds", "period_seconds",
                  "success_threshold", "failure_threshold"):
        non_negative(errs, f"{path}.{camel(field)}", getattr(probe, field))
    if kind != "readiness" and probe.success_threshold not in (0, 1):
        errs.invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1")
    if probe.HasField("termination_grace_period_seconds"):
        tpath = f"{path}.terminationGracePeriodSeconds"
        if kind == "readiness":
            errs.invalid(tpath, probe.termination_grace_period_seconds,
                         "must not be set for readinessProbes")
        elif probe.termination_grace_period_seconds <= 0:
            errs.invalid(tpath, probe.termination_grace_period_seconds,
                         "must be greater than 0")


def _ports(errs: ErrorList, path: str, ports: Iterable[v1.ContainerPort], host_network: bool,
           names: set[str]) -> None:
    for j, port in enumerate(ports):
        ppath = f"{path}.ports[{j}]"
        if port.name:
            check(errs, f"{ppath}.name", port.name, port_name_errors)
            if port.name in names:
                errs.duplicate(f"{ppath}.name", port.name)
            names.add(port.name)
        if port.container_port == 0:
            errs.required(f"{ppath}.containerPort")
        else:
            port_number(errs, f"{ppath}.containerPort", port.container_port)
        if port.host_port:
            port_number(errs, f"{ppath}.hostPort", port.host_port)
            if host_network and port.host_port != port.container_port:
                errs.invalid(f"{ppath}.hostPort", port.host_port,
                             "must match `containerPort` when `hostNetwork` is true")
        enum(errs, f"{ppath}.protocol", port.protocol, PROTOCOLS)
        if port.host_ip:
            _ip(errs, f"{ppath}.hostIP", port.host_ip)


def _ip(errs: ErrorList, path: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        errs.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")


def _env(errs: ErrorList, path: str, container: v1.Container) -> None:
    for j, var in enumerate(container.env):
        epath = f"{path}.env[{j}]"
        if not var.name:
            errs.required(f"{epath}.name")
        else:
            check(errs, f"{epath}.name", var.name, env_name_errors)
        if not var.HasField("value_from"):
            continue
        vpath = f"{epath}.valueFrom"
        if var.value:
            errs.invalid(vpath, "", "may not be specified when `value` is not empty")
        src = var.value_from
        which = _one_of(
            errs, vpath, src, ("field_ref", "resource_field_ref", "config_map_key_ref",
                               "secret_key_ref"),
            lambda p=vpath: errs.invalid(p, "", "must specify one of: `fieldRef`, "  # type: ignore[misc]
                                         "`resourceFieldRef`, `configMapKeyRef` or "
                                         "`secretKeyRef`"),
            lambda _n, p=vpath: errs.invalid(p, "", "may not have more than one field "  # type: ignore[misc]
                                             "specified at a time"))
        if which == "field_ref":
            _field_ref(errs, f"{vpath}.fieldRef", src.field_ref, ENV_FIELD_PATHS)
        elif which == "resource_field_ref":
            _resource_field_ref(errs, f"{vpath}.resourceFieldRef", src.resource_field_ref, None)
        elif which in ("config_map_key_ref", "secret_key_ref"):
            ref = getattr(src, which)
            rpath = f"{vpath}.{camel(which)}"
            if not ref.name:
                errs.required(f"{rpath}.name")
            if not ref.key:
                errs.required(f"{rpath}.key")
            else:
                check(errs, f"{rpath}.key", ref.key, config_key_errors)
    for j, env_from in enumerate(container.env_from):
        fpath = f"{path}.envFrom[{j}]"
        if env_from.prefix:
            check(errs, f"{fpath}.prefix", env_from.prefix, env_name_errors)
        which = _one_of(
            errs, fpath, env_from, ("config_map_ref", "secret_ref"),
            lambda p=fpath: errs.invalid(p, "", "must specify one of: `configMapRef` or "  # type: ignore[misc]
                                         "`secretRef`"),
            lambda _n, p=fpath: errs.invalid(p, "", "may not have more than one field "  # type: ignore[misc]
                                             "specified at a time"))
        if which is not None and not getattr(env_from, which).name:
            errs.required(f"{fpath}.{camel(which)}.name")


def _resource_name(errs: ErrorList, path: str, name: str) -> None:
    if name in STANDARD_RESOURCES or name.startswith("hugepages-"):
        return
    if qualified_name_errors(name) or "/" not in name:
        errs.invalid(path, name, "must be a standard resource type or fully qualified")


def _resources(errs: ErrorList, path: str, res: v1.ResourceRequirements) -> None:
    limits: dict[str, Any] = {}
    for name, value in sorted(res.limits.items()):
        _resource_name(errs, f"{path}.limits[{name}]", name)
        limits[name] = quantity(errs, f"{path}.limits[{name}]", value)
    for name, value in sorted(res.requests.items()):
        if limits.get(name, True) is None and value == res.limits[name]:
            continue  # a request defaulted from a bad limit: that error is already reported
        rpath = f"{path}.requests[{name}]"
        _resource_name(errs, rpath, name)
        request = quantity(errs, rpath, value)
        limit = limits.get(name)
        if request is not None and limit is not None and request > limit:
            errs.invalid(rpath, value, f"must be less than or equal to {name} limit of "
                         f"{res.limits[name]}")


def _volume_mounts(errs: ErrorList, path: str, container: v1.Container,
                   volumes: set[str]) -> None:
    seen: set[str] = set()
    for j, mount in enumerate(container.volume_mounts):
        mpath = f"{path}.volumeMounts[{j}]"
        if not mount.name:
            errs.required(f"{mpath}.name")
        elif mount.name not in volumes:
            errs.not_found(f"{mpath}.name", mount.name)
        if not mount.mount_path:
            errs.required(f"{mpath}.mountPath")
        elif mount.mount_path in seen:
            errs.invalid(f"{mpath}.mountPath", mount.mount_path, "must be unique")
        seen.add(mount.mount_path)
        if mount.sub_path:
            relative_path(errs, f"{mpath}.subPath", mount.sub_path)
        if mount.sub_path_expr:
            if mount.sub_path:
                errs.invalid(f"{mpath}.subPathExpr", mount.sub_path_expr,
                             "subPathExpr and subPath are mutually exclusive")
            relative_path(errs, f"{mpath}.subPathExpr", mount.sub_path_expr)
        enum(errs, f"{mpath}.mountPropagation", mount.mount_propagation,
              ("None", "HostToContainer", "Bidirectional"))


def _container(errs: ErrorList, path: str, c: v1.Container, init: bool, volumes: set[str],
               host_network: bool) -> None:
    if not c.name:
        errs.required(f"{path}.name")
    else:
        check(errs, f"{path}.name", c.name, dns1123_label_errors)
    if not c.image:
        errs.required(f"{path}.image")
    elif c.image != c.image.strip():
        errs.invalid(f"{path}.image", c.image, "must not have leading or trailing whitespace")
    enum(errs, f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES)
    enum(errs, f"{path}.terminationMessagePolicy", c.termination_message_policy,
          MESSAGE_POLICIES)
    sidecar = init and c.restart_policy == "Always"
    if init:
        enum(errs, f"{path}.restartPolicy", c.restart_policy, ("Always",))
    elif c.restart_policy:
        errs.forbidden(f"{path}.restartPolicy", "may not be set for non-init containers")
    port_names: set[str] = set()
    _ports(errs, path, c.ports, host_network, port_names)
    _env(errs, path, c)
    _resources(errs, f"{path}.resources", c.resources)
    _volume_mounts(errs, path, c, volumes)
    for kind in ("liveness", "readiness", "startup"):
        field = f"{kind}_probe"
        if not c.HasField(field):
            continue
        ppath = f"{path}.{kind}Probe"
        if init and not sidecar:
            errs.forbidden(ppath, "may not be set for init containers without "
                           "restartPolicy=Always")
            continue
        _probe(errs, ppath, getattr(c, field), kind, port_names)
    if c.HasField("lifecycle"):
        if init and not sidecar:
            errs.forbidden(f"{path}.lifecycle", "may not be set for init containers without "
                           "restartPolicy=Always")
        for hook in ("post_start", "pre_stop"):
            if c.lifecycle.HasField(hook):
                _handler(errs, f"{path}.lifecycle.{camel(hook)}", getattr(c.lifecycle, hook),
                         ("exec", "http_get", "tcp_socket", "sleep"), port_names)
    sc = c.security_context
    for field in ("run_as_user", "run_as_group"):
        if sc.HasField(field):
            non_negative(errs, f"{path}.securityContext.{camel(field)}", getattr(sc, field))


def _node_selector_requirement(errs: ErrorList, path: str, req: v1.NodeSelectorRequirement,
                               field: bool) -> None:
    if field:
        if req.key != "metadata.name":
            errs.invalid(f"{path}.key", req.key, "not a valid field selector key")
        enum(errs, f"{path}.operator", req.operator, ("In", "NotIn"), required=True)
        if len(req.values) != 1:
            errs.required(f"{path}.values", "must be only one value when `operator` is 'In' or "
                          "'NotIn' for node field selector")
        return
    check(errs, f"{path}.key", req.key, qualified_name_errors)
    if req.operator in ("In", "NotIn"):
        if not req.values:
            errs.required(f"{path}.values", "must be specified when `operator` is 'In' or "
                          "'NotIn'")
    elif req.operator in ("Exists", "DoesNotExist"):
        if req.values:
            errs.forbidden(f"{path}.values", "may not be specified when `operator` is "
                           "'Exists' or 'DoesNotExist'")
    elif req.operator in ("Gt", "Lt"):
        if len(req.values) != 1:
            errs.required(f"{path}.values", "must be specified single value when `operator` "
                          "is 'Lt' or 'Gt'")
        elif not re.fullmatch(r"[-+]?[0-9]+", req.values[0]):
            errs.invalid(f"{path}.values[0]", req.values[0], "must be an integer")
    else:
        enum(errs, f"{path}.operator", req.operator, SELECTOR_OPERATORS, required=True)


def _node_selector_term(errs: ErrorList, path: str, term: v1.NodeSelectorTerm) -> None:
    for k, req in enumerate(term.match_expressions):
        _node_selector_requirement(errs, f"{path}.matchExpressions[{k}]", req, field=False)
    for k, req in enumerate(term.match_fields):
        _node_selector_requirement(errs, f"{path}.matchFields[{k}]", req, field=True)


def _affinity(errs: ErrorList, path: str, affinity: v1.Affinity) -> None:
    if not affinity.HasField("node_affinity"):
        return
    na = affinity.node_affinity
    npath = f"{path}.nodeAffinity"
    if na.HasField("required_during_scheduling_ignored_during_execution"):
        rpath = f"{npath}.requiredDuringSchedulingIgnoredDuringExecution"
        terms = na.required_during_scheduling_ignored_during_execution.node_selector_terms
        if not terms:
            errs.required(f"{rpath}.nodeSelectorTerms", "must have at least one node selector "
                          "term")
        for k, term in enumerate(terms):
            _node_selector_term(errs, f"{rpath}.nodeSelectorTerms[{k}]", term)
    for k, pref in enumerate(na.preferred_during_scheduling_ignored_during_execution):
        ppath = f"{npath}.preferredDuringSchedulingIgnoredDuringExecution[{k}]"
        if not 1 <= pref.weight <= 100:
            errs.invalid(f"{ppath}.weight", pref.weight, "must be in the range 1-100")
        _node_selector_term(errs, f"{ppath}.preference", pref.preference)


def _tolerations(errs: ErrorList, path: str, tolerations: Iterable[v1.Toleration]) -> None:
    for k, tol in enumerate(tolerations):
        tpath = f"{path}[{k}]"
        if tol.key:
            check(errs, f"{tpath}.key", tol.key, qualified_name_errors)
        elif tol.operator != "Exists":
            errs.invalid(f"{tpath}.operator", tol.operator, "operator must be Exists when `key` "
                         "is empty, which means \"match all values and all keys\"")
        if tol.operator == "Exists":
            if tol.value:
                errs.invalid(f"{tpath}.operator", tol.value, "value must be empty when "
                             "`operator` is 'Exists'")
        elif tol.operator in ("", "Equal"):
            check(errs, f"{tpath}.value", tol.value, label_value_errors)
        else:
            errs.unsupported(f"{tpath}.operator", tol.operator, TOLERATION_OPERATORS)
        if tol.HasField("toleration_seconds") and tol.effect != "NoExecute":
            errs.invalid(f"{tpath}.effect", tol.effect, "effect must be 'NoExecute' when "
                         "`tolerationSeconds` is set")
        enum(errs, f"{tpath}.effect", tol.effect, TAINT_EFFECTS)


def pod_spec_errors(errs: ErrorList, path: str, spec: v1.PodSpec) -> None:
    volumes = _volumes(errs, path, spec)
    if not spec.containers:
        errs.required(f"{path}.containers")
    names: set[str] = set()
    for field, init in (("initContainers", True), ("containers", False)):
        for i, c in enumerate(spec.init_containers if init else spec.containers):
            cpath = f"{path}.{field}[{i}]"
            _container(errs, cpath, c, init, volumes, spec.host_network)
            if c.name:
                if c.name in names:
                    errs.duplicate(f"{cpath}.name", c.name)
                names.add(c.name)
    enum(errs, f"{path}.restartPolicy", spec.restart_policy, RESTART_POLICIES)
    enum(errs, f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES)
    if spec.dns_policy == "None":
        errs.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
    if spec.HasField("termination_grace_period_seconds"):
        non_negative(errs, f"{path}.terminationGracePeriodSeconds",
                      spec.termination_grace_period_seconds)
    if spec.HasField("active_deadline_seconds") and spec.active_deadline_seconds < 1:
        errs.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                     "must be between 1 and 2147483647, inclusive")
    labels(errs, f"{path}.nodeSelector", spec.node_selector)
    for field in ("node_name", "service_account_name", "service_account"):
        value = getattr(spec, field)
        if value:
            check(errs, f"{path}.{camel(field)}", value, dns1123_subdomain_errors)
    for field in ("hostname", "subdomain"):
        value = getattr(spec, field)
        if value:
            check(errs, f"{path}.{field}", value, dns1123_label_errors)
    for k, secret in enumerate(spec.image_pull_secrets):
        if not secret.name:
            errs.required(f"{path}.imagePullSecrets[{k}].name")
    _affinity(errs, f"{path}.affinity", spec.affinity)
    _tolerations(errs, f"{path}.tolerations", spec.tolerations)
    for k, alias in enumerate(spec.host_aliases):
        apath = f"{path}.hostAliases[{k}]"
        _ip(errs, f"{apath}.ip", alias.ip)
        for m, hostname in enumerate(alias.hostnames):
            check(errs, f"{apath}.hostnames[{m}]", hostname, dns1123_subdomain_errors)
    sc = spec.security_context
    for field in ("run_as_user", "run_as_group", "fs_group"):
        if sc.HasField(field):
            non_negative(errs, f"{path}.securityContext.{camel(field)}", getattr(sc, field))
    for k, group in enumerate(sc.supplemental_groups):
        non_negative(errs, f"{path}.securityContext.supplementalGroups[{k}]", group)


# ---------------------------------------------------------------- other kinds



POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def pod_update_errors(errs: ErrorList, old: v1.Pod, new: v1.Pod) -> None:
    old_spec, new_spec = old.spec, new.spec
    if old_spec.HasField("active_deadline_seconds"):
        path = "spec.activeDeadlineSeconds"
        if not new_spec.HasField("active_deadline_seconds"):
            errs.invalid(path, None, "must not update from a positive integer to nil value")
        elif new_spec.active_deadline_seconds > old_spec.active_deadline_seconds:
            errs.invalid(path, new_spec.active_deadline_seconds,
                         "must be less than or equal to previous value")
    # Compare the specs with every mutable field taken from the new one.
    patched = v1.PodSpec()
    patched.CopyFrom(old_spec)
    for field in ("containers", "init_containers"):
        old_list, new_list = getattr(patched, field), getattr(new_spec, field)
        if len(old_list) == len(new_list):
            for o, n in zip(old_list, new_list, strict=True):
                o.image = n.image
    if new_spec.HasField("active_deadline_seconds"):
        patched.active_deadline_seconds = new_spec.active_deadline_seconds
    old_tolerations = [t.SerializeToString(deterministic=True) for t in old_spec.tolerations]
    new_tolerations = [t.SerializeToString(deterministic=True) for t in new_spec.tolerations]
    if all(t in new_tolerations for t in old_tolerations):
        del patched.tolerations[:]
        patched.tolerations.extend(new_spec.tolerations)
    if patched.SerializeToString(deterministic=True) != new_spec.SerializeToString(
            deterministic=True):
        errs.forbidden("spec", POD_UPDATE_FORBIDDEN)
