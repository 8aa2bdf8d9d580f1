"""Month arithmetic: the model's step is one calendar month.

Months are written ``YYYY-MM`` everywhere a user gives one (scenario start,
intervention windows, calibration targets). A run's month ``k`` is the
``k``-th month after its ``start_month``; every rate named ``*_per_year`` is
a hazard per year and is turned into a monthly probability with
:data:`DT_YEARS`.
"""

from __future__ import annotations

import datetime as _dt
import re

#: Length of one step in years.
DT_YEARS = 1.0 / 12.0

#: A month as ``YYYY-MM`` (month 01-12).
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def is_month(text: object) -> bool:
    """True when ``text`` is a month written ``YYYY-MM``."""
    return isinstance(text, str) and MONTH_PATTERN.match(text) is not None


def month_date(start_month: str, month: int) -> _dt.date:
    """First day of the calendar month ``month`` steps after ``start_month`` (YYYY-MM)."""
    return month_dates(start_month, (month,))[0]


def month_dates(start_month: str, months) -> list[_dt.date]:
    """:func:`month_date` of each of ``months`` (the start is read once)."""
    year, mon = (int(x) for x in start_month.split("-"))
    first = year * 12 + (mon - 1)
    return [_dt.date(total // 12, total % 12 + 1, 1) for total in (first + int(k) for k in months)]


def month_index(date: str, start: str) -> int:
    """Months from ``start`` to ``date`` (both YYYY-MM); negative when ``date`` comes first."""
    y0, m0 = (int(x) for x in start.split("-"))
    y, m = (int(x) for x in date.split("-"))
    return (y - y0) * 12 + (m - m0)
