"""Dated events of the baseline: things that happened to every citizen at once, with their source.

One event so far: the **state of emergency of 2020**, from 08:00 on 16 March
to 11 May 2020 (decree of 15 March 2020, extended to 1 May and on 27 April to
11 May: Kazakhstan Today 2020-03-21; UN Kazakhstan COVID-19 situation reports
of 17 April and 1 May 2020; CABAR.asia, "Forced digitalization of public
services in Kazakhstan during the COVID-19 pandemic"). The public service
centres did not close: they served by advance booking only, and only the
"paper" services not available online; 80 % of public services were on
egov.kz (Government for Citizens statement of March 2020, reprinted by
mgorod.kz on 2020-03-20). So on those days 80 % of service needs could only be
met online. The portal failed under the load (CABAR, citing the chair of
National Information Technologies JSC); how often is not published
(``emergency_p_success`` is an assumption).

An event covers whole or partial months: :func:`month_effects` weighs its
share of needs by the share of the month's days it covers, and the channel
choice (:mod:`model.processes.channel`) reads the result.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools

from egov_abm.model.calendar import month_date


@dataclasses.dataclass(frozen=True)
class Event:
    """A dated event: from ``first`` to ``last`` (inclusive) a share ``online_only`` of needs was online-only."""

    name: str
    first: _dt.date
    last: _dt.date
    online_only: float
    source: str


EVENTS = (
    Event("state of emergency: centres by appointment, for services not available online only",
          _dt.date(2020, 3, 16), _dt.date(2020, 5, 11), 0.80,
          "dates: decree of 15 March 2020 and its extensions (Kazakhstan Today 2020-03-21; UN Kazakhstan COVID-19 "
          "situation reports 17 April and 1 May 2020); 80 % of services online only: Government for Citizens "
          "statement, March 2020 (mgorod.kz 2020-03-20)"),
)


@functools.lru_cache(maxsize=4096)
def month_effects(start_month: str, month: int, events: tuple[Event, ...] = EVENTS) -> tuple[float, float]:
    """``(online-only share of needs, share of days under an event)`` of run month ``month`` (days-weighted)."""
    first = month_date(start_month, month)
    nxt = month_date(start_month, month + 1)
    days = (nxt - first).days
    share = covered = 0.0
    for ev in events:
        lo, hi = max(first, ev.first), min(nxt - _dt.timedelta(days=1), ev.last)
        frac = max(0, (hi - lo).days + 1) / days
        share += ev.online_only * frac
        covered += frac
    return min(1.0, share), min(1.0, covered)
