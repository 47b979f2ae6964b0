"""``adm prune images``, ``adm prune registry`` and ``adm top``: clients of the server's
``/extensions/v2`` pruning endpoints, with ``oc adm prune``'s flags and dry run by default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import httpx

from dockyard.cli import verbs
from dockyard.cli.client import (
    JSON,
    TIMEOUT_SECONDS,
    Client,
    CommandError,
    command,
    connect,
    connect_error,
    server_error,
)
from dockyard.cli.users import parse_duration

PREFIX = "/extensions/v2"
DRY_RUN = "Dry run enabled - no modifications will be made. Add --confirm to remove images"
TOP_KINDS = ("images", "imagestreams", "projects")
PROGRESS_EVERY = 2.0
"""Seconds between progress lines within one phase of a long prune."""


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _flag(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    """``--name``, ``--name=true`` or ``--name=false``, as ``oc`` takes its boolean flags."""
    parser.add_argument(
        f"--{name}",
        nargs="?",
        const=True,
        default=default,
        type=_boolean,
        metavar="BOOL",
        help=f"{help_text} (default {str(default).lower()})",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adm = verbs.subcommands(commands, "adm")
    prune = adm.add_parser(
        "prune", help="remove old images and unused storage", description="Prune the registry."
    ).add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)

    images = prune.add_parser(
        "images",
        help="remove old image history, unreferenced images and their storage",
        description="Remove tag history beyond the kept revisions, images that no tag, history"
        " entry or index references and that are older than --keep-younger-than, their"
        " repository links, and (with --prune-registry) the blobs no image uses. A dry run"
        " unless --confirm.",
    )
    images.add_argument("--keep-tag-revisions", type=int, default=3, metavar="N")
    images.add_argument("--keep-younger-than", default="60m", metavar="DURATION")
    _flag(images, "all", True, "also prune images not pushed here (imported)")
    _flag(images, "prune-registry", True, "also delete the blobs no remaining image uses")
    _flag(images, "ignore-invalid-refs", False, "go on past tags naming unknown images")
    _flag(images, "keep-referrers", False, "keep signatures and SBOMs whose subject goes")
    _flag(images, "confirm", False, "really delete; without it, only list what would go")
    images.add_argument("-o", "--output", choices=("json",), help="print the result as JSON")
    images.set_defaults(command=run_prune_images)

    registry = prune.add_parser(
        "registry",
        help="remove storage files that metadata does not know (hard prune)",
        description="Walk the storage and remove blob files no metadata knows and abandoned"
        " uploads, older than --keep-younger-than. A dry run unless --confirm.",
    )
    registry.add_argument("--keep-younger-than", default="60m", metavar="DURATION")
    _flag(registry, "confirm", False, "really delete; without it, only list what would go")
    registry.add_argument("-o", "--output", choices=("json",), help="print the result as JSON")
    registry.set_defaults(command=run_prune_registry)

    top = adm.add_parser(
        "top",
        help="show storage used by images, image streams or projects",
        description="Show storage use, each layer counted once per stream or project.",
    )
    top.add_argument("kind", choices=TOP_KINDS, metavar="{images,imagestreams,projects}")
    top.add_argument("--limit", type=int, default=0, metavar="N", help="show the N largest")
    top.add_argument("-o", "--output", choices=("json",), help="print the result as JSON")
    top.set_defaults(command=run_top)


def _post(client: Client, path: str, body: JSON) -> Any:
    """Pruning can take a while on a large registry: no read timeout."""
    client.http.timeout = httpx.Timeout(TIMEOUT_SECONDS, read=None)
    return client.post(path, body)


@command
def run_prune_images(args: argparse.Namespace) -> int:
    if args.keep_tag_revisions < 0:
        raise CommandError("error: --keep-tag-revisions must be 0 or more")
    body = {
        "keepTagRevisions": args.keep_tag_revisions,
        "keepYoungerThanSeconds": parse_duration(args.keep_younger_than),
        "all": args.all,
        "pruneRegistry": args.prune_registry,
        "ignoreInvalidRefs": args.ignore_invalid_refs,
        "keepReferrers": args.keep_referrers,
        "confirm": args.confirm,
    }
    with connect() as client:
        if args.confirm:
            result = _prune_with_progress(client, body)
        else:
            result = _post(client, f"{PREFIX}/prune/images", body)
    if args.output == "json":
        print(json.dumps(result, indent=4))
        return 0
    if result.get("dryRun"):
        print(DRY_RUN + "\n")
    deleted = result.get("deleted", {})
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            "Deleting tag history entries",
            ["REPOSITORY", "TAG", "IMAGE"],
            [[e["repository"], e["tag"], e["image"]] for e in deleted.get("tagEvents", [])],
        ),
        (
            "Deleting manifest links",
            ["REPOSITORY", "IMAGE"],
            [[e["repository"], e["image"]] for e in deleted.get("manifestLinks", [])],
        ),
        (
            "Deleting layer links",
            ["REPOSITORY", "BLOB"],
            [[e["repository"], e["blob"]] for e in deleted.get("layerLinks", [])],
        ),
        ("Deleting images", ["IMAGE"], [[d] for d in deleted.get("images", [])]),
        (
            "Deleting blobs",
            ["BLOB", "SIZE"],
            [[b["digest"], human_bytes(b["size"])] for b in deleted.get("blobs", [])],
        ),
    ]
    for title, headers, rows in sections:
        if rows:
            print(f"{title} ...")
            print(verbs.format_table(headers, rows) + "\n")
    print(_summary(result.get("summary", {}), bool(result.get("dryRun"))))
    return 0


class _Progress:
    """One stderr line when a phase starts, then at most one every ``PROGRESS_EVERY``."""

    def __init__(self) -> None:
        self.phase = ""
        self.shown_at = 0.0

    def show(self, event: JSON) -> None:
        phase, now = str(event.get("phase")), time.monotonic()
        if phase == "done" or (phase == self.phase and now - self.shown_at < PROGRESS_EVERY):
            return
        self.phase, self.shown_at = phase, now
        print(f"Pruning {phase}: {event.get('done')}/{event.get('total')}", file=sys.stderr)


def _prune_with_progress(client: Client, body: JSON) -> JSON:
    """A confirmed prune, streamed: progress on stderr as the server reports it."""
    headers = {"Accept": "application/x-ndjson, application/json"}
    if client.token:
        headers["Authorization"] = f"Bearer {client.token}"
    progress = _Progress()
    try:
        with client.http.stream(
            "POST",
            f"{PREFIX}/prune/images",
            params={"progress": "true"},
            json=body,
            headers=headers,
            timeout=httpx.Timeout(TIMEOUT_SECONDS, read=None),
        ) as response:
            if response.is_error:
                response.read()
                raise server_error(response)
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise CommandError(
                        f"error: the server sent a line that is not JSON: {line[:200]}"
                    ) from None
                if event.get("type") == "progress":
                    progress.show(event)
                elif event.get("type") == "result":
                    result: JSON = event["object"]
                    return result
                else:
                    status = event.get("object") or {}
                    raise CommandError(
                        f"Error from server ({status.get('reason')}): {status.get('message')}"
                    )
    except httpx.TransportError as exc:
        raise CommandError(connect_error(client.server, exc)) from None
    raise CommandError("error: the server ended the prune without a result")


def _summary(summary: JSON, dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    return (
        f"Summary: {verb} {summary.get('images', 0)} images,"
        f" {summary.get('tagEvents', 0)} tag history entries"
        f" ({summary.get('streamsUpdated', 0)} image streams updated),"
        f" {summary.get('manifestLinks', 0)} manifest links,"
        f" {summary.get('layerLinks', 0)} layer links,"
        f" {summary.get('blobs', 0)} blobs ({human_bytes(summary.get('bytesFreed', 0))} freed)"
    )


@command
def run_prune_registry(args: argparse.Namespace) -> int:
    body = {
        "keepYoungerThanSeconds": parse_duration(args.keep_younger_than),
        "confirm": args.confirm,
    }
    with connect() as client:
        result = _post(client, f"{PREFIX}/prune/registry", body)
    if args.output == "json":
        print(json.dumps(result, indent=4))
        return 0
    dry_run = bool(result.get("dryRun"))
    if dry_run:
        print(DRY_RUN.replace("images", "files") + "\n")
    deleted = result.get("deleted", {})
    blobs = [[b["digest"], human_bytes(b["size"])] for b in deleted.get("blobs", [])]
    if blobs:
        print("Deleting blobs no metadata knows ...")
        print(verbs.format_table(["BLOB", "SIZE"], blobs) + "\n")
    uploads = deleted.get("uploads", [])
    if uploads:
        print("Deleting abandoned uploads ...")
        print("\n".join(uploads) + "\n")
    summary = result.get("summary", {})
    verb = "would delete" if dry_run else "deleted"
    print(
        f"Summary: {verb} {summary.get('blobs', 0)} blobs"
        f" ({human_bytes(summary.get('bytesFreed', 0))}) and {summary.get('uploads', 0)} uploads"
    )
    return 0


@command
def run_top(args: argparse.Namespace) -> int:
    with connect() as client:
        result = client.get(f"{PREFIX}/usage")
    if args.output == "json":
        print(json.dumps(result, indent=4))
        return 0
    if args.kind == "images":
        headers = ["NAME", "IMAGESTREAMTAGS", "STREAMS", "LAYERS", "STORAGE"]
        rows = [
            [
                i["digest"],
                ", ".join(i["tags"]) or "<none>",
                str(i["repositories"]),
                str(i["layers"]),
                human_bytes(i["storage"]),
            ]
            for i in result.get("images", [])
        ]
    else:
        key = "repositories" if args.kind == "imagestreams" else "projects"
        headers = ["NAME", "STORAGE", "IMAGES", "BLOBS"]
        rows = [
            [g["name"], human_bytes(g["storage"]), str(g["images"]), str(g["blobs"])]
            for g in result.get(key, [])
        ]
    if args.limit > 0:
        rows = rows[: args.limit]
    print(verbs.format_table(headers, rows))
    print(
        f"\nTotal: {human_bytes(result.get('total', 0))} used by images,"
        f" {human_bytes(result.get('stored', 0))} in storage"
    )
    return 0


def human_bytes(size: int) -> str:
    """``oc``'s units: B, KiB, MiB, GiB, TiB with at most one decimal."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"
