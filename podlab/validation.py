"""Validation of API objects, with Kubernetes' field paths and wording.

`validate(obj)` checks one object; `validate_update(old, new)` checks what an
update may change. Both raise errors.Invalid whose message is the line
kubectl prints, e.g.

    The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: "Mybe":
    supported values: "Always", "OnFailure", "Never"

and whose `causes` are the single field errors. Objects are accepted before
or after `defaults.apply_defaults`: a field that defaulting fills may be empty.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from podlab import errors
from podlab.kinds import kind_of
from podlab.names import FINALIZER_DELETE_DEPENDENTS, FINALIZER_ORPHAN_DEPENDENTS
from podlab.quantity import parse_quantity
from podlab.v1 import objects_pb2 as v1

# ---------------------------------------------------------------- field errors

_NO_VALUE = object()


class Raw(str):
    """A value already in the form Kubernetes prints it (Go's %#v of a map or struct): shown as is."""


def show(value: Any) -> str:
    """A value as Kubernetes prints it in an error: strings quoted, numbers bare."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class FieldError:
    """One field's error; str() is Kubernetes' `path: Type: value: detail`."""

    path: str
    type: str  # "Required value", "Invalid value", ...
    value: Any = _NO_VALUE
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.type}"
        if self.value is not _NO_VALUE:
            text += f": {show(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text


class ErrorList(list[FieldError]):
    """Field errors in the order found, with one constructor per Kubernetes error type."""

    def required(self, path: str, detail: str = "") -> None:
        self.append(FieldError(path, "Required value", detail=detail))

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(FieldError(path, "Invalid value", value, detail))

    def unsupported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        values = ", ".join(show(s) for s in supported)
        self.append(FieldError(path, "Unsupported value", value, f"supported values: {values}"))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(FieldError(path, "Duplicate value", value))

    def not_found(self, path: str, value: Any) -> None:
        self.append(FieldError(path, "Not found", value))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(FieldError(path, "Forbidden", detail=detail))

    def too_long(self, path: str, limit: int) -> None:
        self.append(FieldError(path, "Too long", detail=f"may not be more than {limit} bytes"))


def invalid(kind: str, name: str, errs: Sequence[FieldError | str]) -> errors.Invalid:
    """The Invalid error Kubernetes returns for `errs` on object `kind`/`name`."""
    causes = [str(e) for e in errs]
    body = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
    return errors.Invalid(f'The {kind} "{name}" is invalid: {body}', causes, kind, name)


# ---------------------------------------------------------------- name syntax

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = rf"({_QUALIFIED_NAME})?"
_ENV_NAME = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_HTTP_HEADER = "[-A-Za-z0-9]+"


def _full(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.fullmatch(text) is not None


_is_label = _full(DNS1123_LABEL)
_is_subdomain = _full(DNS1123_SUBDOMAIN)
_is_qualified = _full(_QUALIFIED_NAME)
_is_label_value = _full(_LABEL_VALUE)
_is_env_name = _full(_ENV_NAME)
_is_config_key = _full(_CONFIG_KEY)
_is_header = _full(_HTTP_HEADER)


def _syntax_rule(check: Callable[[str], list[str]]) -> Callable[[str], tuple[str, ...]]:
    """A rule on a name's syntax, memoized: names, label keys and values repeat across objects."""
    return functools.wraps(check)(functools.lru_cache(maxsize=4096)(lambda value: tuple(check(value))))


@_syntax_rule
def dns1123_label_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 label (namespace, container name); [] when it is."""
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _is_label(value):
        out.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{DNS1123_LABEL}')")
    return out


@_syntax_rule
def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 subdomain (pod, node, configmap name); [] when it is."""
    out = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _is_subdomain(value):
        out.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            f"'{DNS1123_SUBDOMAIN}')")
    return out


