"""``notifications`` settings: Distribution's keys, durations, and errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.config.loader import load_config
from dockyard.config.model import Settings, dump_settings, format_duration, parse_duration
from dockyard.errors import ConfigError

SECRET = "a-secret-of-thirty-two-characters"
ENDPOINT = {"name": "hook", "url": "https://hooks.example.com/registry"}


def load(tmp_path: Path, **env: str) -> Settings:
    environ = {"HOME": str(tmp_path), "REGISTRY_HTTP_SECRET": SECRET, **env}
    return load_config(None, environ, {})


def load_endpoints(tmp_path: Path, *endpoints: dict[str, Any]) -> Settings:
    return load(tmp_path, REGISTRY_NOTIFICATIONS_ENDPOINTS=json.dumps(list(endpoints)))


def test_no_endpoints_by_default(tmp_path: Path) -> None:
    notifications = load(tmp_path).notifications
    assert notifications.endpoints == []
    assert notifications.events.includereferences is False
    assert not notifications.wants("push")


def test_defaults_are_distributions(tmp_path: Path) -> None:
    (endpoint,) = load_endpoints(tmp_path, ENDPOINT).notifications.endpoints
    assert (endpoint.timeout, endpoint.threshold, endpoint.backoff) == (1.0, 10, 1.0)
    assert endpoint.headers == {}
    assert endpoint.ignored_media_types == frozenset()
    assert endpoint.ignore.actions == []
    assert endpoint.disabled is False


def test_distributions_yaml_through_the_environment(tmp_path: Path) -> None:
    yaml = """
    - name: alistener
      disabled: false
      url: https://my.listener.com/event
      headers: {Authorization: [Bearer token], X-Extra: [a, b]}
      timeout: 500ms
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
      ignore:
        mediatypes: [application/vnd.oci.image.index.v1+json]
        actions: [pull]
    """
    settings = load(
        tmp_path,
        REGISTRY_NOTIFICATIONS_ENDPOINTS=yaml,
        REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES="true",
    )
    (endpoint,) = settings.notifications.endpoints
    assert endpoint.timeout == 0.5
    assert endpoint.threshold == 5
    assert endpoint.header_values() == [
        ("Authorization", "Bearer token"),
        ("X-Extra", "a"),
        ("X-Extra", "b"),
    ]
    assert endpoint.ignored_media_types == {
        "application/octet-stream",
        "application/vnd.oci.image.index.v1+json",
    }
    assert settings.notifications.events.includereferences is True
    assert settings.notifications.wants("push")
    assert not settings.notifications.wants("pull")


def test_a_single_header_value_is_a_list_of_one(tmp_path: Path) -> None:
    settings = load_endpoints(tmp_path, {**ENDPOINT, "headers": {"Authorization": "Bearer x"}})
    assert settings.notifications.endpoints[0].header_values() == [("Authorization", "Bearer x")]


def test_disabled_endpoints_are_not_enabled(tmp_path: Path) -> None:
    other = {**ENDPOINT, "name": "other", "disabled": True}
    notifications = load_endpoints(tmp_path, ENDPOINT, other).notifications
    assert [endpoint.name for endpoint in notifications.enabled] == ["hook"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("1s", 1.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("250us", 25e-5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ({"url": "https://h"}, "notifications.endpoints.0.name: field required"),
        ({"name": "a", "url": "ftp://h"}, "endpoints.0.url: must be an absolute http"),
        ({**ENDPOINT, "timeout": 5}, "endpoints.0.timeout: must be a duration with a unit"),
        ({**ENDPOINT, "backoff": "soon"}, "endpoints.0.backoff: 'soon' is not a duration"),
        ({**ENDPOINT, "timeout": "0s"}, "endpoints.0.timeout: must be longer than zero"),
        ({**ENDPOINT, "threshold": 0}, "endpoints.0.threshold: must be ≥ 1"),
        ({**ENDPOINT, "ignore": {"actions": ["pulls"]}}, "endpoints.0.ignore.actions.0: must be"),
        ({**ENDPOINT, "headers": {"Bad Name": ["x"]}}, "endpoints.0.headers: 'Bad Name' is not"),
        ({**ENDPOINT, "retries": 3}, "endpoints.0.retries: unknown key"),
    ],
)
def test_errors_name_the_variable_and_key(
    tmp_path: Path, endpoint: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"^REGISTRY_NOTIFICATIONS_ENDPOINTS: ") as caught:
        load_endpoints(tmp_path, endpoint)
    assert message in str(caught.value)


def test_endpoint_names_are_unique(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="endpoint names must be unique"):
        load_endpoints(tmp_path, ENDPOINT, ENDPOINT)


def test_header_values_never_show_in_errors_or_repr(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_endpoints(tmp_path, {**ENDPOINT, "headers": {"Authorization": ["tok\nen-secret"]}})
    assert "en-secret" not in str(caught.value)
    settings = load_endpoints(tmp_path, {**ENDPOINT, "headers": {"Authorization": ["s3cr3t"]}})
    assert "s3cr3t" not in repr(settings)


def test_dump_settings_keeps_header_values_and_durations(tmp_path: Path) -> None:
    endpoint = {**ENDPOINT, "headers": {"Authorization": ["s3cr3t"]}, "timeout": "250ms"}
    settings = load_endpoints(tmp_path, endpoint)
    again = Settings.model_validate_json(dump_settings(settings))
    assert again == settings
    assert again.notifications.endpoints[0].header_values() == [("Authorization", "s3cr3t")]
