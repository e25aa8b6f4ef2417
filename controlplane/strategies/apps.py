"""apps/v1 ReplicaSet and Deployment (as pkg/registry/apps/*/strategy.go and pkg/apis/apps/validation).

Both have a status subresource; `metadata.generation` starts at 1 and moves
by one on every change of the spec, so a controller's `observedGeneration`
says whether it has acted on the latest spec. The selector must match the
template's labels and never changes; the template is a pod spec validated
as a pod's, at `spec.template.spec`.
"""

from __future__ import annotations

import re

from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Value

from controlplane.defaults import default_deployment, default_replica_set
from controlplane.strategies.base import Strategy
from controlplane.validation.pods import pod_spec_errors
from podlab.errors import BadRequest
from podlab.kinds import DEPLOYMENTS, REPLICA_SETS, Kind
from podlab.selectors import LabelSelector
from podlab.v1 import objects_pb2 as v1
from podlab.validation import ErrorList, Raw, labels

STRATEGY_TYPES = ("Recreate", "RollingUpdate")
_PERCENT = re.compile(r"[0-9]+%")
Workload = v1.ReplicaSet | v1.Deployment


def _go_map(mapping: dict[str, str]) -> Raw:
    """A label map as Go's %#v prints it in Kubernetes' messages: map[string]string{"app":"web"}."""
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(mapping.items()))
    return Raw(f"map[string]string{{{inner}}}")


def _go_selector(selector: v1.LabelSelector) -> Raw:
    """A LabelSelector as Go's %#v prints it (the immutable-selector message)."""
    exprs = "[]v1.LabelSelectorRequirement(nil)"
    if selector.match_expressions:
        items = ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{e.key}", Operator:"{e.operator}", '
            f'Values:[]string{{{", ".join(chr(34) + v + chr(34) for v in e.values)}}}}}'
            for e in selector.match_expressions)
        exprs = f"[]v1.LabelSelectorRequirement{{{items}}}"
    return Raw(f"v1.LabelSelector{{MatchLabels:{_go_map(dict(selector.match_labels))}, MatchExpressions:{exprs}}}")


def _go_intstr(value: Value) -> Raw:
    """An IntOrString as Go's %#v prints it: intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}."""
    if value.WhichOneof("kind") == "string_value":
        return Raw(f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:"{value.string_value}"}}')
    return Raw(f'intstr.IntOrString{{Type:0, IntVal:{int(value.number_value)}, StrVal:""}}')


