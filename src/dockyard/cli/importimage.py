"""``dockyard import-image``, as ``oc import-image``: bring tags of another registry into an
image stream through an ``ImageStreamImport``.

- ``import-image app --from=HOST/team/app:1.0 --confirm``: ``app:1.0`` from that image;
- ``import-image app:stable --from=HOST/team/app:1.0 --confirm``: the same image as ``stable``;
- ``import-image app --from=HOST/team/app --all --confirm``: every tag (the server caps how
  many; the rest are listed);
- ``import-image app:1.0``: import again from where the tag's spec says it comes from.

Without ``--confirm`` nothing changes: the server reads the upstream and shows what it would
import.

``create secret docker-registry`` stores the credentials imports and pull-through use for an
upstream: a ``kubernetes.io/dockerconfigjson`` secret in the project.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from dockyard.cli import arguments, verbs
from dockyard.cli.client import JSON, Client, CommandError, command, connect, segment

API = "/apis/image.openshift.io/v1"
API_VERSION = "image.openshift.io/v1"


def register(commands: arguments.Subcommands) -> None:
    parser = commands.add_parser(
        "import-image",
        help="import images from another registry into an image stream",
        description="Import tags of an image in another registry into an image stream; a dry"
        " run unless --confirm.",
        usage="dockyard import-image STREAM[:TAG] [--from=IMAGE] [--confirm] [flags]",
        epilog="examples:\n"
        "  dockyard import-image app --from=registry.example:5000/team/app:1.0 --confirm -n proj\n"
        "  dockyard import-image app --from=registry.example:5000/team/app --all --confirm\n"
        "  dockyard import-image app:1.0 --confirm      # again, from the tag's source",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="STREAM[:TAG]")
    parser.add_argument("--from", dest="source", metavar="IMAGE", help="the image to import")
    parser.add_argument("--confirm", action="store_true", help="import (else: a dry run)")
    parser.add_argument(
        "--all", action="store_true", help="import every tag of the --from repository"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP and untrusted certificates"
    )
    parser.add_argument(
        "--scheduled", action="store_true", help="re-import periodically (every 15 minutes)"
    )
    parser.add_argument(
        "--reference-policy",
        choices=("source", "local"),
        default="source",
        help="local: clients pull through this registry (default: source)",
    )
    parser.add_argument(
        "--import-mode",
        choices=("Legacy", "PreserveOriginal"),
        default="Legacy",
        help="PreserveOriginal keeps a whole multi-platform index; Legacy (default) one platform",
    )
    verbs.add_namespace_flag(parser)
    parser.set_defaults(command=run_import)

    secret = verbs.subcommands(commands, "create").add_parser(
        "secret", help="create a secret", description="Create a secret."
    )
    kinds = secret.add_subparsers(title="types", metavar="TYPE", required=True)
    pull = kinds.add_parser(
        "docker-registry",
        help="credentials for another registry, used by imports and pull-through",
        description="Create a kubernetes.io/dockerconfigjson secret: credentials for importing"
        " from another registry and pulling through from it.",
    )
    pull.add_argument("name", metavar="NAME")
    pull.add_argument("--docker-server", required=True, metavar="HOST")
    pull.add_argument("--docker-username", required=True, metavar="USER")
    pull.add_argument("--docker-password", required=True, metavar="PASSWORD")
    pull.add_argument("--docker-email", default="", metavar="EMAIL")
    verbs.add_namespace_flag(pull)
    pull.set_defaults(command=run_create_pull_secret)


@command
def run_import(args: argparse.Namespace) -> int:
    namespace = verbs.namespace_of(args)
    stream, _, tag = args.name.partition(":")
    if not stream:
        raise CommandError("error: name the image stream: dockyard import-image STREAM[:TAG]")
    policy = {
        "insecure": args.insecure,
        "scheduled": args.scheduled,
        "importMode": args.import_mode,
    }
    reference_policy = {"type": "Local" if args.reference_policy == "local" else "Source"}
    with connect() as client:
        spec: JSON = {"import": args.confirm}
        if args.all:
            if not args.source:
                raise CommandError("error: --all needs --from=REGISTRY/REPOSITORY")
            if tag:
                raise CommandError("error: --all imports every tag: name only the stream")
            spec["repository"] = {
                "from": {"kind": "DockerImage", "name": _repository_of(args.source)},
                "importPolicy": policy,
                "referencePolicy": reference_policy,
            }
        elif args.source:
            spec["images"] = [
                {
                    "from": {"kind": "DockerImage", "name": args.source},
                    "to": {"name": tag or _tag_of(args.source)},
                    "importPolicy": policy,
                    "referencePolicy": reference_policy,
                }
            ]
        else:  # again, as the spec tag says, with the flags given added
            entry = _spec_tag(client, namespace, stream, tag or "latest")
            kept = entry.get("importPolicy") or {}
            spec["images"] = [
                {
                    "from": entry["from"],
                    "to": {"name": entry["name"]},
                    "importPolicy": {
                        **kept,
                        "insecure": args.insecure or bool(kept.get("insecure")),
                        "scheduled": args.scheduled or bool(kept.get("scheduled")),
                    },
                    "referencePolicy": entry.get("referencePolicy") or reference_policy,
                }
            ]
        body = {
            "kind": "ImageStreamImport",
            "apiVersion": API_VERSION,
            "metadata": {"name": stream, "namespace": namespace},
            "spec": spec,
        }
        result = client.post(f"{API}/namespaces/{segment(namespace)}/imagestreamimports", body)
    return _report(stream, result, args.confirm)


def _repository_of(source: str) -> str:
    """``host/team/app:1.0`` without its tag or digest."""
    path = source.partition("@")[0]
    head, colon, tail = path.rpartition(":")
    return head if colon and "/" not in tail else path


def _tag_of(source: str) -> str:
    path = source.partition("@")[0]
    _, colon, tail = path.rpartition(":")
    return tail if colon and "/" not in tail else "latest"


def _spec_tag(client: Client, namespace: str, stream: str, tag: str) -> JSON:
    """The stream's spec tag, when it comes from another registry: to import it again."""
    response = client.send("GET", f"{API}/namespaces/{segment(namespace)}/imagestreams/{stream}")
    if response.status_code == 404:
        raise CommandError(
            f'error: image stream "{stream}" does not exist; give --from=IMAGE to import one'
        )
    tags = response.json().get("spec", {}).get("tags", []) if not response.is_error else []
    for entry in tags:
        if entry.get("name") == tag and (entry.get("from") or {}).get("kind") == "DockerImage":
            found: JSON = entry
            return found
    raise CommandError(
        f'error: tag "{tag}" of "{stream}" does not come from another registry; give --from=IMAGE'
    )


