from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from dockyard.errors import ErrorCode, RangeInvalidError
from dockyard.registry.ranges import parse_content_range, parse_range

INT64_MAX = 2**63 - 1

# --- Content-Range on upload chunks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0-99", (0, 99)),
        ("100-100", (100, 100)),
        (" 5-9 ", (5, 9)),
        ("bytes 0-99/*", (0, 99)),
        ("bytes 0-99/100", (0, 99)),
        ("bytes=0-99", (0, 99)),
        ("BYTES=10-20", (10, 20)),
        ("007-010", (7, 10)),
        (f"0-{INT64_MAX}", (0, INT64_MAX)),
    ],
)
def test_content_range_forms(value: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0-",
        "-5",
        "5",
        "abc",
        "5-4",
        "bytes 0-99/50",
        "bytes 0-99/99",
        "bytes 0-99/x",
        "+1-5",
        "1_0-20",
        "\u0661-\u0662",  # Arabic-Indic digits, which int() would take
        "0-1-2",
        "0 - 5",
        "bytes0-5",
        f"0-{INT64_MAX + 1}",
        "0-" + "9" * 5000,
    ],
)
def test_content_range_invalid(value: str) -> None:
    with pytest.raises(RangeInvalidError) as info:
        parse_content_range(value)
    assert info.value.status == 416
    assert info.value.code is ErrorCode.RANGE_INVALID


def test_content_range_end_before_start_message() -> None:
    with pytest.raises(RangeInvalidError, match="end 4 is before start 5"):
        parse_content_range("5-4")


@given(st.integers(0, INT64_MAX), st.integers(0, INT64_MAX))
def test_content_range_roundtrip(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    assert parse_content_range(f"{start}-{end}") == (start, end)
    assert parse_content_range(f"bytes {start}-{end}/*") == (start, end)


@given(st.text(max_size=40))
def test_content_range_arbitrary_text(value: str) -> None:
    try:
        start, end = parse_content_range(value)
    except RangeInvalidError:
        return
    assert 0 <= start <= end <= INT64_MAX


# --- Range on blob reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=0-0", (0, 0)),
        ("bytes=10-", (10, 99)),
        ("bytes=99-", (99, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=50-1000", (50, 99)),
        ("bytes=0-" + "9" * 40, (0, 99)),
        ("Bytes = 3-4 ", (3, 4)),
        ("bytes=0-9,", (0, 9)),
        ("bytes= 0-9 ", (0, 9)),
    ],
)
def test_range_satisfiable(value: str, expected: tuple[int, int]) -> None:
    assert parse_range(value, 100) == expected


@pytest.mark.parametrize("value", ["bytes=0-1,5-6", "bytes=0-1, -5", "items=0-5", "none=0-1"])
def test_range_ignored(value: str) -> None:
    assert parse_range(value, 100) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=" + "9" * 40 + "-", 100),
        ("bytes=-0", 100),
        ("bytes=5-4", 100),
        ("bytes=0-", 0),
        ("bytes=abc", 100),
        ("bytes=-", 100),
        ("bytes=", 100),
        ("bytes=+1-5", 100),
        ("bytes=\u0661-\u0662", 100),
        ("0-5", 100),
        ("bytes 0-5", 100),
    ],
)
def test_range_unsatisfiable(value: str, size: int) -> None:
    with pytest.raises(RangeInvalidError) as info:
        parse_range(value, size)
    assert info.value.status == 416
    assert info.value.headers == {"Content-Range": f"bytes */{size}"}


def test_suffix_of_empty_blob_serves_whole() -> None:
    assert parse_range("bytes=-5", 0) is None


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_range_matches_slice_semantics(size: int, first: int, last: int) -> None:
    start, end = min(first, last), max(first, last)
    blob = range(size)
    try:
        result = parse_range(f"bytes={start}-{end}", size)
    except RangeInvalidError:
        assert start >= size
        return
    assert result is not None
    assert blob[result[0] : result[1] + 1] == blob[start : end + 1]


@given(st.integers(0, 10**6), st.integers(1, 10**7))
def test_suffix_range_is_last_n_bytes(size: int, suffix: int) -> None:
    result = parse_range(f"bytes=-{suffix}", size)
    if size == 0:
        assert result is None
        return
    assert result is not None
    assert result[1] - result[0] + 1 == min(suffix, size)
    assert result[1] == size - 1


@given(st.text(max_size=40), st.integers(0, 10**9))
def test_range_arbitrary_text(value: str, size: int) -> None:
    try:
        result = parse_range(value, size)
    except RangeInvalidError as exc:
        assert exc.headers == {"Content-Range": f"bytes */{size}"}
        return
    if result is not None:
        assert 0 <= result[0] <= result[1] < size
