"""Cron schedules of the ImagePruner: the next firing, descriptors, and readable errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.pruning.schedule import ScheduleError, parse_schedule

T0 = datetime(2026, 12, 7, 18, 30, 15, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0 0 * * *", datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        ("@hourly", datetime(2026, 12, 7, 19, 0, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 12, 7, 18, 45, tzinfo=UTC)),
        ("30 18 * * *", datetime(2026, 12, 8, 18, 30, tzinfo=UTC)),  # strictly after
        ("0 9 * * sat", datetime(2026, 12, 12, 9, 0, tzinfo=UTC)),
        ("0 0 1 jan *", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("0 12 1 * mon", datetime(2026, 12, 14, 12, 0, tzinfo=UTC)),  # either day field
        ("5-10/5 1,2 * * *", datetime(2026, 12, 8, 1, 5, tzinfo=UTC)),
    ],
)
def test_next_firing(spec: str, expected: datetime) -> None:
    assert parse_schedule(spec).next_after(T0) == expected


def test_every_is_an_interval_from_the_last_run() -> None:
    assert (parse_schedule("@every 90s").next_after(T0) - T0).total_seconds() == 90


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected exactly 5 fields"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("* * * foo *", "month: 'foo' is not a number"),
        ("5-1 * * * *", "minute: 5-1 is an empty range"),
        ("*/0 * * * *", "minute: a step must be at least 1"),
        ("0 0 31 2 *", "never fires"),
        ("@every 5", "@every"),
    ],
)
def test_bad_schedules_say_why(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(spec).next_after(T0)
