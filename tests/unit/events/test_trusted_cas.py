"""The CAs of ``additionalTrustedCA`` as webhook deliveries read them, from a real database."""

from __future__ import annotations

import pytest

from dockyard.config.model import EndpointSettings, NotificationsSettings
from dockyard.events.delivery import EndpointClient
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import CONFIG_MAP, ResourceStore
from dockyard.operator.certificates import serving_certificate
from dockyard.operator.trust import (
    CLUSTER,
    CONFIG_NAMESPACE,
    IMAGE_CONFIG,
    TrustedCAs,
    bundle_for,
    client_context,
    cluster_bundles,
)

pytestmark = pytest.mark.anyio

CA = serving_certificate("hooks.example.com").ca.decode()


def endpoint_settings(url: str) -> EndpointSettings:
    config = {"endpoints": [{"name": "hook", "url": url}]}
    return NotificationsSettings.model_validate(config).endpoints[0]


async def trust(store: ResourceStore, data: dict[str, str]) -> None:
    """The cluster image config names a config map holding ``data``."""
    await store.create(CONFIG_MAP, CONFIG_NAMESPACE, "cas", {"data": data})
    spec = {"additionalTrustedCA": {"name": "cas"}}
    await store.create(IMAGE_CONFIG, None, CLUSTER, {"spec": spec})


async def change_bundles(store: ResourceStore, data: dict[str, str]) -> None:
    await store.replace(CONFIG_MAP, CONFIG_NAMESPACE, "cas", lambda found: {**found, "data": data})


async def test_bundles_are_found_by_host_and_port_then_host(db: Database) -> None:
    store = ResourceStore(db)
    assert await cluster_bundles(store) == {}
    await trust(store, {"Hooks.Example.com..8443": "with port", "hooks.example.com": "host"})

    bundles = await cluster_bundles(store)
    assert bundle_for(bundles, "hooks.example.com", 8443) == "with port"
    assert bundle_for(bundles, "HOOKS.example.com", 9443) == "host"
    assert bundle_for(bundles, "hooks.example.com") == "host"
    assert bundle_for(bundles, "other.example.com", 8443) is None


async def test_a_change_is_read_after_the_refresh_interval_only(db: Database) -> None:
    store = ResourceStore(db)
    await trust(store, {"hooks.example.com": "first"})
    cached, fresh = TrustedCAs(store, refresh=3600), TrustedCAs(store, refresh=0)
    assert (await cached.bundles())["hooks.example.com"] == "first"

    await change_bundles(store, {"hooks.example.com": "second"})
    assert (await cached.bundles())["hooks.example.com"] == "first"
    assert (await fresh.bundles())["hooks.example.com"] == "second"


def test_a_bundle_that_is_not_pem_is_refused() -> None:
    assert client_context(CA).cert_store_stats()["x509_ca"] >= 1
    with pytest.raises(ValueError, match="not a PEM certificate"):
        client_context("not a certificate")


async def test_the_endpoint_client_is_made_anew_when_its_bundle_changes(db: Database) -> None:
    store = ResourceStore(db)
    await trust(store, {"hooks.example.com..8443": CA})
    https = EndpointClient(
        endpoint_settings("https://hooks.example.com:8443/events"),
        trust=TrustedCAs(store, refresh=0),
    )
    plain = EndpointClient(
        endpoint_settings("http://hooks.example.com:8443/events"),
        trust=TrustedCAs(store, refresh=0),
    )
    try:
        first = await https.current()
        assert await https.current() is first, "unchanged bundle, same client and connections"
        assert plain.trust is None, "plain HTTP has no certificate to check"

        await change_bundles(store, {"hooks.example.com..8443": "not a certificate"})
        second = await https.current()  # logged, and verified with the system's CAs alone
        assert second is not first
        assert first.is_closed
    finally:
        await https.aclose()
        await plain.aclose()
