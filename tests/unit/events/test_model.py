"""The Distribution envelope built from change-log entries, and the ignore rules."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from dockyard.events.model import (
    EVENTS_MEDIA_TYPE,
    Source,
    build_event,
    envelope,
    event_id,
    is_ignored,
    timestamp,
)
from dockyard.metadata.events import Change

SOURCE = Source("registry-0:5000", "3e1b7a5c-0000-4000-8000-000000000000")
DIGEST = "sha256:" + "ab" * 32
CONFIG = "sha256:" + "cd" * 32
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ORIGIN: dict[str, Any] = {
    "actor": "alice",
    "request": {
        "id": "f00d",
        "addr": "10.0.0.7",
        "host": "registry.example.com:5000",
        "method": "PUT",
        "useragent": "skopeo/1.13",
    },
}


def change(kind: str, action: str, payload: dict[str, Any], id: int = 7) -> Change:
    return Change(id, kind, "team/app", payload.get("digest", DIGEST), action, payload, 1.7e9)


def push(tag: str | None = "v1", **extra: Any) -> Change:
    payload = {
        "repository": "team/app",
        "digest": DIGEST,
        "tag": tag,
        "mediaType": OCI_MANIFEST,
        "size": 523,
        **ORIGIN,
        **extra,
    }
    return change("Image", "push", payload)


def test_media_type_is_distributions_v1_envelope() -> None:
    assert EVENTS_MEDIA_TYPE == "application/vnd.docker.distribution.events.v1+json"


def test_push_event_has_distributions_shape() -> None:
    event = build_event(push(), SOURCE)
    assert event == {
        "id": event_id(push()),
        "timestamp": "2023-11-14T22:13:20.000000Z",
        "action": "push",
        "target": {
            "mediaType": OCI_MANIFEST,
            "size": 523,
            "digest": DIGEST,
            "length": 523,
            "repository": "team/app",
            "url": f"http://registry.example.com:5000/v2/team/app/manifests/{DIGEST}",
            "tag": "v1",
        },
        "request": ORIGIN["request"],
        "actor": {"name": "alice"},
        "source": {"addr": "registry-0:5000", "instanceID": SOURCE.instance_id},
    }


def test_push_by_digest_has_no_tag_and_url_uses_http_host() -> None:
    event = build_event(push(tag=None), SOURCE, base_url="https://registry.example.com")
    assert event is not None
    assert "tag" not in event["target"]
    assert event["target"]["url"] == f"https://registry.example.com/v2/team/app/manifests/{DIGEST}"


def test_references_are_included_when_asked() -> None:
    layer = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": CONFIG,
        "size": 9,
    }
    event = build_event(push(), SOURCE, references={DIGEST: [layer]})
    assert event is not None
    assert event["target"]["references"] == [layer]
    assert "references" not in (build_event(push(), SOURCE) or {})["target"]


def test_untag_is_a_delete_with_the_tag_only() -> None:
    payload = {"repository": "team/app", "tag": "v1", "digest": DIGEST, **ORIGIN}
    event = build_event(change("Image", "untag", payload), SOURCE)
    assert event is not None
    assert event["action"] == "delete"
    assert event["target"] == {"repository": "team/app", "tag": "v1"}


def test_delete_by_digest_is_a_delete_with_the_digest() -> None:
    payload = {"repository": "team/app", "digest": DIGEST, "tags": ["v1"], **ORIGIN}
    event = build_event(change("Image", "delete", payload), SOURCE)
    assert event is not None
    assert event["action"] == "delete"
    assert event["target"] == {"repository": "team/app", "digest": DIGEST}


def test_blob_pull_is_an_octet_stream_with_a_blob_url_and_the_pull_time() -> None:
    payload = {
        "type": "blob",
        "repository": "team/app",
        "digest": CONFIG,
        "tag": None,
        "mediaType": "application/octet-stream",
        "size": 1234,
        "timestamp": 1.7e9 - 0.5,
        **ORIGIN,
    }
    event = build_event(change("Pull", "pull", payload), SOURCE)
    assert event is not None
    assert event["action"] == "pull"
    assert event["timestamp"] == "2023-11-14T22:13:19.500000Z"
    assert event["target"] == {
        "mediaType": "application/octet-stream",
        "size": 1234,
        "digest": CONFIG,
        "length": 1234,
        "repository": "team/app",
        "url": f"http://registry.example.com:5000/v2/team/app/blobs/{CONFIG}",
    }


def test_manifest_pull_by_tag_carries_the_tag() -> None:
    payload = {
        "type": "manifest",
        "repository": "team/app",
        "digest": DIGEST,
        "tag": "latest",
        "mediaType": OCI_MANIFEST,
        "size": 523,
        **ORIGIN,
    }
    event = build_event(change("Pull", "pull", payload), SOURCE)
    assert event is not None
    assert event["target"]["tag"] == "latest"
    assert event["target"]["url"].endswith(f"/manifests/{DIGEST}")


def test_other_entries_are_not_events() -> None:
    assert build_event(change("ImageStream", "update", {}), SOURCE) is None
    assert build_event(change("User", "delete", {}), SOURCE) is None
    assert build_event(change("Image", "mystery", {}), SOURCE) is None


def test_anonymous_request_fields_are_kept_where_go_always_writes_them() -> None:
    event = build_event(push(actor="", request={}), SOURCE)
    assert event is not None
    assert event["actor"] == {}
    assert event["request"] == {"id": "", "method": "", "useragent": ""}
    assert "url" not in event["target"]  # no host to build it from


def test_event_id_is_stable_across_redeliveries_and_distinct_per_change() -> None:
    assert event_id(push()) == event_id(push())
    other = Change(8, "Image", "team/app", DIGEST, "push", {}, 1.7e9)
    assert event_id(other) != event_id(push())
    assert uuid.UUID(event_id(push())).version == 5


def test_timestamp_is_rfc3339_utc() -> None:
    text = timestamp(1_700_000_000.25)
    assert text == "2023-11-14T22:13:20.250000Z"
    assert datetime.fromisoformat(text).timestamp() == 1_700_000_000.25


@pytest.mark.parametrize(
    ("media_types", "actions", "ignored"),
    [
        ((), (), False),
        ((OCI_MANIFEST,), (), True),
        (("application/vnd.docker.distribution.manifest.v2+json",), (), False),
        ((), ("push",), True),
        ((), ("pull", "delete"), False),
    ],
)
def test_ignore_by_media_type_or_action(
    media_types: tuple[str, ...], actions: tuple[str, ...], ignored: bool
) -> None:
    event = build_event(push(), SOURCE)
    assert event is not None
    assert is_ignored(event, media_types, actions) is ignored


def test_deletes_have_no_media_type_so_media_type_rules_keep_them() -> None:
    payload = {"repository": "team/app", "digest": DIGEST, "tags": [], **ORIGIN}
    event = build_event(change("Image", "delete", payload), SOURCE)
    assert event is not None
    assert not is_ignored(event, {OCI_MANIFEST, ""}, ())
    assert is_ignored(event, (), ("delete",))


def test_envelope_holds_the_events_in_order() -> None:
    first, second = build_event(push(), SOURCE), build_event(push(tag="v2"), SOURCE)
    assert first is not None and second is not None
    assert json.loads(envelope([first, second])) == {"events": [first, second]}
