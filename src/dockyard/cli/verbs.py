"""The verbs several command groups share (``get``, ``create``, ``delete``, ``adm``, ``policy``)
and how their results print.

argparse allows a subcommand name once, so no group adds ``get`` itself: it asks
``subcommands(commands, "get")`` for the resource types under the one shared ``get`` and adds its
own type there (``dockyard get projects``, ``dockyard get users``, …). Output follows ``oc``:
tables aligned as kubectl's tabwriter aligns them, ``-o json|yaml|name``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from dockyard.cli.client import JSON, CommandError, load_config

VERBS = {
    "get": "display one or many resources",
    "create": "create a resource",
    "delete": "delete a resource",
    "adm": "administer the registry: cluster policy, groups, users",
    "policy": "manage authorization policy in a project",
}
OUTPUTS = ("json", "yaml", "name")
PADDING = 3
MIN_WIDTH = 6

Column = tuple[str, Callable[[JSON], str]]


def subcommands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], verb: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The subcommands of ``dockyard <verb>``, made by whichever group asks first."""
    parser = commands.choices.get(verb)
    if parser is None:
        help_text = VERBS[verb]
        parser = commands.add_parser(
            verb, help=help_text, description=help_text[0].upper() + help_text[1:] + "."
        )
        return parser.add_subparsers(
            title="subcommands", metavar="SUBCOMMAND", dest=f"{verb}_subcommand", required=True
        )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise ValueError(f"'dockyard {verb}' was registered without subcommands")


def add_namespace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="PROJECT",
        help="the project (default: the one new-project last switched to)",
    )


def namespace_of(args: argparse.Namespace) -> str:
    namespace: str | None = args.namespace or load_config().namespace
    if not namespace:
        raise CommandError("error: no project given; use -n PROJECT")
    return namespace


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=OUTPUTS, help="print json, yaml or only resource/name"
    )


def quoted(names: Sequence[str]) -> str:
    """Names as ``oc`` lists them in its messages: ``"a"`` or ``["a" "b"]``."""
    items = [json.dumps(name) for name in names]
    return items[0] if len(items) == 1 else f"[{' '.join(items)}]"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """kubectl's tabwriter: each column but the last padded to its widest cell plus three."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for line in lines:
        cells = [
            cell.ljust(max(width + PADDING, MIN_WIDTH))
            for cell, width in zip(line[:-1], widths[:-1], strict=True)
        ]
        out.append(("".join(cells) + line[-1]).rstrip())
    return "\n".join(out)


def print_resources(
    found: JSON | list[JSON],
    output: str | None,
    name_prefix: str,
    columns: Sequence[Column],
) -> None:
    """One object (``get TYPE NAME``) or a list, in the ``-o`` format or as a table."""
    items = found if isinstance(found, list) else [found]
    if output == "name":
        for item in items:
            print(f"{name_prefix}/{item['metadata']['name']}")
    elif output in ("json", "yaml"):
        document: Any = found if isinstance(found, dict) else as_list(found)
        if output == "json":
            print(json.dumps(document, indent=4, ensure_ascii=False))
        else:
            print(yaml.safe_dump(document, default_flow_style=False, allow_unicode=True), end="")
    elif not items:
        print("No resources found.", file=sys.stderr)
    else:
        headers = [header for header, _ in columns]
        print(format_table(headers, [[cell(item) for _, cell in columns] for item in items]))


def as_list(items: list[JSON]) -> JSON:
    """A ``v1 List`` as ``oc get -o json`` prints it."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def list_items(response: Any, api_version: str, kind: str) -> list[JSON]:
    """The items of a ``<Kind>List``, each with its ``kind`` and ``apiVersion``."""
    items = response.get("items") if isinstance(response, dict) else None
    if not isinstance(items, list):
        raise CommandError("error: the server answered with no list of items")
    return [{"kind": kind, "apiVersion": api_version, **item} for item in items]


def metadata_name(item: JSON) -> str:
    name: str = item.get("metadata", {}).get("name", "")
    return name
