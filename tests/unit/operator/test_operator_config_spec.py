"""The Config spec: durations, the checks models can't make, defaults, and the seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dockyard.config.model import Settings
from dockyard.operator.config import (
    PVC,
    S3,
    ConfigSpec,
    EmptyDir,
    Route,
    Storage,
    dump,
    parse,
    problems,
    seconds,
    seed,
    with_defaults,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0.0), ("", 0.0), ("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0)],
)
def test_go_durations(text: str, value: float) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["soon", "30", "1x", "s", "1m 30s", "-1s"])
def test_not_durations(text: str) -> None:
    assert seconds(text) is None


def fields(spec: ConfigSpec) -> list[str]:
    return [field for field, _, _ in problems(spec)]


def test_a_default_spec_has_no_problems() -> None:
    assert problems(ConfigSpec()) == []


def test_two_storage_kinds_are_refused() -> None:
    spec = ConfigSpec(storage=Storage(pvc=PVC(), s3=S3(bucket="b")))
    assert fields(spec) == ["spec.storage"]


def test_empty_dir_takes_one_replica() -> None:
    assert fields(ConfigSpec(storage=Storage(empty_dir=EmptyDir()), replicas=2)) == [
        "spec.replicas"
    ]
    assert problems(ConfigSpec(storage=Storage(empty_dir=EmptyDir()), replicas=1)) == []


def test_bad_waits_and_duplicate_routes_name_their_field() -> None:
    spec = ConfigSpec.model_validate(
        {
            "requests": {"read": {"maxWaitInQueue": "later"}},
            "routes": [{"name": "a"}, {"name": "a"}, {"name": ""}],
        }
    )
    assert fields(spec) == [
        "spec.requests.read.maxWaitInQueue",
        "spec.routes[1].name",
        "spec.routes[2].name",
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"requests": {"read": {"maxRunning": -1}}},
        {"rolloutStrategy": "Sometimes"},
        {"managementState": "removed"},
        {"replicas": "2"},
        {"storage": {"s3": {"chunkSizeMiB": 4}}},
        {"typo": 1},
    ],
)
def test_the_model_refuses(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ConfigSpec.model_validate(spec)


def test_defaults_generate_a_secret_once_and_fill_storage() -> None:
    first = with_defaults(ConfigSpec(), None)
    assert len(first.http_secret) >= 32
    assert first.storage.kinds == ["pvc"] and first.storage.pvc == PVC(
        claim="image-registry-storage"
    )
    again = with_defaults(ConfigSpec(replicas=3), first)
    assert again.http_secret == first.http_secret and again.storage == first.storage
    chosen = with_defaults(ConfigSpec(http_secret="mine-0123456789abcdef"), first)
    assert chosen.http_secret == "mine-0123456789abcdef"


def test_seed_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "workers": 3, "http": {"secret": "s" * 32}}
    )
    spec = seed(settings)
    assert spec.replicas == 3 and spec.storage.kinds == ["pvc"]
    assert spec.http_secret == "s" * 32
    memory = Settings.model_validate(
        {"data_dir": str(tmp_path), "workers": 3, "storage": {"inmemory": {}}}
    )
    assert seed(memory).storage.kinds == ["emptyDir"] and seed(memory).replicas == 1
    assert problems(seed(memory)) == []


def test_dump_and_parse_round_trip() -> None:
    spec = ConfigSpec(
        read_only=True, routes=[Route(name="r", hostname="h.example.com", secret_name="tls")]
    )
    dumped = dump(spec)
    assert dumped["readOnly"] is True and dumped["routes"][0]["secretName"] == "tls"
    assert parse({"spec": dumped}) == spec
