"""``dockyard tag``, as ``oc tag``: point tags of image streams at images.

- ``tag proj/app@sha256:… proj/app:prod``: ``prod`` moves to that image (a promotion, or a
  rollback to an image of the stream's history);
- ``tag proj/app:1.2 proj/app:stable [proj/other:stable…]``: the image ``1.2`` points at now
  (``1.2`` itself may move later; ``stable`` stays);
- ``tag --alias app:1.2 app:latest``: ``latest`` follows ``1.2`` from now on (same stream only);
- ``tag -d proj/app:old``: the tag goes away (its images stay until pruned).

Sources may be in another stream or project. A source with a registry host
(``docker.io/library/nginx:1``) is an external image, which the server answers as it can.
Every change is a PUT of an ``ImageStreamTag`` (created with POST when the server has none).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.cli import arguments, verbs
from dockyard.cli.client import (
    JSON,
    Client,
    CommandError,
    command,
    connect,
    load_config,
    segment,
    server_error,
)

API = "/apis/image.openshift.io/v1"
API_VERSION = "image.openshift.io/v1"
SOURCES = {
    "istag": "ImageStreamTag",
    "imagestreamtag": "ImageStreamTag",
    "isimage": "ImageStreamImage",
    "imagestreamimage": "ImageStreamImage",
    "docker": "DockerImage",
    "dockerimage": "DockerImage",
}


def register(commands: arguments.Subcommands) -> None:
    tag = arguments.add_kind_parser(
        commands,
        "tag",
        help="point image stream tags at images",
        description="Tag an image into image streams: set tags to the image a tag or digest"
        " names,\nmake a tag follow another one (--alias), or delete tags (-d).",
        usage="dockyard tag [--source=KIND] [--alias] SOURCE DEST [DEST...]\n"
        "       dockyard tag -d DEST [DEST...]",
        epilog="examples:\n"
        "  dockyard tag myproject/app@sha256:4f1b… myproject/app:prod\n"
        "  dockyard tag myproject/app:1.2 myproject/app:stable\n"
        "  dockyard tag --alias app:1.2 app:latest -n myproject\n"
        "  dockyard tag -d myproject/app:old",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tag.add_argument("words", nargs="*", metavar="TAG", help=argparse.SUPPRESS)
    verbs.add_namespace_flag(tag)
    tag.add_argument(
        "--source",
        choices=tuple(SOURCES),
        help="what SOURCE is (default: guessed: a registry host means docker, @digest isimage,"
        " :tag istag)",
    )
    tag.add_argument(
        "--alias", action="store_true", help="DEST follows SOURCE when it moves (same stream)"
    )
    tag.add_argument("-d", "--delete", action="store_true", help="delete the tags given")
    tag.add_argument(
        "--insecure",
        action="store_true",
        help="an external SOURCE may be on plain HTTP or have an untrusted certificate",
    )
    tag.add_argument(
        "--scheduled", action="store_true", help="re-import an external SOURCE periodically"
    )
    tag.set_defaults(command=run_tag)


@dataclass(frozen=True)
class StreamRef:
    """``[namespace/]stream:tag`` or ``[namespace/]stream@digest``."""

    namespace: str
    stream: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The object name: ``app:prod`` or ``app@sha256:…``."""
        return f"{self.stream}@{self.digest}" if self.digest else f"{self.stream}:{self.tag}"

    def shown(self, namespace: str) -> str:
        """As ``oc`` writes it: without the namespace when it is ``namespace``."""
        return self.name if self.namespace == namespace else f"{self.namespace}/{self.name}"


def parse_ref(text: str, namespace: str | None, what: str) -> StreamRef:
    path, at, digest = text.partition("@")
    tag = ""
    if not at:
        path, colon, tag = path.rpartition(":")
        if not colon:
            path, tag = tag, ""
    owner, slash, stream = path.partition("/") if "/" in path else ("", "", path)
    if not stream or (slash and not owner) or (at and not digest):
        raise CommandError(
            f'error: invalid {what} "{text}": use [PROJECT/]STREAM:TAG or [PROJECT/]STREAM@DIGEST'
        )
    project = owner or namespace
    if not project:
        raise CommandError(f'error: no project for "{text}": write PROJECT/{text} or use -n')
    return StreamRef(project, stream, tag, digest)


def source_kind(text: str, hint: str | None, server: str) -> str:
    """What SOURCE names, as ``oc`` guesses it: a registry host in front means an external
    image (unless it is this registry's), else a digest means ImageStreamImage, a tag
    ImageStreamTag."""
    if hint:
        return SOURCES[hint]
    first, slash, _ = text.partition("/")
    own_host = urlsplit(server).netloc
    if slash and ("." in first or ":" in first or first == "localhost") and first != own_host:
        return "DockerImage"
    if "@" in text:
        return "ImageStreamImage"
    return "ImageStreamTag"


def tag_path(namespace: str, name: str = "") -> str:
    base = f"{API}/namespaces/{segment(namespace)}/imagestreamtags"
    return f"{base}/{segment(name)}" if name else base


