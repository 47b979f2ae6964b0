"""``dockyard patch``, ``apply`` and ``edit``: change objects of any kind.

``patch`` sends a merge, JSON or strategic merge patch as it is and says whether the object
changed. ``apply`` is a simple "last applied wins" apply: an object that doesn't exist is
created; one that does is replaced by the file's version (keeping the server's
``resourceVersion``), unless the server already holds everything the file says. ``edit`` opens
the object in ``$EDITOR`` and saves it back only if nobody changed it meanwhile.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dockyard.cli import arguments, verbs
from dockyard.cli.api import PATCH_TYPES, ResourceAPI, typed
from dockyard.cli.client import JSON, CommandError, command, connect, decoded, server_error
from dockyard.cli.discovery import Resource
from dockyard.cli.resources import dump_yaml, scope, targets

EDIT_HEADER = """\
# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. The object is saved only if nobody
# changed it on the server in the meantime.
#
"""
VOLATILE = ("resourceVersion", "managedFields")
"""Metadata a write changes even when nothing else does: ignored when telling a change."""


def register(commands: arguments.Subcommands) -> None:
    patch = arguments.add_kind_parser(
        commands,
        "patch",
        help="update fields of an object with a patch",
        description="Update fields of an object with a strategic merge (the default), JSON"
        " merge (RFC 7386) or JSON (RFC 6902) patch.",
        usage="dockyard patch KIND/NAME|KIND NAME [-n PROJECT] [--type TYPE] -p PATCH",
        epilog="example: dockyard patch is/app -n myproject --type merge"
        ' -p \'{"metadata":{"labels":{"team":"web"}}}\'',
    )
    patch.add_argument("words", nargs="*", metavar="KIND", help=argparse.SUPPRESS)
    arguments.add_scope_flags(patch, all_namespaces=False)
    patch.add_argument("--type", choices=tuple(PATCH_TYPES), default="strategic")
    patch.add_argument("-p", "--patch", required=True, metavar="PATCH", help="the patch, JSON")
    patch.set_defaults(command=run_patch)

    apply = commands.add_parser(
        "apply",
        help="create or update objects from a file",
        description="Create each object of a file that doesn't exist, or replace the one that"
        ' does ("last applied wins": fields the file leaves out are not kept, and there is no'
        " three-way merge). The file holds YAML or JSON: one object, a List, or several YAML"
        " documents.",
    )
    apply.add_argument("-f", "--filename", required=True, metavar="FILE", help="a file, or -")
    verbs.add_namespace_flag(apply)
    apply.set_defaults(command=run_apply)

    edit = arguments.add_kind_parser(
        commands,
        "edit",
        help="edit an object in your editor",
        description="Open an object in $EDITOR (default vi) and save it when the editor exits.",
        usage="dockyard edit KIND/NAME|KIND NAME [-n PROJECT] [-o yaml|json]",
    )
    edit.add_argument("words", nargs="*", metavar="KIND", help=argparse.SUPPRESS)
    arguments.add_scope_flags(edit, all_namespaces=False)
    edit.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    edit.set_defaults(command=run_edit)


def one_object(api: ResourceAPI, words: list[str]) -> tuple[Resource, str]:
    found = targets(api, words)
    if len(found) != 1 or len(found[0].names) != 1:
        raise CommandError("error: name exactly one object: KIND/NAME or KIND NAME")
    return found[0].resource, found[0].names[0]


# --- patch ---------------------------------------------------------------------------------


def parse_patch(text: str, kind: str) -> Any:
    try:
        patch = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"error: unable to parse {text!r}: {exc}") from None
    if kind == "json" and not isinstance(patch, list):
        raise CommandError("error: a JSON patch (--type json) is a list of operations")
    if kind != "json" and not isinstance(patch, dict):
        raise CommandError(f"error: a {kind} patch is a JSON object")
    return patch


def comparable(item: JSON) -> JSON:
    """The object without what every write changes."""
    found = copy.deepcopy(item)
    metadata = found.get("metadata") or {}
    for key in VOLATILE:
        metadata.pop(key, None)
    return found


@command
def run_patch(args: argparse.Namespace) -> int:
    patch = parse_patch(args.patch, args.type)
    with connect() as client:
        api = ResourceAPI(client)
        resource, name = one_object(api, arguments.words_of(args))
        namespace = scope(resource, args, True)
        before = api.get(resource, namespace, name)
        after = api.patch(resource, namespace, name, args.type, patch)
    changed = comparable(before) != comparable(after)
    print(f"{resource.prefix}/{name} patched" + ("" if changed else " (no change)"))
    return 0


# --- apply ---------------------------------------------------------------------------------


def read_objects(source: str) -> list[JSON]:
    """The objects of a YAML or JSON file (``-``: stdin): one, a ``List``'s items, or one per
    YAML document."""
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"error: cannot read {where}: {exc}") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise CommandError(f"error: {where} is not valid YAML or JSON: {exc}") from None
    objects: list[JSON] = []
    for document in documents:
        is_list = isinstance(document, dict) and str(document.get("kind", "")).endswith("List")
        if is_list and isinstance(document.get("items"), list):
            objects += document["items"]
        else:
            objects.append(document)
    for obj in objects:
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            raise CommandError(f"error: every object in {where} needs apiVersion and kind")
        if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            raise CommandError(f"error: every object in {where} needs metadata.name")
    if not objects:
        raise CommandError(f"error: no objects passed to apply ({where} is empty)")
    return objects


def contains(actual: Any, wanted: Any) -> bool:
    """Whether ``actual`` already says everything ``wanted`` says (fields the server added,
    like defaults, don't count as a difference)."""
    if isinstance(wanted, dict):
        actual = {} if actual is None else actual
        return isinstance(actual, dict) and all(
            contains(actual.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        actual = [] if actual is None else actual
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


def unchanged(desired: JSON, existing: JSON) -> bool:
    """Whether replacing ``existing`` with ``desired`` would change nothing: the same labels
    and annotations, and every other field of the file already on the server."""
    wanted_meta, actual_meta = desired.get("metadata") or {}, existing.get("metadata") or {}
    for key in ("labels", "annotations"):
        if (wanted_meta.get(key) or {}) != (actual_meta.get(key) or {}):
            return False
    skipped = ("apiVersion", "kind", "metadata", "status")
    return all(contains(existing.get(k), v) for k, v in desired.items() if k not in skipped)


def apply_one(api: ResourceAPI, obj: JSON, args: argparse.Namespace) -> tuple[Resource, str]:
    """Create or replace one object; its resource and the word ``oc`` prints for what
    happened (``created``, ``configured``, ``unchanged``)."""
    resource = api.discovery.for_kind(str(obj["apiVersion"]), str(obj["kind"]))
    body = copy.deepcopy(obj)
    metadata = body["metadata"]
    name = str(metadata["name"])
    namespace = None
    if resource.namespaced:
        given, flag_namespace = metadata.get("namespace"), args.namespace
        if given and flag_namespace and given != flag_namespace:
            raise CommandError(
                f'error: the namespace from the provided object "{given}" does not match the'
                f" namespace \"{flag_namespace}\". You must pass '--namespace={given}' to"
                " perform this operation."
            )
        namespace = str(given or verbs.namespace_of(args))
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    existing = api.find(resource, namespace, name)
    if existing is None:
        api.create(resource, namespace, body)
        return resource, "created"
    if unchanged(body, existing):
        return resource, "unchanged"
    metadata["resourceVersion"] = (existing.get("metadata") or {}).get("resourceVersion", "")
    api.replace(resource, namespace, name, body)
    return resource, "configured"


@command
def run_apply(args: argparse.Namespace) -> int:
    objects = read_objects(args.filename)
    with connect() as client:
        api = ResourceAPI(client)
        for obj in objects:
            resource, outcome = apply_one(api, obj, args)
            print(f"{resource.prefix}/{obj['metadata']['name']} {outcome}", flush=True)
    return 0


# --- edit ----------------------------------------------------------------------------------


def render_for_edit(item: JSON, output: str) -> str:
    if output == "json":
        return json.dumps(item, indent=4, ensure_ascii=False) + "\n"
    return EDIT_HEADER + dump_yaml(item)


def parse_edited(text: str, output: str) -> Any:
    """The edited object; None when the file was emptied (the edit is cancelled). Lines
    starting with ``#`` are comments in JSON too (no line of indented JSON starts so)."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if not text.strip():
        return None
    if output == "json":
        return json.loads(text)
    return yaml.safe_load(text)


def run_editor(path: Path) -> None:
    editor = os.environ.get("EDITOR") or "vi"
    try:
        result = subprocess.run([*shlex.split(editor), str(path)], check=False)
    except OSError as exc:
        raise CommandError(f"error: cannot run the editor {editor!r}: {exc}") from None
    if result.returncode != 0:
        raise CommandError(
            f"error: the editor {editor!r} exited with status {result.returncode}; nothing"
            f" was saved (your changes are in {path})"
        )


@command
def run_edit(args: argparse.Namespace) -> int:
    with connect() as client:
        api = ResourceAPI(client)
        resource, name = one_object(api, arguments.words_of(args))
        namespace = scope(resource, args, True)
        original = api.get(resource, namespace, name)
        fd, temporary = tempfile.mkstemp(prefix="dockyard-edit-", suffix=f".{args.output}")
        path = Path(temporary)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(render_for_edit(original, args.output))
        run_editor(path)
        try:
            edited = parse_edited(path.read_text(encoding="utf-8"), args.output)
        except (ValueError, yaml.YAMLError) as exc:
            raise CommandError(
                f"error: the edited object is not valid {args.output.upper()}: {exc}\n"
                f"Nothing was saved; your changes are in {path}"
            ) from None
        if edited is None or edited == original:
            path.unlink(missing_ok=True)
            print("Edit cancelled, no changes made.")
            return 0
        if not isinstance(edited, dict) or (
            edited.get("kind"),
            edited.get("apiVersion"),
            (edited.get("metadata") or {}).get("name"),
        ) != (original["kind"], original["apiVersion"], name):
            raise CommandError(
                "error: apiVersion, kind and metadata.name can't be changed by edit;"
                f" nothing was saved (your changes are in {path})"
            )
        response = api.send(
            "PUT",
            resource.path(namespace, name),
            content=json.dumps(edited).encode(),
            content_type="application/json",
        )
        if response.status_code == 409:
            raise CommandError(
                f"error: {resource.prefix}/{name} changed on the server since it was opened for"
                f" editing; nothing was saved. Your version is in {path}: run dockyard edit"
                " again and make the change on the current object."
            )
        if response.is_error:
            raise CommandError(f"{server_error(response).message}\nYour changes are in {path}")
        typed(decoded(response), resource)
    path.unlink(missing_ok=True)
    print(f"{resource.prefix}/{name} edited")
    return 0