@_syntax_rule
def qualified_name_errors(value: str) -> list[str]:
    """Why `value` is not a qualified name ("app", "example.com/app"): label and taint keys."""
    prefix, slash, name = value.rpartition("/")
    out: list[str] = []
    if slash:
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    if not name:
        return [*out, "name part must be non-empty"]
    if len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if not _is_qualified(name):
        out.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME}')")
    return out


@_syntax_rule
def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a label value; [] when it is (the empty string is one)."""
    out = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _is_label_value(value):
        out.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            f"'{_LABEL_VALUE}')")
    return out


@_syntax_rule
def port_name_errors(value: str) -> list[str]:
    """Why `value` is not an IANA_SVC_NAME (a container port name); [] when it is."""
    out = []
    if len(value) > 15:
        out.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", value):
        out.append("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


@_syntax_rule
def env_name_errors(value: str) -> list[str]:
    if _is_env_name(value):
        return []
    return [
        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
        "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  "
        f"or 'MyEnvName1', regex used for validation is '{_ENV_NAME}')"]


@_syntax_rule
def config_key_errors(value: str) -> list[str]:
    """Why `value` is not a ConfigMap/Secret key; [] when it is."""
    out = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _is_config_key(value):
        out.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
            f"'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            f"'{_CONFIG_KEY}')")
    if value == ".":
        out.append("must not be '.'")
    elif value == "..":
        out.append("must not be '..'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def _check(errs: ErrorList, path: str, value: str, check: Callable[[str], Sequence[str]]) -> None:
    for detail in check(value):
        errs.invalid(path, value, detail)


def _enum(errs: ErrorList, path: str, value: str, supported: Sequence[str],
          required: bool = False) -> None:
    if not value:
        if required:
            errs.required(path)
        return
    if value not in supported:
        errs.unsupported(path, value, supported)


def _non_negative(errs: ErrorList, path: str, value: int) -> None:
    if value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


def _port_number(errs: ErrorList, path: str, value: int) -> None:
    if not 1 <= value <= 65535:
        errs.invalid(path, value, "must be between 1 and 65535, inclusive")


def _relative_path(errs: ErrorList, path: str, value: str) -> None:
    if value.startswith("/"):
        errs.invalid(path, value, "must be a relative path")
    if ".." in value.split("/"):
        errs.invalid(path, value, "must not contain '..'")


def _quantity(errs: ErrorList, path: str, value: str) -> Any:
    try:
        quantity = parse_quantity(value)
    except ValueError as err:
        errs.invalid(path, value, str(err))
        return None
    if quantity < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")
        return None
    return quantity


# ---------------------------------------------------------------- metadata


def _metadata(errs: ErrorList, meta: v1.ObjectMeta, namespaced: bool,
              name_check: Callable[[str], Sequence[str]]) -> None:
    if not meta.name:
        if not meta.generate_name:
            errs.required("metadata.name", "name or generateName is required")
    else:
        _check(errs, "metadata.name", meta.name, name_check)
    if namespaced:
        if meta.namespace:
            _check(errs, "metadata.namespace", meta.namespace, dns1123_label_errors)
    elif meta.namespace:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    labels(errs, "metadata.labels", meta.labels)
    for key in sorted(meta.annotations):
        _check(errs, "metadata.annotations", key.lower(), qualified_name_errors)
    size = sum(len(k) + len(v) for k, v in meta.annotations.items())
    if size > 256 * 1024:
        errs.too_long("metadata.annotations", 256 * 1024)
    if meta.HasField("deletion_grace_period_seconds"):
        _non_negative(errs, "metadata.deletionGracePeriodSeconds",
                      meta.deletion_grace_period_seconds)
    _finalizers(errs, list(meta.finalizers))


def go_strings(values: Iterable[str]) -> Raw:
    """A []string as Go's %#v prints it: []string{"a", "b"}."""
    return Raw("[]string{" + ", ".join(json.dumps(v) for v in values) + "}")