def _report(stream: str, result: JSON, confirmed: bool) -> int:
    status = result.get("status") or {}
    items = list(status.get("images") or [])
    repository = status.get("repository") or {}
    items += repository.get("images") or []
    failed = 0
    rows = []
    repository_status = repository.get("status") or {}
    if repository_status.get("status") == "Failure":
        print(f"error: {repository_status.get('message', 'the import failed')}", file=sys.stderr)
        return 1
    for item in items:
        outcome = item.get("status") or {}
        if outcome.get("status") != "Success":
            failed += 1
            print(
                f"error: tag {item.get('tag')} failed: {outcome.get('message', 'unknown error')}",
                file=sys.stderr,
            )
            continue
        image = item.get("image") or {}
        rows.append(
            [
                str(item.get("tag", "")),
                str(image.get("metadata", {}).get("name", "")),
                str(image.get("dockerImageReference", "")),
            ]
        )
    if rows:
        suffix = "" if confirmed else " (dry run)"
        print(f"imagestream.image.openshift.io/{stream} imported{suffix}\n")
        print(verbs.format_table(["TAG", "IMAGE", "FROM"], rows))
    more = repository.get("additionalTags") or []
    if more:
        print(
            f"\n{len(more)} more tag(s) were not imported (over the server's limit):"
            f" {', '.join(more)}"
        )
    return 1 if failed else 0


@command
def run_create_pull_secret(args: argparse.Namespace) -> int:
    namespace = verbs.namespace_of(args)
    pair = f"{args.docker_username}:{args.docker_password}".encode()
    entry = {
        "username": args.docker_username,
        "password": args.docker_password,
        "auth": base64.b64encode(pair).decode(),
    }
    if args.docker_email:
        entry["email"] = args.docker_email
    config = json.dumps({"auths": {args.docker_server: entry}}).encode()
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": args.name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    with connect() as client:
        client.post(f"/api/v1/namespaces/{segment(namespace)}/secrets", body)
    print(f"secret/{args.name} created")
    return 0
