"""Cron schedules as Kubernetes CronJobs read them (robfig/cron's standard parser): five
fields (minute, hour, day of month, month, day of week) with ``*``, ``a-b``, ``/step`` and
lists, month and weekday names, the ``@hourly``/``@daily``/... descriptors, and ``@every
<duration>``. Times are UTC. As in cron, when both day fields are restricted a day matching
either one fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dockyard.config.model import parse_duration

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 6, DAYS),
)
_PART = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?")
SEARCH_LIMIT = timedelta(days=366 * 5)


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool
    every: float | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (an aware datetime)."""
        if self.every is not None:
            return moment + timedelta(seconds=self.every)
        current = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = current + SEARCH_LIMIT
        while current < limit:
            if current.month not in self.months:
                current = _next_month(current)
            elif not self._day_matches(current):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0)
            elif current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0)
            elif current.minute not in self.minutes:
                current += timedelta(minutes=1)
            else:
                return current
        raise ScheduleError("the schedule never fires")

    def _day_matches(self, moment: datetime) -> bool:
        day = moment.day in self.days
        weekday = moment.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday


def _next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)


def parse_schedule(text: str) -> Schedule:
    spec = text.strip()
    if spec.startswith("@every "):
        try:
            seconds = parse_duration(spec.removeprefix("@every ").strip())
        except ValueError as exc:
            raise ScheduleError(f"@every: {exc}") from None
        empty: frozenset[int] = frozenset()
        return Schedule(empty, empty, empty, empty, empty, True, True, every=seconds)
    spec = DESCRIPTORS.get(spec.lower(), spec)
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {text!r}")
    sets = [_field(value, *shape) for value, shape in zip(fields, _FIELDS, strict=True)]
    return Schedule(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=sets[4],
        any_day=fields[2].startswith("*"),
        any_weekday=fields[4].startswith("*"),
    )


def _field(text: str, name: str, low: int, high: int, names: list[str]) -> frozenset[int]:
    found: set[int] = set()
    for part in text.lower().split(","):
        match = _PART.fullmatch(part)
        if match is None:
            raise ScheduleError(f"{name}: cannot read {part!r}")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise ScheduleError(f"{name}: a step must be at least 1")
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = _value(first, name, low, high, names)
            end = (
                _value(last, name, low, high, names)
                if last
                else (high if match.group(2) else start)
            )
        if start > end:
            raise ScheduleError(f"{name}: {start}-{end} is an empty range")
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _value(text: str, name: str, low: int, high: int, names: list[str]) -> int:
    if text in names:
        return names.index(text) + (1 if names is MONTHS else 0)
    if not text.isdigit():
        raise ScheduleError(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{name}: {value} is out of range {low}-{high}")
    return value