def _finalizers(errs: ErrorList, finalizers: list[str]) -> None:
    """Kubernetes' ValidateFinalizers: qualified names, and never both orphan and foregroundDeletion."""
    for finalizer in finalizers:
        for msg in qualified_name_errors(finalizer):
            errs.invalid("metadata.finalizers", finalizer, msg)
    if FINALIZER_ORPHAN_DEPENDENTS in finalizers and FINALIZER_DELETE_DEPENDENTS in finalizers:
        errs.invalid("metadata.finalizers", go_strings(finalizers),
                     f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} "
                     "cannot be both set")


def labels(errs: ErrorList, path: str, mapping: Mapping[str, str]) -> None:
    """Label keys must be qualified names and values label values (also node selectors)."""
    for key, value in sorted(mapping.items()):
        _check(errs, path, key, qualified_name_errors)
        _check(errs, path, value, label_value_errors)


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
        _check(errs, f"{path}.fieldPath", sub.group(2), qualified_name_errors)
    elif ref.field_path not in supported:
        errs.unsupported(f"{path}.fieldPath", ref.field_path, supported)


def _resource_field_ref(errs: ErrorList, path: str, ref: v1.ResourceFieldSelector,
                        container_names: set[str] | None) -> None:
    if container_names is not None:
        if not ref.container_name:
            errs.required(f"{path}.containerName")
        elif ref.container_name not in container_names:
            errs.not_found(f"{path}.containerName", ref.container_name)
    _enum(errs, f"{path}.resource", ref.resource, RESOURCE_FIELD_REFS, required=True)
    if ref.divisor:
        _quantity(errs, f"{path}.divisor", ref.divisor)


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


@functools.lru_cache(maxsize=1024)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_VOLUME_SOURCES = [f.name for f in v1.Volume.DESCRIPTOR.fields if f.name != "name"]


def _volumes(errs: ErrorList, spec: v1.PodSpec) -> set[str]:
    """Checks spec.volumes; returns the volume names."""
    containers = {c.name for c in (*spec.init_containers, *spec.containers)}
    names: set[str] = set()
    for i, vol in enumerate(spec.volumes):
        path = f"spec.volumes[{i}]"
        if not vol.name:
            errs.required(f"{path}.name")
        else:
            _check(errs, f"{path}.name", vol.name, dns1123_label_errors)
            if vol.name in names:
                errs.duplicate(f"{path}.name", vol.name)
            names.add(vol.name)
        source = _one_of(
            errs, path, vol, _VOLUME_SOURCES,
            lambda p=path: errs.required(p, "must specify a volume type"),  # type: ignore[misc]
            lambda n, p=path: errs.forbidden(  # type: ignore[misc]
                f"{p}.{_camel(n) if n != 'downward_api' else 'downwardAPI'}",
                "may not specify more than 1 volume type"))
        if source is not None:
            _volume_source(errs, path, vol, source, containers)
    return names


def _items(errs: ErrorList, path: str, items: Iterable[v1.KeyToPath]) -> None:
    for j, item in enumerate(items):
        ipath = f"{path}.items[{j}]"
        if not item.key:
            errs.required(f"{ipath}.key")
        if not item.path:
            errs.required(f"{ipath}.path")
        else:
            _relative_path(errs, f"{ipath}.path", item.path)
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
            _relative_path(errs, f"{ipath}.path", item.path)
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
        _enum(errs, f"{path}.emptyDir.medium", vol.empty_dir.medium, STORAGE_MEDIA[1:])
        if vol.empty_dir.size_limit:
            _quantity(errs, f"{path}.emptyDir.sizeLimit", vol.empty_dir.size_limit)
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
                _relative_path(errs, f"{spath}.serviceAccountToken.path", tok.path)
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
            _port_number(errs, path, int(number))
    elif which == "string_value":
        name = port.string_value
        if name.isdigit():
            _port_number(errs, path, int(name))
            return
        _check(errs, path, name, port_name_errors)
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
        _enum(errs, f"{path}.httpGet.scheme", get.scheme, SCHEMES)
        for k, header in enumerate(get.http_headers):
            hpath = f"{path}.httpGet.httpHeaders[{k}].name"
            if not header.name:
                errs.required(hpath)
            elif not _is_header(header.name):
                errs.invalid(hpath, header.name, "a valid HTTP header must consist of "
                             "alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used "
                             f"for validation is '{_HTTP_HEADER}')")
    elif which == "tcp_socket":
        _int_or_string_port(errs, f"{path}.tcpSocket.port", handler.tcp_socket.port,
                            port_names)
    elif which == "grpc":
        _port_number(errs, f"{path}.grpc.port", handler.grpc.port)
    elif which == "sleep":
        _non_negative(errs, f"{path}.sleep.seconds", handler.sleep.seconds)


