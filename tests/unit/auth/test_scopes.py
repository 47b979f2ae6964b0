from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from dockyard.auth.access import CATALOG, Access, delete, pull, push
from dockyard.auth.scopes import challenge_scope, format_scope, parse_scope

# parse_scope


def test_parse_scope_gives_one_access_per_action() -> None:
    assert parse_scope("repository:proj/app:pull,push") == [pull("proj/app"), push("proj/app")]


def test_parse_scope_keeps_the_order_asked() -> None:
    assert parse_scope("repository:proj/app:push,pull") == [push("proj/app"), pull("proj/app")]


def test_parse_scope_expands_the_wildcard_into_concrete_actions() -> None:
    assert parse_scope("repository:proj/app:*") == [
        pull("proj/app"),
        push("proj/app"),
        delete("proj/app"),
    ]


def test_parse_scope_reads_the_catalog() -> None:
    assert parse_scope("registry:catalog:*") == [CATALOG]


def test_parse_scope_accepts_deeper_repository_paths() -> None:
    assert parse_scope("repository:proj/team/app-1.x:pull") == [pull("proj/team/app-1.x")]


def test_parse_scope_drops_the_resource_class() -> None:
    assert parse_scope("repository(plugin):proj/app:pull") == [pull("proj/app")]


@pytest.mark.parametrize(
    "scope",
    ["signature:proj/app:get", "metrics:x:get", "admin:prune:*", "repositories:proj/app:pull"],
)
def test_parse_scope_ignores_unknown_types(scope: str) -> None:
    assert parse_scope(scope) == []


def test_parse_scope_ignores_unknown_actions_and_registry_resources() -> None:
    assert parse_scope("repository:proj/app:frobnicate") == []
    assert parse_scope("repository:proj/app:frobnicate,pull") == [pull("proj/app")]
    assert parse_scope("registry:catalog:pull") == []
    assert parse_scope("registry:everything:*") == []


def test_parse_scope_reads_several_entries_and_drops_duplicates() -> None:
    scope = "repository:a/b:pull repository:c/d:push repository:a/b:pull,push registry:catalog:*"
    assert parse_scope(scope) == [pull("a/b"), push("c/d"), push("a/b"), CATALOG]


@pytest.mark.parametrize(
    "scope", ["repository:a/b:pull,push,*", "repository:a/b:*,*,pull", "repository:a/b:*,delete"]
)
def test_parse_scope_never_lets_a_wildcard_through(scope: str) -> None:
    accesses = parse_scope(scope)
    assert all(access.action in {"pull", "push", "delete"} for access in accesses)
    assert sorted(access.action for access in accesses) == ["delete", "pull", "push"]
    assert {access.name for access in accesses} == {"a/b"}


@pytest.mark.parametrize(
    "scope",
    [
        "repository:a/../b:pull",
        "repository:../a:pull",
        "repository:a/..:pull",
        "repository:a/b/..:pull",
        "repository:./a:pull",
        "repository:a//b:pull",
        "repository:/a/b:pull",
        "repository:a/b/:pull",
        "repository:a/b:pull:push",  # the last ':' separates actions: name 'a/b:pull'
        "repository:A/b:pull",
        "repository:a/b*:pull",
        "repository:*:pull",
        "repository:a:pull",  # not <project>/<name>
        "repository:localhost:5000/a/b:pull",  # a host part: not a Dockyard repository name
        "repository:a/" + "b" * 254 + ":pull",
    ],
)
def test_parse_scope_refuses_bad_repository_names(scope: str) -> None:
    with pytest.raises(ValueError, match="repository name"):
        parse_scope(scope)


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "repository",
        "repository:a/b",
        ":a/b:pull",
        "repository:a/b:",
        "repository:a/b:pull,",
        "repository:a/b:,pull",
        "repository:a/b:pull,,push",
        "repository:a/b:PULL",
        "repository:a/b:pu ll",
        "repository:a/b:pull-all",
        "Repository:a/b:pull",
        "repo sitory:a/b:pull",
        "repository(:a/b:pull",
        "repository(x)(y):a/b:pull",
        "repository:a/b:pull  repository:c/d:pull",
        " repository:a/b:pull",
        "repository:a/b:pull ",
    ],
)
def test_parse_scope_refuses_malformed_text(scope: str) -> None:
    with pytest.raises(ValueError):
        parse_scope(scope)


def test_parse_scope_error_messages_stay_short() -> None:
    with pytest.raises(ValueError) as raised:
        parse_scope("x" * 100_000)
    assert len(str(raised.value)) < 400


@given(st.text(max_size=80))
def test_parse_scope_raises_only_value_error(value: str) -> None:
    try:
        accesses = parse_scope(value)
    except ValueError:
        return
    assert all(access.action in {"pull", "push", "delete", "*"} for access in accesses)


# format_scope / challenge_scope


def test_format_scope_groups_actions_per_resource() -> None:
    accesses = [pull("a/b"), pull("c/d"), push("a/b"), pull("a/b"), CATALOG]
    assert (
        format_scope(accesses) == "repository:a/b:pull,push repository:c/d:pull registry:catalog:*"
    )


def test_format_scope_of_nothing_is_empty() -> None:
    assert format_scope([]) == ""


@pytest.mark.parametrize(
    "scope",
    [
        "repository:a/b:pull,push",
        "repository:a/b:push,pull repository:c/d:delete",
        "registry:catalog:*",
        "repository:a/b:pull registry:catalog:* repository:x/y/z:push",
    ],
)
def test_format_scope_inverts_parse_scope(scope: str) -> None:
    assert format_scope(parse_scope(scope)) == scope


_COMPONENT = st.from_regex(r"[a-z0-9]{1,5}([._-][a-z0-9]{1,5})?", fullmatch=True)
_NAMES = st.lists(_COMPONENT, min_size=2, max_size=4).map("/".join)
_ACCESSES = st.lists(
    st.builds(Access, st.just("repository"), _NAMES, st.sampled_from(["pull", "push", "delete"])),
    max_size=8,
)


@given(_ACCESSES)
def test_parse_scope_inverts_format_scope(accesses: list[Access]) -> None:
    if not accesses:
        assert format_scope(accesses) == ""
        return
    parsed = parse_scope(format_scope(accesses))
    assert set(parsed) == set(accesses)
    assert len(parsed) == len(set(accesses))


def test_challenge_scope_is_space_separated_and_grouped() -> None:
    accesses = [pull("a/b"), push("a/b"), pull("c/d")]
    assert challenge_scope(accesses) == "repository:a/b:pull,push repository:c/d:pull"


def test_challenge_scope_of_nothing_is_empty() -> None:
    assert challenge_scope([]) == ""


@pytest.mark.parametrize("name", ['a/b",realm="https://evil', "a/b\\", "a/b\r\nX-Evil: 1", "a/ü"])
def test_challenge_scope_refuses_what_would_break_the_header(name: str) -> None:
    with pytest.raises(ValueError, match="challenge header"):
        challenge_scope([pull(name)])
