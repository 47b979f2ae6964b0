"""Webhook notifications from real servers to a real HTTP receiver.

Each test runs ``dockyard serve`` (two workers unless it says otherwise) with endpoints set in
``REGISTRY_NOTIFICATIONS_ENDPOINTS`` and a stdlib HTTP server on a free loopback port that records
every envelope and can be told to answer 500 or to hang. What is checked: the envelope's content
for pushes, pulls, deletes and untags; the ignore settings; that a failing or hanging endpoint
later gets every event in order, none lost; that events pending at a SIGKILL are delivered after
the restart; that several workers and replicas never deliver a batch twice; and that an HTTPS
endpoint signed by a CA of the test's making is trusted once the cluster image config's
``additionalTrustedCA`` names it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from distribution_helpers import (
    assert_status,
    build_image,
    manifest_json,
    prepare_image,
    push_blob,
    push_image,
    push_image_blobs,
    put_manifest,
    random_config,
)
from images import (
    ACCEPT_MANIFESTS,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    make_layout,
)
from proxy_helpers import trust_cluster_wide

from dockyard.operator.certificates import serving_certificate

if TYPE_CHECKING:
    from conftest import RegistryFactory
    from integration.conftest import Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
SECRET_HEADER = "Bearer webhook-secret-3f9a1c"
DELIVERY_TIMEOUT = 30.0
"""Seconds to wait for events: a restart after SIGKILL waits out a 10 s lease first."""


@dataclass
class Received:
    headers: dict[str, str]
    events: list[dict[str, Any]]
    status: int
    """What the receiver answered; only 2xx envelopes count as delivered."""


class Receiver:
    """A webhook endpoint: records every POST; ``mode`` is ``ok``, ``fail`` (500) or ``hang``
    (answers only after ``hang_seconds``, longer than the endpoint's timeout). With ``tls`` (a
    server context), it serves HTTPS as ``localhost``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.hang_seconds = 3.0
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = receiver.mode
                status = 500 if mode == "fail" else 200
                if mode == "hang":
                    time.sleep(receiver.hang_seconds)
                    status = 599  # the sender gave up long ago: not a delivery
                with receiver._lock:
                    receiver.requests.append(
                        Received(dict(self.headers), json.loads(body)["events"], status)
                    )
                with contextlib.suppress(OSError):
                    self.send_response(min(status, 500))
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme, self.host = "http", "127.0.0.1"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme, self.host = "https", "localhost"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/events"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def delivered(self) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if 200 <= request.status < 300]

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """Events of the envelopes answered 2xx, in arrival order."""
        found = [event for request in self.delivered() for event in request.events]
        return [event for event in found if action is None or event["action"] == action]

    def attempts(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait(self, done: Callable[[], bool], what: str, timeout: float = DELIVERY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                summary = [(e["action"], e["target"]) for e in self.events()]
                raise AssertionError(f"timed out waiting for {what}; received: {summary}")
            time.sleep(0.05)

    def wait_for_digests(self, digests: list[str], action: str = "push") -> None:
        self.wait(
            lambda: set(digests) <= {e["target"].get("digest") for e in self.events(action)},
            f"{action} events of {len(digests)} digests",
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


def endpoints_env(*endpoints: dict[str, Any], **events: Any) -> dict[str, str]:
    env = {"REGISTRY_NOTIFICATIONS_ENDPOINTS": json.dumps(list(endpoints))}
    if events:
        env["REGISTRY_NOTIFICATIONS_EVENTS"] = json.dumps(events)
    return env


def endpoint(name: str, receiver: Receiver, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "url": receiver.url,
        "headers": {"Authorization": [SECRET_HEADER]},
        "timeout": "500ms",
        "threshold": 3,
        "backoff": "100ms",
        **options,
    }


def push_variants(client: httpx.Client, repository: str, count: int) -> list[str]:
    """Push ``count`` distinct manifests (one set of blobs, varied annotations) by tag;
    returns their digests in push order."""
    image = prepare_image(client, repository)
    document = json.loads(image.manifest)
    digests = []
    for number in range(count):
        document["annotations"] = {"number": str(number), "nonce": uuid.uuid4().hex}
        body = manifest_json(document)
        assert_status(put_manifest(client, repository, f"t{number}", body), 201)
        digests.append(digest_of(body))
    return digests


def push_digests(receiver: Receiver) -> list[str]:
    return [event["target"]["digest"] for event in receiver.events("push")]


def first_seen(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def test_push_delivers_push_event_with_target_actor_and_request(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    with registry.client() as client:
        image = prepare_image(client, repository)
        response = put_manifest(client, repository, "v1", image.manifest, image.media_type)
        assert_status(response, 201)
    receiver.wait_for_digests([image.digest])

    (request,) = receiver.delivered()
    assert request.headers["Content-Type"] == EVENTS_MEDIA_TYPE
    assert request.headers["Authorization"] == SECRET_HEADER
    (event,) = request.events
    assert event["action"] == "push"
    assert event["target"] == {
        "mediaType": OCI_MANIFEST,
        "size": image.size,
        "digest": image.digest,
        "length": image.size,
        "repository": repository,
        "url": f"{registry.url}/v2/{repository}/manifests/{image.digest}",
        "tag": "v1",
    }
    assert event["actor"] == {"name": "admin"}
    assert event["request"]["id"] == response.headers["x-request-id"]
    assert event["request"]["method"] == "PUT"
    assert event["request"]["host"] == registry.host
    assert event["request"]["useragent"].startswith("python-httpx/")
    assert event["source"]["addr"].endswith(f":{registry.port}")
    assert event["source"]["instanceID"]
    assert uuid.UUID(event["id"])
    assert datetime.fromisoformat(event["timestamp"]).utcoffset() is not None
    # The line is written once the receiver has answered, so it may trail the delivery.
    delivered = 'msg="notifications delivered" endpoint=hook events=1 status=200'
    receiver.wait(lambda: delivered in registry.log_text(), "the delivery's log line")
    assert "webhook-secret" not in registry.log_text()


def test_skopeo_push_delivers_each_manifest_in_order(
    registry_factory: RegistryFactory,
    receiver: Receiver,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    multi = make_layout(
        tmp_path / "oci", "multi", platforms=[("linux", "amd64"), ("linux", "arm64")]
    )
    docker = make_layout(tmp_path / "docker", "docker", docker=True)
    skopeo.copy(multi.ref, f"docker://{registry.host}/{repository}:multi", "--all")
    skopeo.copy(docker.ref, f"docker://{registry.host}/{repository}:docker")
    children = [image.manifest.digest for image in multi.images]
    receiver.wait_for_digests([*children, multi.digest, docker.digest])

    pushes = receiver.events("push")
    order = [event["target"]["digest"] for event in pushes]
    assert sorted(order[:2]) == sorted(children), "an index is pushed after its children"
    assert order[2:] == [multi.digest, docker.digest]
    by_digest = {event["target"]["digest"]: event["target"] for event in pushes}
    assert "tag" not in by_digest[children[0]]
    assert by_digest[multi.digest]["tag"] == "multi"
    assert by_digest[multi.digest]["mediaType"] == multi.media_type
    assert by_digest[multi.digest]["size"] == len(multi.top.data)
    assert by_digest[docker.digest] | {"url": ""} == {
        "mediaType": DOCKER_MANIFEST,
        "size": len(docker.top.data),
        "digest": docker.digest,
        "length": len(docker.top.data),
        "repository": repository,
        "url": "",
        "tag": "docker",
    }
    assert all(event["request"]["useragent"].startswith("skopeo") for event in pushes)


def test_pulls_deliver_pull_events_and_heads_do_not(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    with registry.client() as client:
        image = push_image(client, repository, "v1")
        accept = {"Accept": ACCEPT_MANIFESTS}
        assert_status(client.head(f"/v2/{repository}/manifests/v1", headers=accept), 200)
        assert_status(client.head(f"/v2/{repository}/blobs/{image.config_digest}"), 200)
        by_tag = client.get(f"/v2/{repository}/manifests/v1", headers=accept)
        assert_status(by_tag, 200)
        assert_status(client.get(f"/v2/{repository}/manifests/{image.digest}", headers=accept), 200)
        blob = client.get(f"/v2/{repository}/blobs/{image.config_digest}")
        assert_status(blob, 200)
    receiver.wait(lambda: len(receiver.events("pull")) >= 3, "three pull events")
    time.sleep(1.5)  # a flush later: the HEADs added nothing

    pulls = receiver.events("pull")
    assert len(pulls) == 3
    manifests = [event for event in pulls if event["target"]["digest"] == image.digest]
    assert sorted(event["target"].get("tag", "") for event in manifests) == ["", "v1"]
    tagged = next(event for event in manifests if event["target"].get("tag") == "v1")
    assert tagged["target"]["mediaType"] == OCI_MANIFEST
    assert tagged["target"]["size"] == image.size
    assert tagged["target"]["repository"] == repository
    assert tagged["request"]["id"] == by_tag.headers["x-request-id"]
    assert tagged["request"]["method"] == "GET"
    assert tagged["actor"] == {"name": "admin"}
    (blob_event,) = [event for event in pulls if event["target"]["digest"] == image.config_digest]
    assert blob_event["target"] == {
        "mediaType": "application/octet-stream",
        "size": len(image.config),
        "digest": image.config_digest,
        "length": len(image.config),
        "repository": repository,
        "url": f"{registry.url}/v2/{repository}/blobs/{image.config_digest}",
    }
    assert blob_event["request"]["id"] == blob.headers["x-request-id"]


def test_untag_and_delete_deliver_delete_events(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    with registry.client() as client:
        image = prepare_image(client, repository)
        for tag in ("v1", "v2"):
            assert_status(put_manifest(client, repository, tag, image.manifest), 201)
        assert_status(client.delete(f"/v2/{repository}/manifests/v1"), 202)
        assert_status(client.delete(f"/v2/{repository}/manifests/{image.digest}"), 202)
    receiver.wait(lambda: len(receiver.events()) >= 4, "two pushes and two deletes")

    events = receiver.events()
    assert [(e["action"], e["target"].get("tag")) for e in events] == [
        ("push", "v1"),
        ("push", "v2"),
        ("delete", "v1"),
        ("delete", None),
    ]
    assert events[2]["target"] == {"repository": repository, "tag": "v1"}
    assert events[3]["target"] == {"repository": repository, "digest": image.digest}
    assert events[3]["request"]["method"] == "DELETE"
    assert events[3]["actor"] == {"name": "admin"}


def test_ignored_actions_and_media_types_are_not_sent(
    registry_factory: RegistryFactory, repository: str
) -> None:
    with Receiver() as everything, Receiver() as filtered:
        filtering = endpoint(
            "filtered",
            filtered,
            ignoredmediatypes=[DOCKER_MANIFEST],
            ignore={"actions": ["pull"], "mediatypes": [OCI_INDEX]},
        )
        env = endpoints_env(endpoint("everything", everything), filtering)
        registry = registry_factory(env=env)
        with registry.client() as client:
            oci = push_image(client, repository, "oci")
            docker = push_image(client, repository, "docker", docker=True)
            assert_status(client.get(f"/v2/{repository}/blobs/{oci.config_digest}"), 200)
            everything.wait(lambda: bool(everything.events("pull")), "the pull event")
            marker = push_image(client, repository, "marker")
        everything.wait_for_digests([marker.digest])
        filtered.wait_for_digests([marker.digest])

        assert push_digests(everything) == [oci.digest, docker.digest, marker.digest]
        assert [e["target"]["digest"] for e in everything.events("pull")] == [oci.config_digest]
        assert [(e["action"], e["target"]["digest"]) for e in filtered.events()] == [
            ("push", oci.digest),
            ("push", marker.digest),
        ]


@pytest.mark.parametrize("failure", ["fail", "hang"])
def test_failing_endpoint_gets_every_event_afterwards_in_order(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str, failure: str
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    receiver.hang_seconds = 1.5
    receiver.mode = failure
    with registry.client() as client:
        digests = push_variants(client, repository, 60)
    receiver.wait(lambda: receiver.attempts() >= 4, "retries past the threshold")
    receiver.mode = "ok"
    receiver.wait_for_digests(digests)

    assert push_digests(receiver) == digests, "each event once, in push order"
    assert all(len(request.events) <= 50 for request in receiver.delivered())
    logs = registry.log_text()
    assert 'msg="notifications not delivered" endpoint=hook' in logs
    assert ('reason="status 500"' if failure == "fail" else "reason=TimeoutError") in logs
    assert "webhook-secret" not in logs


def test_events_pending_at_a_kill_are_delivered_after_restart(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    with registry.client() as client:
        delivered = push_variants(client, repository, 5)
        receiver.wait_for_digests(delivered)
        receiver.mode = "fail"
        pending = push_variants(client, repository, 10)
    receiver.wait(lambda: receiver.attempts() >= 3, "failed attempts")

    registry.kill()
    receiver.mode = "ok"
    registry.start()
    receiver.wait_for_digests(pending)

    received = push_digests(receiver)
    assert first_seen(received) == delivered + pending, "at least once, in push order"


def test_workers_and_replicas_never_deliver_a_batch_twice(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    env = endpoints_env(endpoint("hook", receiver))
    first = registry_factory(env=env, workers=2)
    second = registry_factory(env=env, workers=2, database_url=first.database_url)
    second.token = first.token  # the same database: the same users and tokens
    pushed: list[str] = []
    with first.client() as one, second.client() as two:
        for round in range(3):
            for client in (one, two):
                pushed += push_variants(client, f"{repository}{round}", 4)
            receiver.wait_for_digests(pushed)
        assert first.stop() == 0  # hands its leases over
        for round in range(3, 5):
            pushed += push_variants(two, f"{repository}{round}", 4)
    receiver.wait_for_digests(pushed)

    received = push_digests(receiver)
    assert received == pushed, "every event exactly once, in commit order"


def test_blob_uploads_are_not_events(
    registry_factory: RegistryFactory, receiver: Receiver, repository: str
) -> None:
    """Only manifests are pushes (blob pushes are not in the change log): a marker proves the
    log was read past the blob uploads."""
    registry = registry_factory(env=endpoints_env(endpoint("hook", receiver)))
    with registry.client() as client:
        push_blob(client, repository, random_config())
        image = build_image(repository)
        push_image_blobs(client, image)
        assert_status(put_manifest(client, repository, "marker", image.manifest), 201)
    receiver.wait_for_digests([image.digest])
    assert [e["target"]["digest"] for e in receiver.events()] == [image.digest]


def serving_context(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A server context for ``localhost`` signed by a throwaway CA, and that CA's PEM."""
    serving = serving_certificate("localhost")
    (directory / "server.crt").write_bytes(serving.certificate)
    (directory / "server.key").write_bytes(serving.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    return context, serving.ca.decode()


def test_https_endpoint_is_trusted_through_additional_trusted_ca(
    registry_factory: RegistryFactory, repository: str, tmp_path: Path
) -> None:
    context, ca = serving_context(tmp_path)
    with Receiver(tls=context) as receiver:
        assert receiver.url.startswith("https://localhost:")
        registry = registry_factory(env=endpoints_env(endpoint("tls", receiver)), workers=1)
        refused = 'msg="notifications not delivered" endpoint=tls'
        with registry.client(timeout=60) as client:
            digests = push_variants(client, repository, 2)
            receiver.wait(
                lambda: registry.log_text().count(refused) >= 2,
                "failed tries while the CA is not trusted",
            )
            assert "CERTIFICATE_VERIFY_FAILED" in registry.log_text()
            assert receiver.attempts() == 0, "no envelope gets through an untrusted handshake"

            trust_cluster_wide(client, "webhook-cas", f"localhost:{receiver.port}", ca)
            receiver.wait_for_digests(digests)

    assert push_digests(receiver) == digests, "the events held back, once each, in order"
