"""Byte-range headers: ``Content-Range`` on upload chunks and ``Range`` on blob reads.

Both return inclusive ``(start, end)`` pairs, the way the headers write them. Digits are matched
as ASCII only: ``int()`` would also take ``+5``, ``1_0`` or Arabic-Indic digits.
"""

from __future__ import annotations

import re

from dockyard.errors import RangeInvalidError

MAX_OFFSET = 2**63 - 1  # what Distribution's strconv.ParseInt(..., 64) accepts

# "0-99" (the OCI spec), "bytes 0-99/*" (RFC 9110 Content-Range), "bytes=0-99" (what some
# clients send, copying the Range grammar).
_CONTENT_RANGE_RE = re.compile(
    r"(?:bytes[ =]\s*)?([0-9]+)-([0-9]+)(?:/(\*|[0-9]+))?", re.IGNORECASE
)
_RANGE_SPEC_RE = re.compile(r"([0-9]*)-([0-9]*)")


def parse_content_range(value: str) -> tuple[int, int]:
    """Parse an upload chunk's ``Content-Range``; the caller checks it starts at the offset."""
    match = _CONTENT_RANGE_RE.fullmatch(value.strip())
    if match is None:
        raise RangeInvalidError(
            f"invalid Content-Range {value[:100]!r}: expected <start>-<end>",
            detail={"Content-Range": value[:100]},
        )
    start, end = _int64(match[1], value), _int64(match[2], value)
    if end < start:
        raise RangeInvalidError(
            f"invalid Content-Range {value[:100]!r}: end {end} is before start {start}",
            detail={"Content-Range": value[:100]},
        )
    total = match[3]
    if total is not None and total != "*" and _int64(total, value) <= end:
        raise RangeInvalidError(
            f"invalid Content-Range {value[:100]!r}: the range ends past the complete length",
            detail={"Content-Range": value[:100]},
        )
    return start, end


def _int64(digits: str, value: str) -> int:
    digits = digits.lstrip("0") or "0"
    # Checked before int() so a thousand-digit header costs nothing and cannot hit the
    # int-conversion limit.
    if len(digits) > 19 or int(digits) > MAX_OFFSET:
        raise RangeInvalidError(
            f"invalid Content-Range {value[:100]!r}: offset out of range",
            detail={"Content-Range": value[:100]},
        )
    return int(digits)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Resolve a blob GET ``Range`` against a blob of ``size`` bytes, per RFC 9110 section 14.

    ``None`` means serve the whole blob with 200: RFC 9110 lets a server ignore Range, which is
    simpler than multipart answers for several ranges and the only option for unknown units.
    """
    unit, sep, range_set = value.partition("=")
    if not sep:
        raise _unsatisfiable(value, size, "expected bytes=<start>-<end>")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in range_set.split(",") if spec.strip()]
    if not specs:
        raise _unsatisfiable(value, size, "no range given")
    if len(specs) > 1:
        return None
    match = _RANGE_SPEC_RE.fullmatch(specs[0])
    if match is None or match[1] == match[2] == "":
        raise _unsatisfiable(value, size, "expected bytes=<start>-<end>")
    first, last = match[1], match[2]
    if first == "":
        suffix = _bounded(last)
        if suffix == 0:
            raise _unsatisfiable(value, size, "a suffix range must be longer than zero")
        if size == 0:
            return None  # the whole, empty, blob is the last N bytes
        return max(0, size - suffix), size - 1
    start = _bounded(first)
    end = _bounded(last) if last else None
    if end is not None and end < start:
        raise _unsatisfiable(value, size, f"end {end} is before start {start}")
    if start >= size:
        raise _unsatisfiable(value, size, f"start {start} is not before the size {size}")
    return start, size - 1 if end is None else min(end, size - 1)


def _bounded(digits: str) -> int:
    """A position, saturated: anything past int64 is past every blob, and compares as such."""
    digits = digits.lstrip("0") or "0"
    return MAX_OFFSET + 1 if len(digits) > 19 else int(digits)


def _unsatisfiable(value: str, size: int, reason: str) -> RangeInvalidError:
    return RangeInvalidError(
        f"range {value[:100]!r} cannot be served: {reason}",
        detail={"Range": value[:100], "size": size},
        headers={"Content-Range": f"bytes */{size}"},
    )
