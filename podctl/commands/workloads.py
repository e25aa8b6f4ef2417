"""Deployments and ReplicaSets: scale, rollout status|history|undo|pause|resume|restart, set image,
create deployment — with kubectl's flags, output and messages.

Like kubectl's, `rollout undo` and `rollout restart` work on the client side: they write the
Deployment's template (a ReplicaSet's old template, or a restartedAt annotation) and the
Deployment controller rolls that out as any other change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from podctl._app import cli
from podctl._base import CliError, connect, current_namespace, global_options, parse_duration, run
from podctl.commands._common import resource_word, split_refs
from podctl.commands._write import write_from, write_options
from podctl.commands.apply import create, create_object
from podctl.commands.nodes import mutate
from podlab import errors
from podlab.client import Client
from podlab.kinds import DEPLOYMENTS, Kind
from podlab.names import POD_TEMPLATE_HASH as HASH_LABEL
from podlab.names import REVISION_ANNOTATION as REVISION
from podlab.v1 import objects_pb2 as v1

CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _workload_refs(resource: str, names: tuple[str, ...]) -> list[tuple[Kind, str]]:
    refs = split_refs(resource, names)
    for kind, _ in refs:
        if not kind.scalable:
            raise CliError(f"no scaler has been implemented for {{ {kind.name} }}" if kind else "")
    if not refs:
        raise CliError("resource(s) were provided, but no name was specified")
    return refs


# -- scale -----------------------------------------------------------------------------

@cli.command("scale")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("--replicas", type=int, required=True, help="The new number of replicas.")
@click.option("--current-replicas", type=int, default=-1, help="Only scale if the current replicas match.")
@global_options
def scale(resource: str, names: tuple[str, ...], replicas: int, current_replicas: int) -> None:
    """Set a new size for a Deployment or ReplicaSet."""
    if replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            for kind, name in _workload_refs(resource, names):
                def change(obj: Any) -> str | None:
                    if current_replicas >= 0 and obj.spec.replicas != current_replicas:
                        raise CliError(f"Expected replicas to be {current_replicas}, was {obj.spec.replicas}")
                    if obj.spec.replicas == replicas:
                        return "scaled"
                    obj.spec.replicas = replicas
                    return "scaled"
                await mutate(client, kind, name, namespace, change)
                click.echo(f"{_ref(kind, name)} scaled")
        return 0

    run(body)


def _ref(kind: Kind, name: str) -> str:
    return f"{resource_word(kind)}/{name}"


# -- set image ---------------------------------------------------------------------------

@cli.group("set")
def set_() -> None:
    """Change fields of existing objects."""


@set_.command("image")
@click.argument("resource")
@click.argument("pairs", nargs=-1, required=True)
@global_options
def set_image(resource: str, pairs: tuple[str, ...]) -> None:
    """Update the image of containers: `set image deployment/NAME CONTAINER=IMAGE ...`."""
    names = [p for p in pairs if "=" not in p]
    images = dict(p.split("=", 1) for p in pairs if "=" in p)
    if not images:
        raise CliError("at least one image update is required")
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            for kind, name in _workload_refs(resource, tuple(names)):
                def change(obj: Any) -> str | None:
                    containers = {c.name: c for c in obj.spec.template.spec.containers}
                    for container in images:
                        if container != "*" and container not in containers:
                            raise CliError(f'unable to find container named "{container}"')
                    changed = False
                    for c in containers.values():
                        wanted = images.get(c.name, images.get("*"))
                        if wanted is not None and c.image != wanted:
                            c.image, changed = wanted, True
                    return "image updated" if changed else None
                _, verb = await mutate(client, kind, name, namespace, change)
                click.echo(f"{_ref(kind, name)} {verb or 'image updated'}")
        return 0

    run(body)


# -- create deployment ---------------------------------------------------------------------

@create.command("deployment")
@click.argument("name")
@click.option("--image", "images", multiple=True, required=True, help="The container image (repeat for more).")
@click.option("--replicas", type=int, default=1, help="How many pods.")
@click.option("--port", type=int, default=0, help="The port the first container exposes.")
@write_options
@global_options
def create_deployment_command(name: str, images: tuple[str, ...], replicas: int, port: int, dry_run: str,
                              output: str | None, template: str | None) -> None:
    """Create a deployment: `create deployment NAME --image=IMAGE [--replicas=N] [--port=P]`."""
    write = write_from(dry_run, output, template)
    create_object(deployment_for(name, images, replicas, port, current_namespace()), write)


def deployment_for(name: str, images: tuple[str, ...], replicas: int, port: int, namespace: str) -> v1.Deployment:
    """The Deployment `kubectl create deployment NAME --image=IMAGE` makes: label app=NAME."""
    d = v1.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace = name, namespace
    d.metadata.labels["app"] = name
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.metadata.labels["app"] = name
    for image in images:
        d.spec.template.spec.containers.add(name=image.rsplit("/", 1)[-1].split(":")[0].split("@")[0], image=image)
    if port:
        d.spec.template.spec.containers[0].ports.add(container_port=port)
    return d


# -- rollout --------------------------------------------------------------------------------

@cli.group("rollout")
def rollout() -> None:
    """Manage the rollout of a Deployment."""


def _deployment_name(resource: str, names: tuple[str, ...]) -> list[str]:
    refs = split_refs(resource, names)
    if not refs:
        raise CliError("required resource not specified")
    for kind, _ in refs:
        if not kind.rollout:
            raise CliError(f"no rollout support for kind {kind.name!r}")
    return [name for _, name in refs]


async def _sets_of(client: Client, d: v1.Deployment) -> list[v1.ReplicaSet]:
    sets, _ = await client.list(v1.ReplicaSet, d.metadata.namespace)
    mine = [rs for rs in sets if any(r.uid == d.metadata.uid and r.controller for r in rs.metadata.owner_references)]
    return sorted(mine, key=lambda rs: int(rs.metadata.annotations.get(REVISION, "0") or 0))


def _at_revision(sets: list[v1.ReplicaSet], revision: int) -> v1.ReplicaSet | None:
    """The ReplicaSet that holds `revision` of its Deployment, or None."""
    return next((rs for rs in sets if rs.metadata.annotations.get(REVISION) == str(revision)), None)


@rollout.command("status")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("-w", "--watch", "watch", default=True, type=bool, help="Watch until the rollout ends.")
@click.option("--timeout", default="0s", help="Give up after this long (0: no limit).")
@global_options
def rollout_status(resource: str, names: tuple[str, ...], watch: bool, timeout: str) -> None:
    """Show the status of a rollout, waiting for it to finish as kubectl does."""
    namespace = current_namespace()
    limit = parse_duration(timeout) or 0.0

    async def body() -> int:
        async with connect() as client:
            for name in _deployment_name(resource, names):
                await _wait_rollout(client, name, namespace, watch, limit)
        return 0

    run(body)


def rollout_message(d: v1.Deployment) -> tuple[str, bool]:
    """kubectl's rollout status line for `d`, and whether the rollout is done."""
    name, spec, status = d.metadata.name, d.spec, d.status
    if d.metadata.generation > status.observed_generation:
        return "Waiting for deployment spec update to be observed...", False
    progressing = next((c for c in status.conditions if c.type == "Progressing"), None)
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        raise CliError(f'deployment "{name}" exceeded its progress deadline')
    if status.updated_replicas < spec.replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {status.updated_replicas} out of '
                f"{spec.replicas} new replicas have been updated...", False)
    if status.replicas > status.updated_replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {status.replicas - status.updated_replicas} '
                "old replicas are pending termination...", False)
    if status.available_replicas < status.updated_replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {status.available_replicas} of '
                f"{status.updated_replicas} updated replicas are available...", False)
    return f'deployment "{name}" successfully rolled out', True


