from __future__ import annotations

import base64
import json
from typing import Any

from dockyard.imports.client import Credentials
from dockyard.imports.credentials import auths_of, credentials_in, registry_key


def secret(auths: dict[str, Any], kind: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    key = ".dockerconfigjson" if kind.endswith("json") else ".dockercfg"
    document = {"auths": auths} if kind.endswith("json") else auths
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    return {"type": kind, "data": {key: encoded}}


def basic(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_keys_match_by_host_whatever_docker_wrote_around_them() -> None:
    assert registry_key("https://registry.example:5000/v1/") == "registry.example:5000"
    assert registry_key("registry.example:5000") == "registry.example:5000"
    assert registry_key("https://index.docker.io/v1/") == "docker.io"
    assert registry_key("REGISTRY.example") == "registry.example"


def test_credentials_come_from_auth_or_username_and_password() -> None:
    auths = auths_of(
        secret(
            {
                "https://a.example/v1/": basic("alice", "pa:ss"),
                "b.example:5000": {"username": "bob", "password": "pw"},
                "https://index.docker.io/v1/": basic("hub", "h"),
            }
        )
    )
    assert credentials_in(auths, "a.example") == Credentials("alice", "pa:ss")
    assert credentials_in(auths, "b.example:5000") == Credentials("bob", "pw")
    assert credentials_in(auths, "docker.io") == Credentials("hub", "h")
    assert credentials_in(auths, "c.example") is None


def test_legacy_dockercfg_and_bad_secrets() -> None:
    legacy = auths_of(secret({"a.example": basic("u", "p")}, "kubernetes.io/dockercfg"))
    assert credentials_in(legacy, "a.example") == Credentials("u", "p")
    assert auths_of({"type": "Opaque", "data": {".dockerconfigjson": "e30="}}) == {}
    assert auths_of({"type": "kubernetes.io/dockerconfigjson", "data": {}}) == {}
    not_base64 = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!"}}
    assert auths_of(not_base64) == {}
    assert credentials_in({"a.example": {"auth": "!!"}}, "a.example") is None
