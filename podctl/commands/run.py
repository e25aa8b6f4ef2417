"""podctl run NAME --image=IMG [-- args]: one pod, labelled run=NAME."""

from __future__ import annotations

import click

from podctl._app import cli
from podctl._base import CliError, current_namespace, global_options
from podctl.commands._write import write_from, write_options
from podctl.commands.apply import create_object
from podlab.v1 import objects_pb2 as v1


def _pairs(values: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    out = []
    for item in values:
        for part in item.split(",") if what == "labels" else [item]:
            key, sep, value = part.partition("=")
            if not sep or not key:
                raise CliError(f"invalid {what} {part!r}: want key=value")
            out.append((key, value))
    return out


def build_pod(name: str, image: str, namespace: str, restart: str, labels: tuple[str, ...],
              env: tuple[str, ...], port: int | None, command: bool,
              args: tuple[str, ...]) -> v1.Pod:
    """The pod `kubectl run` would create for these flags."""
    if restart not in ("Always", "OnFailure", "Never"):
        raise CliError(f'invalid restart policy: {restart}')
    container = v1.Container(name=name, image=image)
    if command:
        container.command.extend(args)
    else:
        container.args.extend(args)
    for key, value in _pairs(env, "env"):
        container.env.append(v1.EnvVar(name=key, value=value))
    if port:
        container.ports.append(v1.ContainerPort(container_port=port))
    pod = v1.Pod(api_version="v1", kind="Pod",
                 metadata=v1.ObjectMeta(name=name, namespace=namespace),
                 spec=v1.PodSpec(containers=[container], restart_policy=restart))
    pod.metadata.labels.update(dict(_pairs(labels, "labels")) or {"run": name})
    return pod


@cli.command("run")
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--image", required=True, help="The container image.")
@click.option("--restart", default="Always", help="Always, OnFailure or Never.")
@click.option("--labels", "-l", multiple=True, help="k=v,k2=v2 (default run=NAME).")
@click.option("--env", multiple=True, help="k=v, repeatable.")
@click.option("--port", type=int, help="The container port to expose.")
@click.option("--command", is_flag=True, help="The arguments after -- are the command.")
@write_options
@global_options
def run_pod(name: str, args: tuple[str, ...], image: str, restart: str, labels: tuple[str, ...],
            env: tuple[str, ...], port: int | None, command: bool, dry_run: str, output: str | None,
            template: str | None) -> None:
    """Create and run a pod from an image."""
    write = write_from(dry_run, output, template)
    create_object(build_pod(name, image, current_namespace(), restart, labels, env, port, command, args), write)