async def _wait_rollout(client: Client, name: str, namespace: str, watch: bool, limit: float) -> None:
    deadline = time.monotonic() + limit if limit else None
    last = ""
    while True:
        d = await client.get(v1.Deployment, name, namespace)
        message, done = rollout_message(d)
        if message != last:
            click.echo(message)
            last = message
        if done or not watch:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise CliError("timed out waiting for the condition")
        await asyncio.sleep(0.2)


@rollout.command("history")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("--revision", type=int, default=0, help="Show the details of one revision.")
@global_options
def rollout_history(resource: str, names: tuple[str, ...], revision: int) -> None:
    """The revisions of a Deployment, as kubectl lists them."""
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            for name in _deployment_name(resource, names):
                d = await client.get(v1.Deployment, name, namespace)
                sets = await _sets_of(client, d)
                if revision:
                    rs = _at_revision(sets, revision)
                    if rs is None:
                        raise CliError("unable to find the specified revision")
                    click.echo(f"deployment.apps/{name} with revision #{revision}")
                    click.echo(_template_text(rs.spec.template))
                    continue
                click.echo(f"deployment.apps/{name} ")
                click.echo("REVISION  CHANGE-CAUSE")
                for rs in sets:
                    cause = rs.metadata.annotations.get(CHANGE_CAUSE, "<none>")
                    click.echo(f"{rs.metadata.annotations.get(REVISION, '0'):<10}{cause}")
                click.echo("")
        return 0

    run(body)


