"""``dockyard describe`` text: an image stream as ``oc describe is`` shows it (each tag with its
source and history, newest first), any other kind field by field as ``kubectl describe`` shows a
custom resource.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dockyard.cli.client import JSON
from dockyard.cli.printing import ago, stream_repository

ACRONYMS = {"api", "id", "ip", "uid", "url", "dns", "tls"}
VERSION_TAG = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-.+].*)?$")


def prioritized(tags: list[str]) -> list[str]:
    """``oc``'s order of a stream's tags: ``latest``, minor versions (``5.1``) newest first,
    full versions (``5.1.3``) newest first, then the rest by name."""

    def key(tag: str) -> tuple[int, tuple[int, ...], str]:
        if tag == "latest":
            return 0, (), tag
        found = VERSION_TAG.match(tag)
        if found is None:
            return 3, (), tag
        numbers = tuple(-int(part) for part in found.groups() if part is not None)
        return (1 if found.group(3) is None else 2), numbers, tag

    return sorted(tags, key=key)


def fields(pairs: list[tuple[str, str]], indent: str = "") -> list[str]:
    """``Label:  value`` lines aligned on the widest label; a multi-line value continues under
    its first line."""
    width = max((len(label) for label, _ in pairs), default=0) + 3
    lines = []
    for label, value in pairs:
        first, *rest = value.split("\n") if value else [""]
        lines.append(f"{indent}{(label + ':').ljust(width)}{first}".rstrip())
        lines.extend(f"{indent}{' ' * width}{line}".rstrip() for line in rest)
    return lines


def key_values(mapping: Any) -> str:
    if not mapping:
        return "<none>"
    return "\n".join(f"{key}={value}" for key, value in sorted(mapping.items()))


def meta_fields(item: JSON, now: datetime) -> list[tuple[str, str]]:
    metadata = item.get("metadata") or {}
    pairs = [("Name", str(metadata.get("name", "")))]
    if metadata.get("namespace"):
        pairs.append(("Namespace", str(metadata["namespace"])))
    if metadata.get("creationTimestamp"):
        pairs.append(("Created", ago(metadata["creationTimestamp"], now)))
    pairs.append(("Labels", key_values(metadata.get("labels"))))
    pairs.append(("Annotations", key_values(metadata.get("annotations"))))
    return pairs


def describe_image_stream(stream: JSON, now: datetime) -> str:
    """``oc describe is``: the stream, then each tag with its source and history, newest first."""
    metadata, spec, status = (
        stream.get("metadata") or {},
        stream.get("spec") or {},
        stream.get("status") or {},
    )
    status_tags = {str(t.get("tag")): t for t in status.get("tags") or [] if isinstance(t, dict)}
    spec_tags = {str(t.get("name")): t for t in spec.get("tags") or [] if isinstance(t, dict)}
    names = prioritized([*status_tags, *(n for n in spec_tags if n not in status_tags)])
    images = {item.get("image") for tag in status_tags.values() for item in tag.get("items") or []}
    pairs = meta_fields(stream, now)
    pairs.append(("Image Repository", stream_repository(stream)))
    pairs.append(
        (
            "Image Lookup",
            f"local={str(bool((spec.get('lookupPolicy') or {}).get('local'))).lower()}",
        )
    )
    if not names:
        return "\n".join(fields([*pairs, ("Tags", "<none>")]))
    pairs += [("Unique Images", str(len(images - {None, ""}))), ("Tags", str(len(names)))]
    lines = fields(pairs)
    namespace = str(metadata.get("namespace", ""))
    stream_name = str(metadata.get("name", ""))
    aliases: dict[str, list[str]] = {}
    for name in spec_tags:
        target = alias_target(spec_tags, name, stream_name, namespace)
        if target is not None:
            aliases.setdefault(target, []).append(name)
    for name in names:
        followers = prioritized(aliases.get(name, []))
        lines += ["", f"{name} ({', '.join(followers)})" if followers else name]
        lines += _tag_source(spec_tags.get(name), stream_name, namespace)
        for condition in (status_tags.get(name) or {}).get("conditions") or []:
            if condition.get("status") == "False":  # as oc shows a failed import
                reason, message = condition.get("reason", ""), condition.get("message", "")
                lines.append(f"  ! error: Import failed ({reason}): {message}")
                lines.append(f"      {ago(condition.get('lastTransitionTime'), now)}")
        lines.append("")
        for index, item in enumerate((status_tags.get(name) or {}).get("items") or []):
            marker = "  * " if index == 0 else "    "
            lines.append(f"{marker}{item.get('dockerImageReference') or item.get('image', '')}")
            lines.append(f"      {ago(item.get('created'), now)}")
    return "\n".join(lines).rstrip("\n")


def alias_target(spec_tags: dict[str, JSON], name: str, stream: str, namespace: str) -> str | None:
    """The tag ``name`` follows in its own stream (following chains), or None if not an alias."""
    seen = {name}
    current, target = name, None
    while True:
        source = (spec_tags.get(current) or {}).get("from") or {}
        if source.get("kind") != "ImageStreamTag" or source.get("namespace") not in (
            None,
            "",
            namespace,
        ):
            return target
        other, colon, tag = str(source.get("name", "")).rpartition(":")
        if colon and other != stream:
            return target
        current = tag if colon else str(source.get("name", ""))
        if current in seen:
            return target
        seen.add(current)
        target = current


def _tag_source(tag: JSON | None, stream: str, namespace: str) -> list[str]:
    if tag is None:
        return ["  no spec tag"]
    source = tag.get("from")
    if not isinstance(source, dict):
        return ["  tag without source image"]
    other = source.get("namespace")
    name = (
        f"{other}/{source.get('name', '')}"
        if other and other != namespace
        else str(source.get("name", ""))
    )
    kind = source.get("kind")
    scheduled = bool((tag.get("importPolicy") or {}).get("scheduled"))
    if tag.get("reference"):
        where = {"ImageStreamTag": "", "DockerImage": "registry ", "ImageStreamImage": "image "}
        lines = [f"  reference to {where.get(str(kind), f'{kind} ')}{name}"]
    elif kind == "DockerImage" and scheduled:
        lines = [f"  updates automatically from registry {name}"]
    elif kind == "ImageStreamTag" and scheduled:
        lines = [f"  updates automatically from {name}"]
    elif kind in ("ImageStreamTag", "ImageStreamImage", "DockerImage"):
        lines = [f"  tagged from {name}"]
    else:
        lines = [f"  updates from {kind} {name}"]
    stream_tag, colon, _ = str(source.get("name", "")).rpartition(":")
    if (
        kind == "ImageStreamTag"
        and other in (None, "", namespace)
        and (not colon or stream_tag == stream)
    ):
        lines.append(f"    alias: follows {name}")
    if (tag.get("importPolicy") or {}).get("insecure"):
        lines.append("    will use insecure HTTPS or HTTP connections")
    if (tag.get("referencePolicy") or {}).get("type") == "Local":
        lines.append("    prefer registry pullthrough when referencing this tag")
    return lines


def describe_object(item: JSON, now: datetime) -> str:
    """Any other kind, as ``kubectl describe`` shows a custom resource: the metadata that
    matters, then every other field with readable names, nested by indentation."""
    metadata = item.get("metadata") or {}
    pairs = meta_fields(item, now)
    pairs += [("API Version", str(item.get("apiVersion", ""))), ("Kind", str(item.get("kind", "")))]
    lines = fields(pairs)
    shown = {"name", "namespace", "creationTimestamp", "labels", "annotations"}
    rest = {key: value for key, value in metadata.items() if key not in shown}
    body = {
        key: value for key, value in item.items() if key not in ("apiVersion", "kind", "metadata")
    }
    lines += dump({"metadata": rest, **body} if rest else body)
    return "\n".join(lines)


def readable(key: str) -> str:
    """``dockerImageReference`` → ``Docker Image Reference``; ``apiGroup`` → ``API Group``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).split(" ")
    return " ".join(
        word.upper() if word.lower() in ACRONYMS else word[:1].upper() + word[1:] for word in words
    )


def scalar(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dump(value: JSON, indent: str = "") -> list[str]:
    """A mapping as indented ``Key:  value`` lines; lists of mappings as ``- `` items."""
    scalars = [(readable(k), scalar(v)) for k, v in value.items() if not _nested(v)]
    lines = fields(scalars, indent) if scalars else []
    for key, child in value.items():
        if not _nested(child):
            continue
        lines.append(f"{indent}{readable(key)}:")
        if isinstance(child, dict):
            lines += dump(child, indent + "  ")
            continue
        for entry in child:
            if isinstance(entry, dict) and entry:
                nested = dump(entry, indent + "    ")
                nested[0] = f"{indent}  - {nested[0][len(indent) + 4 :]}"
                lines += nested
            else:
                lines.append(f"{indent}  - {scalar(entry)}")
    return lines


def _nested(value: Any) -> bool:
    return isinstance(value, (dict, list)) and bool(value)
