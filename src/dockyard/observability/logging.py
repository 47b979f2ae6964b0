"""Log lines on stderr as logfmt (the default), JSON or plain text.

Messages are static and lower-case; values travel in ``extra=`` fields (``http.request.method``),
so log processors can index them. The request id comes from a context variable that the HTTP
middleware sets, so every line logged while serving a request carries it. Exceptions take one line
(``err=``); the traceback is added only at debug level, where someone is reading it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

ACCESS_LOGGER = "dockyard.access"

# Attributes every LogRecord has; anything else on a record came from `extra=`. uvicorn adds a
# `color_message` copy of its messages for terminals.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "color_message"}
_NEEDS_QUOTES = re.compile(r'[\s="\x00-\x1f\x7f]')


class StructuredFormatter(logging.Formatter):
    """Collects a record's fields in output order: time, level, msg, request.id, extras, err."""

    def __init__(self, include_traceback: bool = False) -> None:
        super().__init__()
        self.include_traceback = include_traceback

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            fields["request.id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                fields[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            fields["err"] = f"{type(error).__name__}: {error}".replace("\n", " ")
            if self.include_traceback:
                fields["stack"] = self.formatException(record.exc_info)
        return fields


class LogfmtFormatter(StructuredFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(
            [f"{key}={_logfmt_value(value)}" for key, value in self.fields(record).items()]
        )


class JSONFormatter(StructuredFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False, default=str)


class TextFormatter(StructuredFormatter):
    """For a person at a terminal: the traceback, when included, on lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        fields = self.fields(record)
        time, level, message = fields.pop("time"), fields.pop("level"), fields.pop("msg")
        stack = fields.pop("stack", None)
        pairs = " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
        line = f"{time} {level.upper():<7} {message}" + (f"  {pairs}" if pairs else "")
        return f"{line}\n{stack}" if stack else line


FORMATTERS: dict[str, type[StructuredFormatter]] = {
    "logfmt": LogfmtFormatter,
    "json": JSONFormatter,
    "text": TextFormatter,
}


QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "alembic", "httpx", "httpcore")


def logging_config(level: str, formatter: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict; uvicorn applies it again in each worker it spawns.

    The access log follows ``log.accesslog.disabled``, not ``log.level``: as in Distribution, a
    quieter level does not silence the record of who pulled what.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "dockyard": {"()": FORMATTERS[formatter], "include_traceback": level == "debug"}
        },
        "handlers": {
            "stderr": {
                "class": "dockyard.observability.batching.BatchingStreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "dockyard",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # Database drivers log every statement with its parameters at debug: password hashes,
        # token digests and signing keys. They never log below warning here.
        "loggers": {
            ACCESS_LOGGER: {"level": "INFO"},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def setup_logging(level: str, formatter: str) -> None:
    logging.config.dictConfig(logging_config(level, formatter))


_formatted_second: tuple[int, str] = (-1, "")


def _timestamp(record: logging.LogRecord) -> str:
    """RFC 3339 with milliseconds; the date and time of a second are formatted once."""
    global _formatted_second
    second = int(record.created)
    if _formatted_second[0] != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _formatted_second = (second, text)
    return f"{_formatted_second[1]}.{int(record.msecs):03d}Z"


def _logfmt_value(value: Any) -> str:
    kind = type(value)
    if kind is int or kind is float:  # never quoted: the common case, without the search
        return str(value)
    if value is None:
        text = "null"
    elif kind is bool:
        text = "true" if value else "false"
    else:
        text = str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return json.dumps(text, ensure_ascii=False)