def _template_text(template: v1.PodTemplateSpec) -> str:
    lines = ["Pod Template:", "  Labels:\t" + ",".join(f"{k}={v}" for k, v in sorted(template.metadata.labels.items()))]
    lines.append("  Containers:")
    for c in template.spec.containers:
        lines += [f"   {c.name}:", f"    Image:\t{c.image}"]
    return "\n".join(lines) + "\n"


@rollout.command("undo")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("--to-revision", type=int, default=0, help="The revision to go back to (0: the previous one).")
@global_options
def rollout_undo(resource: str, names: tuple[str, ...], to_revision: int) -> None:
    """Roll back to an earlier revision: its template becomes the Deployment's again."""
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            for name in _deployment_name(resource, names):
                d = await client.get(v1.Deployment, name, namespace)
                sets = await _sets_of(client, d)
                current = d.metadata.annotations.get(REVISION, "")
                if to_revision:
                    target = _at_revision(sets, to_revision)
                    if target is None:
                        raise CliError(f"unable to find specified revision {to_revision} in history")
                else:
                    older = [r for r in sets if r.metadata.annotations.get(REVISION) != current]
                    if not older:
                        raise CliError("no rollout history found for deployment " + repr(name))
                    target = older[-1]
                template = v1.PodTemplateSpec()
                template.CopyFrom(target.spec.template)
                template.metadata.labels.pop(HASH_LABEL, None)
                _, verb = await mutate(client, DEPLOYMENTS, name, namespace, _use_template(template))
                click.echo(f"deployment.apps/{name} {verb or 'skipped rollback (current template already matches revision ' + target.metadata.annotations.get(REVISION, '?') + ')'}")  # noqa: E501
        return 0

    run(body)


def _use_template(template: v1.PodTemplateSpec) -> Callable[[Any], str | None]:
    def change(obj: Any) -> str | None:
        if obj.spec.template == template:
            return None
        obj.spec.template.CopyFrom(template)
        return "rolled back"
    return change


def _set_paused(resource: str, names: tuple[str, ...], paused: bool) -> None:
    namespace = current_namespace()
    word = "paused" if paused else "resumed"

    async def body() -> int:
        async with connect() as client:
            for name in _deployment_name(resource, names):
                def change(obj: Any) -> str | None:
                    if obj.spec.paused == paused:
                        return None
                    obj.spec.paused = paused
                    return word
                _, verb = await mutate(client, DEPLOYMENTS, name, namespace, change)
                click.echo(f"deployment.apps/{name} {verb or 'is already ' + word}" if verb is None
                           else f"deployment.apps/{name} {verb}")
        return 0

    run(body)


@rollout.command("pause")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def rollout_pause(resource: str, names: tuple[str, ...]) -> None:
    """Pause a rollout: template changes wait until resume."""
    _set_paused(resource, names, True)


@rollout.command("resume")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def rollout_resume(resource: str, names: tuple[str, ...]) -> None:
    """Resume a paused rollout."""
    _set_paused(resource, names, False)


@rollout.command("restart")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def rollout_restart(resource: str, names: tuple[str, ...]) -> None:
    """Restart every pod of a Deployment with a rolling update (a restartedAt annotation on the template)."""
    namespace = current_namespace()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def body() -> int:
        async with connect() as client:
            for name in _deployment_name(resource, names):
                def change(obj: Any) -> str | None:
                    obj.spec.template.metadata.annotations[RESTARTED_AT] = stamp
                    return "restarted"
                await mutate(client, DEPLOYMENTS, name, namespace, change)
                click.echo(f"deployment.apps/{name} restarted")
        return 0

    try:
        run(body)
    except errors.ApiError as err:
        raise CliError(str(err)) from None