def _probe(errs: ErrorList, path: str, probe: v1.Probe, kind: str, port_names: set[str]) -> None:
    _handler(errs, path, probe, ("exec", "http_get", "tcp_socket", "grpc"), port_names)
    for field in ("initial_delay_seconds", "timeout_seconds", "period_seconds",
                  "success_threshold", "failure_threshold"):
        _non_negative(errs, f"{path}.{_camel(field)}", getattr(probe, field))
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
            _check(errs, f"{ppath}.name", port.name, port_name_errors)
            if port.name in names:
                errs.duplicate(f"{ppath}.name", port.name)
            names.add(port.name)
        if port.container_port == 0:
            errs.required(f"{ppath}.containerPort")
        else:
            _port_number(errs, f"{ppath}.containerPort", port.container_port)
        if port.host_port:
            _port_number(errs, f"{ppath}.hostPort", port.host_port)
            if host_network and port.host_port != port.container_port:
                errs.invalid(f"{ppath}.hostPort", port.host_port,
                             "must match `containerPort` when `hostNetwork` is true")
        _enum(errs, f"{ppath}.protocol", port.protocol, PROTOCOLS)
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
            _check(errs, f"{epath}.name", var.name, env_name_errors)
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
            rpath = f"{vpath}.{_camel(which)}"
            if not ref.name:
                errs.required(f"{rpath}.name")
            if not ref.key:
                errs.required(f"{rpath}.key")
            else:
                _check(errs, f"{rpath}.key", ref.key, config_key_errors)
    for j, env_from in enumerate(container.env_from):
        fpath = f"{path}.envFrom[{j}]"
        if env_from.prefix:
            _check(errs, f"{fpath}.prefix", env_from.prefix, env_name_errors)
        which = _one_of(
            errs, fpath, env_from, ("config_map_ref", "secret_ref"),
            lambda p=fpath: errs.invalid(p, "", "must specify one of: `configMapRef` or "  # type: ignore[misc]
                                         "`secretRef`"),
            lambda _n, p=fpath: errs.invalid(p, "", "may not have more than one field "  # type: ignore[misc]
                                             "specified at a time"))
        if which is not None and not getattr(env_from, which).name:
            errs.required(f"{fpath}.{_camel(which)}.name")


def _resource_name(errs: ErrorList, path: str, name: str) -> None:
    if name in STANDARD_RESOURCES or name.startswith("hugepages-"):
        return
    if qualified_name_errors(name) or "/" not in name:
        errs.invalid(path, name, "must be a standard resource type or fully qualified")


def _resources(errs: ErrorList, path: str, res: v1.ResourceRequirements) -> None:
    limits: dict[str, Any] = {}
    for name, value in sorted(res.limits.items()):
        _resource_name(errs, f"{path}.limits[{name}]", name)
        limits[name] = _quantity(errs, f"{path}.limits[{name}]", value)
    for name, value in sorted(res.requests.items()):
        if limits.get(name, True) is None and value == res.limits[name]:
            continue  # a request defaulted from a bad limit: that error is already reported
        rpath = f"{path}.requests[{name}]"
        _resource_name(errs, rpath, name)
        request = _quantity(errs, rpath, value)
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
            _relative_path(errs, f"{mpath}.subPath", mount.sub_path)
        if mount.sub_path_expr:
            if mount.sub_path:
                errs.invalid(f"{mpath}.subPathExpr", mount.sub_path_expr,
                             "subPathExpr and subPath are mutually exclusive")
            _relative_path(errs, f"{mpath}.subPathExpr", mount.sub_path_expr)
        _enum(errs, f"{mpath}.mountPropagation", mount.mount_propagation,
              ("None", "HostToContainer", "Bidirectional"))


