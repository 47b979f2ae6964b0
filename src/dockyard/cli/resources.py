"""``dockyard get``, ``describe`` and ``delete`` for every kind the server lists in discovery.

``get is -n proj``, ``get is/app istag/app:prod``, ``get images -o yaml``, ``get is -A -w``,
``describe is app``, ``delete istag app:old``: the kind is resolved through discovery
(``discovery``), objects are read through the resource API (``api``) and printed as ``oc``
prints them (``printing``). The hand-written ``get projects|users|groups`` and ``delete
project|user|group`` keep their parsers; every other word comes here.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from dockyard.cli import arguments, describe, printing, verbs
from dockyard.cli.api import ResourceAPI
from dockyard.cli.client import JSON, CommandError, command, connect
from dockyard.cli.discovery import Resource, split_references

GET_HELP = "any kind the server serves: is, istag, isimage, images, rolebindings, sa…"
GET_EPILOG = """\
KIND is any name, short name or kind the server lists (dockyard get is, get imagestreams,
get imagestreams.image.openshift.io); objects are named after it (get is app web) or as
KIND/NAME (get is/app istag/app:prod).

examples:
  dockyard get is -n myproject
  dockyard get istag -n myproject -o wide
  dockyard get is app -n myproject -o yaml
  dockyard get is -A -l team=web
  dockyard get is -n myproject -w"""


def register(commands: arguments.Subcommands) -> None:
    get = arguments.KindParser(
        prog="dockyard get",
        usage="dockyard get KIND[/NAME] [NAME...] [-n PROJECT | -A] [-l SELECTOR] [-o FORMAT] [-w]",
        description="Display one or many objects of any kind.",
        epilog=GET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    get.add_argument("words", nargs="*", metavar="NAME", help=argparse.SUPPRESS)
    arguments.add_scope_flags(get)
    arguments.add_selector_flag(get)
    arguments.add_output_flag(get)
    get.add_argument(
        "-w", "--watch", action="store_true", help="after listing, print changes as they happen"
    )
    get.set_defaults(command=run_get, verb="get")
    arguments.accept_any_kind(commands, "get", get, "KIND", GET_HELP)

    delete = arguments.KindParser(
        prog="dockyard delete",
        usage="dockyard delete KIND[/NAME] [NAME...] [-n PROJECT] [-l SELECTOR | --all]",
        description="Delete objects of any kind by name, by label selector or all of a kind.",
    )
    delete.add_argument("words", nargs="*", metavar="NAME", help=argparse.SUPPRESS)
    arguments.add_scope_flags(delete, all_namespaces=False)
    arguments.add_selector_flag(delete)
    delete.add_argument("--all", action="store_true", help="every object of the kind")
    delete.set_defaults(command=run_delete, verb="delete")
    arguments.accept_any_kind(commands, "delete", delete, "KIND", "objects of any kind")

    describe = arguments.add_kind_parser(
        commands,
        "describe",
        help="show details of objects",
        description="Show the details of objects: an image stream with each tag's history, any"
        " other kind field by field.",
        usage="dockyard describe KIND[/NAME] [NAME...] [-n PROJECT | -A] [-l SELECTOR]",
    )
    describe.add_argument("words", nargs="*", metavar="KIND", help=argparse.SUPPRESS)
    arguments.add_scope_flags(describe)
    arguments.add_selector_flag(describe)
    describe.set_defaults(command=run_describe)


# --- what a command line names ---------------------------------------------------------------


@dataclass
class Target:
    """One kind and the names asked for (none: every object, or those of the selector)."""

    resource: Resource
    names: list[str] = field(default_factory=list)


def targets(api: ResourceAPI, words: list[str]) -> list[Target]:
    """The kinds and names of ``KIND NAME...``/``KIND/NAME...``, each kind resolved once."""
    found: dict[Resource, Target] = {}
    for word, name in split_references(words):
        resource = api.resolve(word)
        target = found.setdefault(resource, Target(resource))
        if name is not None:
            target.names.append(name)
    return list(found.values())


def scope(resource: Resource, args: argparse.Namespace, named: bool) -> str | None:
    """The namespace to work in: None for cluster-scoped kinds and ``-A``."""
    if not resource.namespaced:
        return None
    if getattr(args, "all_namespaces", False):
        if named:
            raise CommandError(
                "error: a resource cannot be retrieved by name across all namespaces"
            )
        return None
    return verbs.namespace_of(args)


def no_resources(namespace: str | None) -> None:
    where = f" in {namespace} namespace" if namespace else ""
    print(f"No resources found{where}.", file=sys.stderr)


def fetch(
    api: ResourceAPI, target: Target, namespace: str | None, selector: str | None
) -> tuple[list[JSON], list[str]]:
    """The objects asked for, and the errors of the names that failed (kubectl goes on)."""
    if not target.names:
        return api.list(target.resource, namespace, selector)[0], []
    found, errors = [], []
    for name in target.names:
        try:
            found.append(api.get(target.resource, namespace, name))
        except CommandError as exc:
            errors.append(exc.message)
    return found, errors


# --- output --------------------------------------------------------------------------------


def dump_yaml(document: Any) -> str:
    return yaml.safe_dump(
        document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )


def print_document(document: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(document, indent=4, ensure_ascii=False), flush=True)
    else:
        print(dump_yaml(document), end="", flush=True)


def table_rows(
    resource: Resource, items: list[JSON], args: argparse.Namespace, now: datetime, prefixed: bool
) -> tuple[list[str], list[list[str]]]:
    columns = printing.columns_for(resource.group, resource.kind, now, args.output == "wide")
    if resource.namespaced and getattr(args, "all_namespaces", False):
        columns = printing.with_namespace(columns)
    headers = [header for header, _ in columns]
    rows = [[cell(item) for _, cell in columns] for item in items]
    if prefixed:  # several kinds: each name says its kind, as kubectl prints them
        name_at = headers.index("NAME") if "NAME" in headers else 0
        for row, item in zip(rows, items, strict=True):
            row[name_at] = f"{resource.prefix}/{verbs.metadata_name(item)}"
    return headers, rows


@command
def run_get(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with connect() as client:
        api = ResourceAPI(client)
        wanted = targets(api, arguments.words_of(args, "get"))
        if args.watch:
            if len(wanted) != 1 or len(wanted[0].names) > 1:
                raise CommandError("error: you may only watch one kind, or one object of it")
            return watch(api, wanted[0], args)
        results, errors = [], []
        for target in wanted:
            namespace = scope(target.resource, args, bool(target.names))
            items, failed = fetch(api, target, namespace, args.selector)
            results.append((target, namespace, items))
            errors += failed
    single = len(wanted) == 1 and len(wanted[0].names) == 1
    everything = [item for _, _, items in results for item in items]
    if args.output in ("json", "yaml"):
        if everything or not errors:
            print_document(
                everything[0] if single and everything else verbs.as_list(everything), args.output
            )
    elif args.output == "name":
        for target, _, items in results:
            for item in items:
                print(f"{target.resource.prefix}/{verbs.metadata_name(item)}")
    else:
        printed = False
        for target, namespace, items in results:
            if not items:
                if not target.names:
                    no_resources(namespace)
                continue
            headers, rows = table_rows(target.resource, items, args, now, len(wanted) > 1)
            print(("\n" if printed else "") + verbs.format_table(headers, rows))
            printed = True
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0


def watch(api: ResourceAPI, target: Target, args: argparse.Namespace) -> int:
    """``get -w``: the current objects, then one line (or document) per change, as it comes."""
    resource = target.resource
    namespace = scope(resource, args, bool(target.names))
    name = target.names[0] if target.names else None
    if name is not None:
        current = [api.get(resource, namespace, name)]
        version = str(current[0].get("metadata", {}).get("resourceVersion") or "")
    else:
        current, version = api.list(resource, namespace, args.selector)
    seen = {_identity(item): _version(item) for item in current}
    widths: list[int] = []

    def show(items: list[JSON]) -> None:
        nonlocal widths
        if args.output in ("json", "yaml"):
            for item in items:
                print_document(item, args.output)
            return
        if args.output == "name":
            for item in items:
                print(f"{resource.prefix}/{verbs.metadata_name(item)}", flush=True)
            return
        headers, rows = table_rows(resource, items, args, datetime.now(UTC), False)
        if not widths:
            widths = printing.widths_of(headers, rows)
            print(verbs.format_table(headers, rows), flush=True)
            return
        for row in rows:
            print(printing.pad_row(row, widths), flush=True)

    if current:
        show(current)
    for event in api.watch(resource, namespace, args.selector, version):
        item = event["object"]
        if name is not None and verbs.metadata_name(item) != name:
            continue
        key = _identity(item)
        if event.get("type") == "ADDED" and seen.get(key) == _version(item) != "":
            continue  # the state listed above, replayed by a server that starts with it
        seen[key] = _version(item)
        show([item])
    return 0


def _identity(item: JSON) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _version(item: JSON) -> str:
    return str((item.get("metadata") or {}).get("resourceVersion") or "")


@command
def run_describe(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    sections, errors = [], []
    with connect() as client:
        api = ResourceAPI(client)
        for target in targets(api, arguments.words_of(args)):
            namespace = scope(target.resource, args, bool(target.names))
            items, failed = fetch(api, target, namespace, args.selector)
            errors += failed
            if not items and not target.names:
                no_resources(namespace)
            for item in items:
                if (target.resource.group, target.resource.kind) == (
                    "image.openshift.io",
                    "ImageStream",
                ):
                    sections.append(describe.describe_image_stream(item, now))
                else:
                    sections.append(describe.describe_object(item, now))
    if sections:
        print("\n\n".join(sections))
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0


@command
def run_delete(args: argparse.Namespace) -> int:
    errors = []
    with connect() as client:
        api = ResourceAPI(client)
        for target in targets(api, arguments.words_of(args, "delete")):
            resource = target.resource
            namespace = scope(resource, args, True)
            names = target.names
            if not names:
                if not (args.all or args.selector):
                    raise CommandError(
                        "error: resource(s) were provided, but no name was specified; give"
                        " names, -l SELECTOR or --all"
                    )
                names = [
                    verbs.metadata_name(i) for i in api.list(resource, namespace, args.selector)[0]
                ]
                if not names:
                    no_resources(namespace)
            for name in names:
                try:
                    api.delete(resource, namespace, name)
                except CommandError as exc:
                    errors.append(exc.message)
                    continue
                print(f'{resource.prefix} "{name}" deleted')
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0
