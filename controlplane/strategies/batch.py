"""batch/v1 Job (as pkg/registry/batch/job/strategy.go and pkg/apis/batch/validation).

Unless `spec.manualSelector` is true, the server generates the selector: the
template gets the labels controller-uid and job-name (legacy and
batch.kubernetes.io/ spellings) and the selector matches
batch.kubernetes.io/controller-uid, so a Job's pods are only its own. Pods
of a Job never restart as a whole: the template's restartPolicy must be
OnFailure or Never. Status is a subresource, the Job controller's.
"""

from __future__ import annotations

from google.protobuf.message import Message

from controlplane.defaults import default_job
from controlplane.strategies.apps import _go_map, _go_selector
from controlplane.strategies.base import Strategy
from controlplane.validation.pods import pod_spec_errors
from podlab.errors import BadRequest
from podlab.kinds import JOBS
from podlab.selectors import LabelSelector
from podlab.v1 import objects_pb2 as v1
from podlab.validation import ErrorList, Raw, labels

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_MODES = ("NonIndexed", "Indexed")
RESTART_POLICIES = ("OnFailure", "Never")


def generate_selector(job: v1.Job) -> None:
    """generateSelector: the job-name and controller-uid labels on the template (unless set), and
    batch.kubernetes.io/controller-uid in the selector."""
    template_labels = job.spec.template.metadata.labels
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        template_labels.setdefault(key, job.metadata.name)
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        template_labels.setdefault(key, job.metadata.uid)
    job.spec.selector.match_labels.setdefault(CONTROLLER_UID, job.metadata.uid)


def _nonnegative(errs: ErrorList, path: str, spec: Message, field: str) -> None:
    if spec.HasField(field) and getattr(spec, field) < 0:
        errs.invalid(path, getattr(spec, field), "must be greater than or equal to 0")


class JobStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(JOBS)

    def default(self, obj: Message) -> None:
        super().default(obj)
        assert isinstance(obj, v1.Job)
        default_job(obj)

    def prepare_for_create(self, obj: Message) -> None:
        assert isinstance(obj, v1.Job)
        obj.ClearField("status")
        obj.metadata.generation = 1
        if not obj.spec.manual_selector:
            generate_selector(obj)
        if not obj.metadata.labels:  # what defaulting on read gives a Job created without labels
            obj.metadata.labels.update(obj.spec.template.metadata.labels)

    def prepare_for_update(self, new: Message, old: Message) -> None:
        super().prepare_for_update(new, old)
        assert isinstance(new, v1.Job) and isinstance(old, v1.Job)
        new.metadata.generation = old.metadata.generation
        if new.spec != old.spec:
            new.metadata.generation += 1

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.Job)
        if not obj.spec.manual_selector:
            self._generated_selector_errors(errs, obj)
        spec = obj.spec
        _nonnegative(errs, "spec.parallelism", spec, "parallelism")
        _nonnegative(errs, "spec.completions", spec, "completions")
        _nonnegative(errs, "spec.activeDeadlineSeconds", spec, "active_deadline_seconds")
        _nonnegative(errs, "spec.backoffLimit", spec, "backoff_limit")
        _nonnegative(errs, "spec.ttlSecondsAfterFinished", spec, "ttl_seconds_after_finished")
        if spec.completion_mode not in COMPLETION_MODES:
            errs.unsupported("spec.completionMode", spec.completion_mode, COMPLETION_MODES)
        elif spec.completion_mode == "Indexed" and not spec.HasField("completions"):
            errs.required("spec.completions", "when completion mode is Indexed")
        self._selector_errors(errs, spec)
        labels(errs, "spec.template.metadata.labels", spec.template.metadata.labels)
        pod_spec_errors(errs, "spec.template.spec", spec.template.spec)
        if spec.template.spec.restart_policy not in RESTART_POLICIES:
            errs.unsupported("spec.template.spec.restartPolicy", spec.template.spec.restart_policy, RESTART_POLICIES)

    def _generated_selector_errors(self, errs: ErrorList, job: v1.Job) -> None:
        template_labels = job.spec.template.metadata.labels
        for key, want in ((LEGACY_CONTROLLER_UID, job.metadata.uid), (CONTROLLER_UID, job.metadata.uid),
                          (LEGACY_JOB_NAME, job.metadata.name), (JOB_NAME, job.metadata.name)):
            if template_labels.get(key, want) != want:
                errs.invalid(f"spec.template.metadata.labels[{key}]", template_labels[key], f"must be '{want}'")
        try:
            parsed = LabelSelector.from_api(job.spec.selector)
        except BadRequest:
            return  # reported by _selector_errors
        if not parsed.matches({CONTROLLER_UID: job.metadata.uid}):
            errs.invalid("spec.selector", _go_selector(job.spec.selector), "`selector` not auto-generated")

    def _selector_errors(self, errs: ErrorList, spec: v1.JobSpec) -> None:
        selector = spec.selector
        if not selector.match_labels and not selector.match_expressions:
            errs.required("spec.selector")
            return
        labels(errs, "spec.selector.matchLabels", selector.match_labels)
        try:
            parsed = LabelSelector.from_api(selector)
        except BadRequest as err:
            errs.invalid("spec.selector.matchExpressions", _go_selector(selector), str(err))
            return
        if not parsed.matches(spec.template.metadata.labels):
            errs.invalid("spec.template.metadata.labels", _go_map(dict(spec.template.metadata.labels)),
                         "`selector` does not match template `labels`")

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        assert isinstance(new, v1.Job) and isinstance(old, v1.Job)
        if new.spec.selector != old.spec.selector:
            errs.invalid("spec.selector", _go_selector(new.spec.selector), "field is immutable")
        if new.spec.completion_mode != old.spec.completion_mode:
            errs.invalid("spec.completionMode", new.spec.completion_mode, "field is immutable")
        if new.spec.completions != old.spec.completions:
            errs.invalid("spec.completions", new.spec.completions, "field is immutable")
        if new.spec.template != old.spec.template:
            errs.invalid("spec.template", Raw("core.PodTemplateSpec{...}"), "field is immutable")