def _container(errs: ErrorList, path: str, c: v1.Container, init: bool, volumes: set[str],
               host_network: bool) -> None:
    if not c.name:
        errs.required(f"{path}.name")
    else:
        _check(errs, f"{path}.name", c.name, dns1123_label_errors)
    if not c.image:
        errs.required(f"{path}.image")
    elif c.image != c.image.strip():
        errs.invalid(f"{path}.image", c.image, "must not have leading or trailing whitespace")
    _enum(errs, f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES)
    _enum(errs, f"{path}.terminationMessagePolicy", c.termination_message_policy,
          MESSAGE_POLICIES)
    sidecar = init and c.restart_policy == "Always"
    if init:
        _enum(errs, f"{path}.restartPolicy", c.restart_policy, ("Always",))
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
                _handler(errs, f"{path}.lifecycle.{_camel(hook)}", getattr(c.lifecycle, hook),
                         ("exec", "http_get", "tcp_socket", "sleep"), port_names)
    sc = c.security_context
    for field in ("run_as_user", "run_as_group"):
        if sc.HasField(field):
            _non_negative(errs, f"{path}.securityContext.{_camel(field)}", getattr(sc, field))


def _node_selector_requirement(errs: ErrorList, path: str, req: v1.NodeSelectorRequirement,
                               field: bool) -> None:
    if field:
        if req.key != "metadata.name":
            errs.invalid(f"{path}.key", req.key, "not a valid field selector key")
        _enum(errs, f"{path}.operator", req.operator, ("In", "NotIn"), required=True)
        if len(req.values) != 1:
            errs.required(f"{path}.values", "must be only one value when `operator` is 'In' or "
                          "'NotIn' for node field selector")
        return
    _check(errs, f"{path}.key", req.key, qualified_name_errors)
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
        _enum(errs, f"{path}.operator", req.operator, SELECTOR_OPERATORS, required=True)


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
            _check(errs, f"{tpath}.key", tol.key, qualified_name_errors)
        elif tol.operator != "Exists":
            errs.invalid(f"{tpath}.operator", tol.operator, "operator must be Exists when `key` "
                         "is empty, which means \"match all values and all keys\"")
        if tol.operator == "Exists":
            if tol.value:
                errs.invalid(f"{tpath}.operator", tol.value, "value must be empty when "
                             "`operator` is 'Exists'")
        elif tol.operator in ("", "Equal"):
            _check(errs, f"{tpath}.value", tol.value, label_value_errors)
        else:
            errs.unsupported(f"{tpath}.operator", tol.operator, TOLERATION_OPERATORS)
        if tol.HasField("toleration_seconds") and tol.effect != "NoExecute":
            errs.invalid(f"{tpath}.effect", tol.effect, "effect must be 'NoExecute' when "
                         "`tolerationSeconds` is set")
        _enum(errs, f"{tpath}.effect", tol.effect, TAINT_EFFECTS)


