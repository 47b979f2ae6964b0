from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.observability.logging import (
    JSONFormatter,
    LogfmtFormatter,
    StructuredFormatter,
    TextFormatter,
    current_request_id,
    setup_logging,
)

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def record(
    msg: str = "listening on %s",
    args: tuple[Any, ...] = ("127.0.0.1:5000",),
    level: int = logging.INFO,
    extra: dict[str, Any] | None = None,
    error: BaseException | None = None,
) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error else None
    result = logging.LogRecord("dockyard.test", level, __file__, 1, msg, args, exc_info)
    result.__dict__.update(extra or {})
    return result


def failure() -> ValueError:
    try:
        raise ValueError("bad digest\nsecond line")
    except ValueError as exc:
        return exc


@pytest.fixture
def request_id() -> Iterator[str]:
    token = current_request_id.set("0af7651916cd43dd8448eb211c80319c")
    yield "0af7651916cd43dd8448eb211c80319c"
    current_request_id.reset(token)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    access = logging.getLogger("dockyard.access")
    saved = root.handlers[:], root.level, access.level
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    access.setLevel(saved[2])


def test_logfmt_line() -> None:
    line = LogfmtFormatter().format(record(extra={"workers": 4, "http.request.method": "GET"}))
    assert re.fullmatch(
        rf'time={TIME} level=info msg="listening on 127.0.0.1:5000" workers=4 '
        r"http.request.method=GET",
        line,
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("tab\there", '"tab\\there"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("", '""'),
        ("C:\\path", "C:\\path"),
        ("ünïcode", "ünïcode"),
        (200, "200"),
        (0.25, "0.25"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_logfmt_quotes_only_when_needed(value: object, rendered: str) -> None:
    line = LogfmtFormatter().format(record("static", (), extra={"v": value}))
    assert line.endswith(f" v={rendered}")


def test_request_id_appears_only_when_set(request_id: str) -> None:
    assert f" request.id={request_id}" in LogfmtFormatter().format(record())
    token = current_request_id.set(None)
    try:
        assert "request.id" not in LogfmtFormatter().format(record())
    finally:
        current_request_id.reset(token)


def test_exception_is_one_line_without_traceback_by_default() -> None:
    line = LogfmtFormatter().format(record("upload failed", (), logging.ERROR, error=failure()))
    assert "\n" not in line
    assert line.endswith(' err="ValueError: bad digest second line"')
    assert "Traceback" not in line


def test_exception_traceback_at_debug_stays_on_one_line() -> None:
    formatter = LogfmtFormatter(include_traceback=True)
    line = formatter.format(record("upload failed", (), logging.ERROR, error=failure()))
    assert "\n" not in line
    assert ' stack="Traceback (most recent call last):\\n' in line
    assert "raise ValueError" in line


def test_json_has_the_same_fields_with_their_types(request_id: str) -> None:
    extra = {"http.response.status": 404, "ok": False, "obj": object()}
    line = JSONFormatter().format(record(extra=extra, error=failure()))
    data = json.loads(line)
    assert re.fullmatch(TIME, data.pop("time"))
    obj = data.pop("obj")
    assert obj.startswith("<object object")
    assert data == {
        "level": "info",
        "msg": "listening on 127.0.0.1:5000",
        "request.id": request_id,
        "http.response.status": 404,
        "ok": False,
        "err": "ValueError: bad digest second line",
    }


def test_text_puts_the_debug_traceback_on_its_own_lines() -> None:
    text = TextFormatter(include_traceback=True).format(
        record("upload failed", (), logging.ERROR, extra={"repo": "p/app"}, error=failure())
    )
    first, *rest = text.splitlines()
    assert re.fullmatch(
        rf'{TIME} ERROR   upload failed  repo=p/app err="ValueError: bad digest second line"', first
    )
    assert rest[0] == "Traceback (most recent call last):"


def test_uvicorns_terminal_copy_of_a_message_is_dropped() -> None:
    line = LogfmtFormatter().format(record(extra={"color_message": "\x1b[1mhi\x1b[0m"}))
    assert "color_message" not in line


@pytest.mark.parametrize(
    ("formatter", "expected"),
    [("logfmt", LogfmtFormatter), ("json", JSONFormatter), ("text", TextFormatter)],
)
def test_setup_logging_installs_the_formatter_on_stderr(
    restore_logging: None,
    capsys: pytest.CaptureFixture[str],
    formatter: str,
    expected: type[StructuredFormatter],
) -> None:
    setup_logging("info", formatter)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stderr
    assert type(handler.formatter) is expected
    logging.getLogger("dockyard.x").info("started", extra={"workers": 2})
    logging.getLogger("dockyard.x").debug("hidden")
    err = capsys.readouterr().err
    assert "started" in err
    assert "workers" in err
    assert "hidden" not in err


def test_setup_logging_keeps_the_access_log_at_quiet_levels(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("error", "logfmt")
    logging.getLogger("dockyard.registry").warning("not shown")
    logging.getLogger("dockyard.access").info("response completed")
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert 'msg="response completed"' in err


@pytest.mark.parametrize(("level", "traceback"), [("debug", True), ("info", False)])
def test_setup_logging_includes_tracebacks_only_at_debug(
    restore_logging: None, level: str, traceback: bool
) -> None:
    setup_logging(level, "logfmt")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, StructuredFormatter)
    assert handler.formatter.include_traceback is traceback


def test_time_is_utc_with_milliseconds_across_seconds() -> None:
    formatter = LogfmtFormatter()
    for second, msecs, shown in [
        (1_796_667_748, 209, "2026-12-07T18:22:28.209Z"),
        (1_796_667_748, 999, "2026-12-07T18:22:28.999Z"),
        (1_796_667_749, 1, "2026-12-07T18:22:29.001Z"),
        (0, 500, "1970-01-01T00:00:00.500Z"),
    ]:
        line = record()
        line.created, line.msecs = second + msecs / 1000, msecs
        assert formatter.format(line).startswith(f"time={shown} "), formatter.format(line)
