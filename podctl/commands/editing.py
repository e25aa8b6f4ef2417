"""Changing objects in place: patch, annotate, edit, with kubectl's flags and lines.

Each reads the object, changes its JSON (podlab.patch, as the REST API
does for kubectl's PATCH) and writes it back at the read's resourceVersion,
reading again when another writer got there first.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

import click
import yaml
from google.protobuf.message import Message

from podctl._app import cli
from podctl._base import CliError, connect, current_namespace, echo_err, global_options, run
from podctl._objects import render_yaml, to_dict
from podctl.commands._common import ref_name, resource_word, split_refs
from podctl.commands.nodes import mutate
from podlab import errors, patch
from podlab.client import Client
from podlab.kinds import Kind
from podlab.manifest import from_dict, load_manifests

PATCH_TYPES = (patch.JSON, patch.MERGE, patch.STRATEGIC)


def _refs(resource: str, names: tuple[str, ...]) -> list[tuple[Kind, str]]:
    """kubectl's TYPE NAME... or TYPE/NAME... arguments; at least one name."""
    if "/" in resource:
        return split_refs(resource, names)
    if not names:
        raise CliError("resource(s) were provided, but no name was specified")
    return split_refs(resource, names)


async def write_json(client: Client, kind: Kind, name: str, namespace: str,
                     change: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[Message, bool]:
    """Read object `name`, write back `change` of its JSON; (stored object, whether it changed)."""
    changed = False

    def apply(obj: Any) -> str | None:
        nonlocal changed
        before = to_dict(obj)
        after = change(before)
        md = after.get("metadata")
        if isinstance(md, dict) and md.get("name", name) != name:
            raise CliError("a patch may not change the object's name")
        new = from_dict(after, kind)
        new.metadata.resource_version = new.metadata.resource_version or obj.metadata.resource_version
        changed = to_dict(new) != before
        if not changed:
            return None
        obj.CopyFrom(new)
        return "patched"

    obj, _ = await mutate(client, kind, name, namespace, apply)
    return obj, changed


# -- patch -------------------------------------------------------------------------------

def _parse_patch(text: str) -> Any:
    try:
        return yaml.safe_load(text)  # kubectl reads -p as YAML, of which JSON is a subset
    except yaml.YAMLError as err:
        raise CliError(f'unable to parse "{text}": {" ".join(str(err).split())}') from None


@cli.command("patch")
@click.argument("resource")
@click.argument("names", nargs=-1)
@click.option("-p", "--patch", "patch_text", default=None, help="The patch to apply (JSON or YAML).")
@click.option("--patch-file", default=None, help="A file holding the patch.")
@click.option("--type", "patch_type", default=patch.STRATEGIC, help="json, merge or strategic.")
@global_options
def patch_(resource: str, names: tuple[str, ...], patch_text: str | None, patch_file: str | None,
           patch_type: str) -> None:
    """Update fields of an object with a strategic merge, JSON merge or JSON patch."""
    if patch_text is not None and patch_file is not None:
        raise CliError("cannot specify --patch and --patch-file together")
    if patch_text is None and patch_file is None:
        raise CliError("must specify --patch or --patch-file containing the contents of the patch")
    if patch_type not in PATCH_TYPES:
        raise CliError(f"--type must be one of [{' '.join(sorted(PATCH_TYPES))}], not \"{patch_type}\"")
    if patch_file is not None:
        try:
            with open(patch_file) as f:
                patch_text = f.read()
        except OSError as err:
            raise CliError(f"unable to read patch file: {err}") from None
    assert patch_text is not None
    document = _parse_patch(patch_text)
    refs = _refs(resource, names)
    namespace = current_namespace()

    async def body() -> None:
        async with connect() as client:
            for kind, name in refs:
                obj, changed = await write_json(client, kind, name, namespace,
                                                lambda doc: patch.apply_patch(doc, document, patch_type))
                click.echo(f"{ref_name(obj)} {'patched' if changed else 'patched (no change)'}")

    run(body)


# -- annotate ----------------------------------------------------------------------------

def parse_annotations(specs: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """key=value pairs to set and key- names to remove; CliError with kubectl's words."""
    sets: dict[str, str] = {}
    removes: list[str] = []
    for spec in specs:
        if "=" in spec:
            key, _, value = spec.partition("=")
            if not key:
                raise CliError(f"invalid annotation format: {spec}")
            sets[key] = value
        elif spec.endswith("-") and len(spec) > 1:
            removes.append(spec[:-1])
        else:
            raise CliError(f"at least one annotation update is required: invalid annotation format: {spec}")
    for key in removes:
        if key in sets:
            raise CliError(f"can not both modify and remove an annotation in the same command: {key}")
    return sets, removes


@cli.command("annotate")
@click.argument("resource")
@click.argument("args", nargs=-1, required=True)
@click.option("--overwrite", is_flag=True, help="Replace existing values.")
@global_options
def annotate(resource: str, args: tuple[str, ...], overwrite: bool) -> None:
    """Set (k=v) or remove (k-) annotations: podctl annotate pods NAME k=v [k2-]."""
    names = tuple(a for a in args if "=" not in a and not a.endswith("-"))
    specs = tuple(a for a in args if a not in names)
    if not specs:
        raise CliError("at least one annotation update is required")
    sets, removes = parse_annotations(specs)
    refs = _refs(resource, names)
    namespace = current_namespace()

    def change(obj: Any) -> str | None:
        current = obj.metadata.annotations
        clashes = [f"'{k}' already has a value ({current[k]})" for k in sets
                   if k in current and current[k] != sets[k]]
        if clashes and not overwrite:
            raise CliError("--overwrite is false but found the following declared annotation(s): "
                           + ", ".join(clashes))
        before = dict(current)
        current.update(sets)
        for key in removes:
            current.pop(key, None)
        return "annotated" if dict(current) != before else None

    async def body() -> None:
        async with connect() as client:
            for kind, name in refs:
                obj, _ = await mutate(client, kind, name, namespace, change)
                click.echo(f"{ref_name(obj)} annotated")

    run(body)


# -- edit --------------------------------------------------------------------------------

HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
          "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
          "# reopened with the relevant failures.\n#\n")


def editor_argv(path: str) -> list[str]:
    """KUBE_EDITOR, else EDITOR, else vi, as kubectl runs it: split on spaces, or by the shell
    when it has quotes or escapes."""
    editor = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    if any(c in editor for c in "\"'\\"):
        return [os.environ.get("SHELL") or "/bin/sh", "-c", f"{editor} {shlex.quote(path)}"]
    return [*editor.split(), path]


def strip_comments(text: str) -> str:
    """The file without its comment lines, as kubectl compares and parses it."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))


def _header(reasons: list[tuple[str, list[str]]]) -> str:
    out = HEADER
    for head, causes in reasons:
        out += f"# {head}:\n" if causes else f"# {head}\n"
        out += "".join(f"# * {cause}\n" for cause in causes)
        out += "#\n"
    return out


def _launch(text: str) -> tuple[str, str]:
    """Write `text` to a temporary file, run the editor on it; (the edited text, the file)."""
    fd, path = tempfile.mkstemp(prefix="podctl-edit-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    argv = editor_argv(path)
    try:
        done = subprocess.run(argv)
    except OSError as err:
        raise CliError(f"unable to launch the editor \"{argv[0]}\": {err}") from None
    if done.returncode != 0:
        raise CliError(f"there was a problem with the editor \"{' '.join(argv)}\"")
    with open(path) as f:
        return f.read(), path


def _preserved(path: str) -> None:
    if os.path.exists(path):
        echo_err(f'A copy of your changes has been stored to "{path}"')


@cli.command("edit")
@click.argument("resource")
@click.argument("names", nargs=-1)
@global_options
def edit(resource: str, names: tuple[str, ...]) -> None:
    """Edit an object in $KUBE_EDITOR or $EDITOR; saved changes are written back."""
    refs = _refs(resource, names)
    namespace = current_namespace()

    async def body() -> int:
        async with connect() as client:
            for kind, name in refs:
                code = await _edit_one(client, kind, name, namespace)
                if code:
                    return code
        return 0

    run(body)


def _merging(original: dict[str, Any], edited: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The change the edit made, as a merge patch onto whatever is stored now (kubectl patches too)."""
    delta = patch.create_merge_patch(original, edited)
    return lambda doc: patch.apply_patch(doc, delta, patch.MERGE)


async def _edit_one(client: Client, kind: Kind, name: str, namespace: str) -> int:
    """kubectl's edit loop for one object: reopen with the reasons until it saves, is unchanged or empty."""
    obj = await client.get(kind.name, name, namespace)
    original = to_dict(obj)
    original_text = render_yaml(original)
    reasons: list[tuple[str, list[str]]] = []
    text, previous, path = original_text, "", ""
    word = f"{kind.plural}.{kind.api_version.rpartition('/')[0]}".rstrip(".")
    while True:
        edited, new_path = _launch(_header(reasons) + (strip_comments(text) if reasons else text))
        if path and path != new_path:
            os.remove(path)
        path = new_path
        if reasons and strip_comments(edited) == strip_comments(previous):
            _preserved(path)
            raise CliError("Edit cancelled, no valid changes were saved.")
        previous = edited
        if strip_comments(edited) == strip_comments(original_text):
            os.remove(path)
            echo_err("Edit cancelled, no changes made.")
            return 0
        if not strip_comments(edited).strip():
            os.remove(path)
            echo_err("Edit cancelled, saved file was empty.")
            return 0
        text = edited
        try:
            docs = load_manifests(strip_comments(edited), path)
            if len(docs) != 1:
                raise errors.BadRequest("expected one object")
            changed = to_dict(docs[0])
        except errors.ApiError as err:
            reasons = [(f"The edited file had a syntax error: {err.message.removeprefix(f'error parsing {path}: ')}",
                        [])]
            continue
        if any(changed.get(k) != original.get(k) for k in ("apiVersion", "kind")) or \
                (changed.get("metadata") or {}).get("name") != name:
            _preserved(path)
            raise CliError("At least one of apiVersion, kind and name was changed")
        try:
            _, written = await write_json(client, kind, name, namespace, _merging(original, changed))
        except errors.Invalid as err:
            echo_err(f'error: {word} "{name}" is invalid')
            reasons = [(f'{word} "{name}" was not valid', list(err.causes) or [err.message])]
            continue
        except errors.NotFound:
            echo_err(f'error: {word} "{name}" could not be found on the server')
            echo_err(f'The edits you made on deleted resources have been saved to "{path}"')
            return 1
        except errors.ApiError as err:
            echo_err(f'error: {word} "{name}" could not be patched: {err.message}')
            echo_err(f"You can run `podctl replace -f {path}` to try this update again.")
            return 1
        os.remove(path)
        click.echo(f"{resource_word(kind)}/{name} {'edited' if written else 'skipped'}")
        return 0