def tag_body(destination: StreamRef, source: JSON, policy: JSON | None = None) -> JSON:
    tag: JSON = {"name": destination.tag, "from": source}
    if policy:
        tag["importPolicy"] = policy
    return {
        "kind": "ImageStreamTag",
        "apiVersion": API_VERSION,
        "metadata": {"name": destination.name, "namespace": destination.namespace},
        "tag": tag,
    }


def set_tag(
    client: Client, destination: StreamRef, source: JSON, policy: JSON | None = None
) -> None:
    """PUT the tag; a server without the stream or tag yet takes a POST (``oc tag`` does
    the same). ``policy``: the import policy of an external source."""
    body = tag_body(destination, source, policy)
    response = client.send("PUT", tag_path(destination.namespace, destination.name), body=body)
    if response.status_code in (404, 405):
        client.post(tag_path(destination.namespace), body)
    elif response.is_error:
        raise server_error(response)


def current_image(client: Client, source: StreamRef, text: str) -> str:
    """The digest ``stream:tag`` points at now."""
    response = client.send("GET", tag_path(source.namespace, source.name))
    if response.status_code == 404:
        raise CommandError(
            f'error: "{text}" is not currently pointing to an image, cannot use it as the source'
            " of a tag"
        )
    if response.is_error:
        raise server_error(response)
    digest = ((response.json().get("image") or {}).get("metadata") or {}).get("name")
    if not isinstance(digest, str) or not digest:
        raise CommandError(f'error: the server gave no image for "{text}"')
    return digest


def local_name(text: str, server: str) -> str:
    """A pull spec of this registry (``127.0.0.1:5000/proj/app:1``) as ``proj/app:1``."""
    own = f"{urlsplit(server).netloc}/"
    return text[len(own) :] if own != "/" and text.startswith(own) else text


@command
def run_tag(args: argparse.Namespace) -> int:
    server = load_config().server
    words: list[str] = [local_name(word, server) for word in args.words or []]
    namespace = args.namespace or load_config().namespace or None
    if args.delete:
        if args.alias or args.source:
            raise CommandError("error: --alias and --source don't go with --delete")
        if not words:
            raise CommandError("error: name at least one tag to delete: dockyard tag -d STREAM:TAG")
        doomed = [parse_ref(word, namespace, "tag") for word in words]
        with connect() as client:
            for ref in doomed:
                if not ref.tag:
                    raise CommandError(f'error: "{ref.name}" must be of the form <stream>:<tag>')
                client.delete(tag_path(ref.namespace, ref.name))
                print(f"Deleted tag {ref.namespace}/{ref.name}.")
        return 0
    if len(words) < 2:
        raise CommandError(
            "error: you must specify a source and at least one destination or one or more tags"
            " to delete"
        )
    with connect() as client:
        kind = source_kind(words[0], args.source, client.server)
        destinations = [parse_ref(word, namespace, "destination") for word in words[1:]]
        for destination in destinations:
            if not destination.tag or destination.digest:
                raise CommandError(
                    f'error: "{destination.name}" must be of the form <stream>:<tag>'
                )
        current = namespace or destinations[0].namespace
        if (args.insecure or args.scheduled) and kind != "DockerImage":
            raise CommandError("error: --insecure and --scheduled apply to external images only")
        if kind == "DockerImage":
            if args.alias:
                raise CommandError("error: cannot set alias across different Image Streams")
            source: JSON = {"kind": kind, "name": words[0]}
            shown = words[0]
            policy = {"insecure": args.insecure, "scheduled": args.scheduled}
            for destination in destinations:
                set_tag(client, destination, source, policy)
                print(f"Tag {destination.shown(current)} set to {shown}.")
            return 0
        ref = parse_ref(words[0], namespace, "source")
        if kind == "ImageStreamTag" and not ref.tag:
            raise CommandError("error: --source=istag requires a valid <name>:<tag> in SOURCE")
        if kind == "ImageStreamImage" and not ref.digest:
            raise CommandError("error: --source=isimage requires a valid <name>@<id> in SOURCE")
        if args.alias:
            if kind != "ImageStreamTag" or any(
                (d.namespace, d.stream) != (ref.namespace, ref.stream) for d in destinations
            ):
                raise CommandError("error: cannot set alias across different Image Streams")
        elif kind == "ImageStreamTag":
            digest = current_image(client, ref, words[0])
            ref, kind = StreamRef(ref.namespace, ref.stream, digest=digest), "ImageStreamImage"
        source = {"kind": kind, "name": ref.name, "namespace": ref.namespace}
        if args.alias:  # same project, so no namespace: how the server knows it follows
            source = {"kind": kind, "name": ref.name}
        for destination in destinations:
            set_tag(client, destination, source)
            verb = "set up to track" if args.alias else "set to"
            print(f"Tag {destination.shown(current)} {verb} {ref.shown(destination.namespace)}.")
    return 0