def _pod_spec(errs: ErrorList, spec: v1.PodSpec) -> None:
    volumes = _volumes(errs, spec)
    if not spec.containers:
        errs.required("spec.containers")
    names: set[str] = set()
    for field, init in (("initContainers", True), ("containers", False)):
        for i, c in enumerate(spec.init_containers if init else spec.containers):
            path = f"spec.{field}[{i}]"
            _container(errs, path, c, init, volumes, spec.host_network)
            if c.name:
                if c.name in names:
                    errs.duplicate(f"{path}.name", c.name)
                names.add(c.name)
    _enum(errs, "spec.restartPolicy", spec.restart_policy, RESTART_POLICIES)
    _enum(errs, "spec.dnsPolicy", spec.dns_policy, DNS_POLICIES)
    if spec.dns_policy == "None":
        errs.required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
    if spec.HasField("termination_grace_period_seconds"):
        _non_negative(errs, "spec.terminationGracePeriodSeconds",
                      spec.termination_grace_period_seconds)
    if spec.HasField("active_deadline_seconds") and spec.active_deadline_seconds < 1:
        errs.invalid("spec.activeDeadlineSeconds", spec.active_deadline_seconds,
                     "must be between 1 and 2147483647, inclusive")
    labels(errs, "spec.nodeSelector", spec.node_selector)
    for field in ("node_name", "service_account_name", "service_account"):
        value = getattr(spec, field)
        if value:
            _check(errs, f"spec.{_camel(field)}", value, dns1123_subdomain_errors)
    for field in ("hostname", "subdomain"):
        value = getattr(spec, field)
        if value:
            _check(errs, f"spec.{field}", value, dns1123_label_errors)
    for k, secret in enumerate(spec.image_pull_secrets):
        if not secret.name:
            errs.required(f"spec.imagePullSecrets[{k}].name")
    _affinity(errs, "spec.affinity", spec.affinity)
    _tolerations(errs, "spec.tolerations", spec.tolerations)
    for k, alias in enumerate(spec.host_aliases):
        apath = f"spec.hostAliases[{k}]"
        _ip(errs, f"{apath}.ip", alias.ip)
        for m, hostname in enumerate(alias.hostnames):
            _check(errs, f"{apath}.hostnames[{m}]", hostname, dns1123_subdomain_errors)
    sc = spec.security_context
    for field in ("run_as_user", "run_as_group", "fs_group"):
        if sc.HasField(field):
            _non_negative(errs, f"spec.securityContext.{_camel(field)}", getattr(sc, field))
    for k, group in enumerate(sc.supplemental_groups):
        _non_negative(errs, f"spec.securityContext.supplementalGroups[{k}]", group)


# ---------------------------------------------------------------- other kinds


def _node(errs: ErrorList, node: v1.Node) -> None:
    seen: set[tuple[str, str]] = set()
    for k, taint in enumerate(node.spec.taints):
        tpath = f"spec.taints[{k}]"
        if not taint.key:
            errs.required(f"{tpath}.key")
        else:
            _check(errs, f"{tpath}.key", taint.key, qualified_name_errors)
        if taint.value:
            _check(errs, f"{tpath}.value", taint.value, label_value_errors)
        _enum(errs, f"{tpath}.effect", taint.effect, TAINT_EFFECTS, required=True)
        if (taint.key, taint.effect) in seen:
            errs.duplicate(tpath, f"{taint.key}:{taint.effect}")
        seen.add((taint.key, taint.effect))
    for field in ("capacity", "allocatable"):
        for name, value in sorted(getattr(node.status, field).items()):
            _quantity(errs, f"status.{field}[{name}]", value)


def _config_keys(errs: ErrorList, path: str, keys: Iterable[str]) -> None:
    for key in sorted(keys):
        _check(errs, f"{path}[{key}]", key, config_key_errors)


def _config_map(errs: ErrorList, cm: v1.ConfigMap) -> None:
    _config_keys(errs, "data", cm.data)
    _config_keys(errs, "binaryData", cm.binary_data)
    for key in sorted(cm.binary_data):
        if key in cm.data:
            errs.invalid("data", key, "duplicate of key present in binaryData")
    size = sum(len(k) + len(v) for k, v in cm.data.items())
    size += sum(len(k) + len(v) for k, v in cm.binary_data.items())
    if size > 1024 * 1024:
        errs.too_long("", 1024 * 1024)


