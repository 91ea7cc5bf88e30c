"""Publish schedules: how far ahead each group publishes.

A group's publish window runs from the start of today to the end of its
publish-until date, both in the tenant's zone. The publish-until date may be
at most 14 days ahead; a later date is refused.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from carehub.publishing.domain.evaluate import Window

MAX_DAYS_AHEAD = 14
DEFAULT_DAYS_AHEAD = 7


class ScheduleError(ValueError):
    """A publish-until date that is not allowed, with the reason."""


def check_publish_until(today: date, publish_until: date) -> None:
    """Refuse a date in the past or more than 14 days ahead."""
    if publish_until < today:
        raise ScheduleError(f"publish date {publish_until.isoformat()} is in the past (today is {today.isoformat()})")
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    if publish_until > latest:
        raise ScheduleError(
            f"publish date {publish_until.isoformat()} is more than {MAX_DAYS_AHEAD} days ahead; "
            f"the latest allowed is {latest.isoformat()}"
        )


def window(today: date, publish_until: date, zone: ZoneInfo) -> Window:
    """The UTC window from the start of ``today`` to the end of ``publish_until``, local time."""
    start = datetime.combine(today, time(0), tzinfo=zone)
    end = datetime.combine(publish_until + timedelta(days=1), time(0), tzinfo=zone)
    return Window(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")))


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """Today's date in the tenant's zone."""
    return now.astimezone(zone).date()
