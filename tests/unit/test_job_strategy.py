"""batch/v1 Job through the real registry: Kubernetes' defaults, the generated selector and labels,
its validation messages; nothing invalid is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.testing import InMemoryApi
from podlab import errors, printers
from podlab.kinds import JOBS
from podlab.manifest import from_dict
from podlab.v1 import objects_pb2 as v1

# Kubernetes' documentation example (controllers/job.yaml), with an image the lab has.
PI = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
    "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "busybox",
                                                    "command": ["sh", "-c", "echo done"]}],
                                   "restartPolicy": "Never"}},
             "backoffLimit": 4},
}


def job(**spec: object) -> v1.Job:
    data = {**PI, "spec": {**PI["spec"], **spec}}
    obj = from_dict(data, JOBS)
    assert isinstance(obj, v1.Job)
    return obj


def refused(cluster: InMemoryApi, obj: v1.Job) -> str:
    with pytest.raises(errors.Invalid) as err:
        cluster.create_now(obj)
    assert not cluster.objects(v1.Job), "nothing invalid is stored"
    return str(err.value)


def test_the_docs_job_is_defaulted_and_gets_a_generated_selector() -> None:
    created = InMemoryApi().create_now(job())
    uid = created.metadata.uid
    spec = created.spec
    assert (spec.completions, spec.parallelism, spec.backoff_limit, spec.completion_mode, spec.suspend) == (
        1, 1, 4, "NonIndexed", False)
    assert dict(spec.selector.match_labels) == {"batch.kubernetes.io/controller-uid": uid}
    generated = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "pi",
                 "controller-uid": uid, "job-name": "pi"}
    assert dict(spec.template.metadata.labels) == generated
    assert dict(created.metadata.labels) == generated
    assert created.metadata.generation == 1


def test_backoff_limit_defaults_to_six_and_parallelism_alone_leaves_completions_unset() -> None:
    spec = {k: v for k, v in PI["spec"].items() if k != "backoffLimit"}  # type: ignore[union-attr]
    obj = from_dict({**PI, "spec": {**spec, "parallelism": 3}}, JOBS)
    created = InMemoryApi().create_now(obj)
    assert created.spec.backoff_limit == 6
    assert created.spec.parallelism == 3 and not created.spec.HasField("completions")


def test_a_template_that_restarts_always_is_refused() -> None:
    template = {"spec": {"containers": [{"name": "pi", "image": "busybox"}]}}
    assert refused(InMemoryApi(), job(template=template)) == (
        'The Job "pi" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "OnFailure", "Never"')


def test_negative_counts_are_refused() -> None:
    message = refused(InMemoryApi(), job(parallelism=-1, backoffLimit=-2, activeDeadlineSeconds=-3))
    assert "spec.parallelism: Invalid value: -1: must be greater than or equal to 0" in message
    assert "spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0" in message
    assert "spec.activeDeadlineSeconds: Invalid value: -3: must be greater than or equal to 0" in message


def test_a_selector_without_manual_selector_is_refused() -> None:
    message = refused(InMemoryApi(), job(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}}))
    assert "spec.selector: Invalid value: v1.LabelSelector" in message
    assert "`selector` not auto-generated" in message


def test_a_manual_selector_must_match_the_template() -> None:
    template = {**PI["spec"]["template"], "metadata": {"labels": {"app": "pi"}}}  # type: ignore[index]
    message = refused(InMemoryApi(), job(manualSelector=True, selector={"matchLabels": {"app": "web"}},
                                         template=template))
    assert message == ('The Job "pi" is invalid: spec.template.metadata.labels: Invalid value: '
                       'map[string]string{"app":"pi"}: `selector` does not match template `labels`')
    created = InMemoryApi().create_now(job(manualSelector=True, selector={"matchLabels": {"app": "pi"}},
                                           template=template))
    assert dict(created.spec.selector.match_labels) == {"app": "pi"}


def test_indexed_jobs_need_completions_and_modes_are_checked() -> None:
    assert "spec.completions: Required value: when completion mode is Indexed" in refused(
        InMemoryApi(), job(completionMode="Indexed", parallelism=2))
    assert 'spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"' in (
        refused(InMemoryApi(), job(completionMode="Sometimes")))


def test_selector_and_template_are_immutable_and_status_is_a_subresource() -> None:
    cluster = InMemoryApi()
    created = cluster.create_now(job())
    created.status.succeeded = 1
    created.spec.ttl_seconds_after_finished = 100
    updated = cluster.update_now(created)
    assert (updated.status.succeeded, updated.metadata.generation) == (0, 2)
    updated.spec.template.spec.containers[0].image = "nginx"
    with pytest.raises(errors.Invalid, match="spec.template: Invalid value: .*field is immutable"):
        cluster.update_now(updated)


def test_kubectl_columns() -> None:
    created = InMemoryApi().create_now(job())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    created.metadata.creation_timestamp.FromDatetime(now - timedelta(seconds=90))
    assert printers.job_row(created, now, False) == ["pi", "Running", "0/1", "", "90s"]
    created.status.start_time.FromDatetime(now - timedelta(seconds=80))
    created.status.completion_time.FromDatetime(now - timedelta(seconds=70))
    created.status.succeeded = 1
    created.status.conditions.add(type="Complete", status="True")
    assert printers.job_row(created, now, False) == ["pi", "Complete", "1/1", "10s", "90s"]
    created.ClearField("status")
    created.spec.ClearField("completions")
    created.spec.parallelism = 3
    assert printers.job_row(created, now, False)[2] == "0/1 of 3"
    assert JOBS.columns.headers == ("NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE")