def _secret(errs: ErrorList, secret: v1.Secret) -> None:
    _config_keys(errs, "data", secret.data)
    _config_keys(errs, "stringData", secret.string_data)
    size = sum(len(v) for v in secret.data.values())
    size += sum(len(v.encode()) for v in secret.string_data.values())
    if size > 1024 * 1024:
        errs.too_long("data", 1024 * 1024)


def _lease(errs: ErrorList, lease: v1.Lease) -> None:
    _non_negative(errs, "spec.leaseDurationSeconds", lease.spec.lease_duration_seconds)
    _non_negative(errs, "spec.leaseTransitions", lease.spec.lease_transitions)


_NAME_RULES: dict[str, Callable[[str], Sequence[str]]] = {"Namespace": dns1123_label_errors}


def field_errors(obj: Message) -> ErrorList:
    """Every field error in `obj`, in Kubernetes' order; empty when it is valid."""
    kind = kind_of(obj)
    errs = ErrorList()
    meta: v1.ObjectMeta = obj.metadata
    _metadata(errs, meta, kind.namespaced, _NAME_RULES.get(kind.name, dns1123_subdomain_errors))
    if isinstance(obj, v1.Pod):
        _pod_spec(errs, obj.spec)
    elif isinstance(obj, v1.Node):
        _node(errs, obj)
    elif isinstance(obj, v1.ConfigMap):
        _config_map(errs, obj)
    elif isinstance(obj, v1.Secret):
        _secret(errs, obj)
    elif isinstance(obj, v1.Lease):
        _lease(errs, obj)
    return errs


def validate(obj: Message) -> None:
    """Raises errors.Invalid listing every field error in `obj`; returns when it is valid."""
    errs = field_errors(obj)
    if errs:
        raise invalid(kind_of(obj).name, _name_of(obj), errs)


def _name_of(obj: Message) -> str:
    meta: v1.ObjectMeta = obj.metadata
    return meta.name or meta.generate_name


# ---------------------------------------------------------------- updates

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def _pod_update(errs: ErrorList, old: v1.Pod, new: v1.Pod) -> None:
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


def _immutable_data(errs: ErrorList, old: Message, new: Message, fields: Sequence[str]) -> None:
    if not getattr(old, "immutable", False):
        return
    for field in fields:
        if getattr(old, field) != getattr(new, field):
            errs.forbidden(_camel(field), "field is immutable when `immutable` is set")
    if not new.HasField("immutable") or not new.immutable:
        errs.forbidden("immutable", "field is immutable when `immutable` is set")


def validate_update(old: Message, new: Message) -> None:
    """Raises errors.Invalid when `new` changes what may not change since `old`."""
    errs = ErrorList()
    old_meta: v1.ObjectMeta = old.metadata
    new_meta: v1.ObjectMeta = new.metadata
    for field in ("name", "namespace", "uid"):
        if getattr(old_meta, field) != getattr(new_meta, field):
            errs.invalid(f"metadata.{field}", getattr(new_meta, field), "field is immutable")
    if old_meta.HasField("deletion_timestamp"):
        extra = sorted(set(new_meta.finalizers) - set(old_meta.finalizers))
        if extra:
            errs.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, "
                                                  f"found new finalizers {go_strings(extra)}")
    if isinstance(old, v1.Pod) and isinstance(new, v1.Pod):
        _pod_update(errs, old, new)
    elif isinstance(old, v1.ConfigMap) and isinstance(new, v1.ConfigMap):
        _immutable_data(errs, old, new, ("data", "binary_data"))
    elif isinstance(old, v1.Secret) and isinstance(new, v1.Secret):
        _immutable_data(errs, old, new, ("data", "string_data"))
        if old.type != new.type:
            errs.invalid("type", new.type, "field is immutable")
    if errs:
        raise invalid(kind_of(new).name, _name_of(new), errs)


__all__ = [
    "ErrorList", "FieldError", "config_key_errors", "dns1123_label_errors",
    "dns1123_subdomain_errors", "field_errors", "invalid", "label_value_errors", "labels",
    "port_name_errors", "qualified_name_errors", "show", "validate", "validate_update",
]