def int_or_percent(value: Value, total: int, round_up: bool) -> int:
    """An IntOrString against `total`: 2 -> 2, "25%" of 10 -> 3 (up) or 2 (down)."""
    if value.WhichOneof("kind") == "number_value":
        return int(value.number_value)
    percent = int(value.string_value.rstrip("%") or 0)
    scaled = percent * total
    return -(-scaled // 100) if round_up else scaled // 100


def _int_or_percent_errors(errs: ErrorList, path: str, value: Value) -> int | None:
    """Check an IntOrString field; its value when it is a number, the percentage when a string."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number != int(number):
            errs.invalid(path, _go_intstr(value), "must be an integer")
            return None
        if number < 0:
            errs.invalid(path, _go_intstr(value), "must be greater than or equal to 0")
        return int(number)
    if kind == "string_value":
        text = value.string_value
        if not _PERCENT.fullmatch(text):
            errs.invalid(path, _go_intstr(value),
                         "a valid percent string must be a numeric string followed by an ending '%' "
                         "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
            return None
        return int(text[:-1])
    return 0


class WorkloadStrategy(Strategy):
    status_subresource = True

    def __init__(self, kind: Kind[Workload]) -> None:
        super().__init__(kind)

    def prepare_for_create(self, obj: Message) -> None:
        assert isinstance(obj, Workload)
        obj.ClearField("status")
        obj.metadata.generation = 1

    def prepare_for_update(self, new: Message, old: Message) -> None:
        super().prepare_for_update(new, old)
        assert isinstance(new, Workload) and isinstance(old, Workload)
        new.metadata.generation = old.metadata.generation
        if new.spec != old.spec:
            new.metadata.generation += 1

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, Workload)
        self._spec_errors(errs, obj)

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        assert isinstance(new, Workload) and isinstance(old, Workload)
        if new.spec.selector != old.spec.selector:
            errs.invalid("spec.selector", _go_selector(new.spec.selector), "field is immutable")

    def _spec_errors(self, errs: ErrorList, obj: Workload) -> None:
        spec = obj.spec
        if spec.replicas < 0:
            errs.invalid("spec.replicas", spec.replicas, "must be greater than or equal to 0")
        if spec.min_ready_seconds < 0:
            errs.invalid("spec.minReadySeconds", spec.min_ready_seconds, "must be greater than or equal to 0")
        self._selector_errors(errs, spec.selector, spec.template)
        self._template_errors(errs, spec.template)

    def _selector_errors(self, errs: ErrorList, selector: v1.LabelSelector, template: v1.PodTemplateSpec) -> None:
        if not selector.match_labels and not selector.match_expressions:
            errs.required("spec.selector")
            return
        labels(errs, "spec.selector.matchLabels", selector.match_labels)
        try:
            parsed = LabelSelector.from_api(selector)
        except BadRequest as err:  # an unknown operator
            errs.invalid("spec.selector.matchExpressions", _go_selector(selector), str(err))
            return
        if not parsed.matches(template.metadata.labels):
            errs.invalid("spec.template.metadata.labels", _go_map(dict(template.metadata.labels)),
                         "`selector` does not match template `labels`")

    def _template_errors(self, errs: ErrorList, template: v1.PodTemplateSpec) -> None:
        labels(errs, "spec.template.metadata.labels", template.metadata.labels)
        pod_spec_errors(errs, "spec.template.spec", template.spec)
        if template.spec.restart_policy != "Always":
            errs.unsupported("spec.template.spec.restartPolicy", template.spec.restart_policy, ["Always"])


class ReplicaSetStrategy(WorkloadStrategy):
    def __init__(self) -> None:
        super().__init__(REPLICA_SETS)

    def default(self, obj: Message) -> None:
        super().default(obj)
        assert isinstance(obj, v1.ReplicaSet)
        default_replica_set(obj)


class DeploymentStrategy(WorkloadStrategy):
    def __init__(self) -> None:
        super().__init__(DEPLOYMENTS)

    def default(self, obj: Message) -> None:
        super().default(obj)
        assert isinstance(obj, v1.Deployment)
        default_deployment(obj)

    def _spec_errors(self, errs: ErrorList, obj: Workload) -> None:
        super()._spec_errors(errs, obj)
        assert isinstance(obj, v1.Deployment)
        spec = obj.spec
        strategy = spec.strategy
        if strategy.type not in STRATEGY_TYPES:
            errs.unsupported("spec.strategy.type", strategy.type, STRATEGY_TYPES)
        elif strategy.type == "Recreate" and strategy.HasField("rolling_update"):
            errs.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        elif strategy.type == "RollingUpdate":
            self._rolling_update_errors(errs, strategy.rolling_update)
        if spec.HasField("revision_history_limit") and spec.revision_history_limit < 0:
            errs.invalid("spec.revisionHistoryLimit", spec.revision_history_limit,
                         "must be greater than or equal to 0")
        if spec.HasField("progress_deadline_seconds"):
            if spec.progress_deadline_seconds < 0:
                errs.invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                             "must be greater than or equal to 0")
            elif spec.progress_deadline_seconds <= spec.min_ready_seconds:
                errs.invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                             "must be greater than minReadySeconds")

    def _rolling_update_errors(self, errs: ErrorList, rolling: v1.RollingUpdateDeployment) -> None:
        path = "spec.strategy.rollingUpdate"
        unavailable = _int_or_percent_errors(errs, f"{path}.maxUnavailable", rolling.max_unavailable)
        surge = _int_or_percent_errors(errs, f"{path}.maxSurge", rolling.max_surge)
        percent = rolling.max_unavailable.WhichOneof("kind") == "string_value"
        if unavailable is not None and percent and unavailable > 100:
            errs.invalid(f"{path}.maxUnavailable", _go_intstr(rolling.max_unavailable), "must not be greater than 100%")
        if unavailable == 0 and surge == 0:
            errs.invalid(f"{path}.maxUnavailable", _go_intstr(rolling.max_unavailable),
                         "may not be 0 when `maxSurge` is 0")
