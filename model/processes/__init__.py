"""The processes of the monthly step, one module each, in the order they run.

Each process module (as a Starsim ``Module``) declares

- its **parameters**, as fields with unit, range, meaning and source
  (:func:`model.fields.parameter`), gathered into :class:`model.params.Params`;
- its **states**: the per-citizen arrays it creates and owns;
- its **streams**: the named random streams it draws from (:mod:`model.streams`);
- the **counts** it adds to the month's totals (``n_uses`` ...);
- ``init(model)``, which creates its states at month 0.

The monthly rules of all processes run fused, one pass per citizen, in
:func:`model.kernel.month_block` (compiled with numba), in this order.

:data:`PROCESSES` is the one ordered list the model steps through and the
documentation prints (:func:`step_order`, pasted into docs/ODD.md). A month is

0. the active interventions (:mod:`model.interventions`) and the dated
   events, over all citizens;
1. ... the processes below, citizen by citizen in index order;
then the month's outcomes are recorded (:mod:`model.outcomes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping


@dataclasses.dataclass(frozen=True)
class Process:
    """One process of the month (see the package docstring)."""

    name: str
    title: str
    summary: str  # one paragraph for the step order
    parameters: Mapping[str, dataclasses.Field]
    states: tuple[str, ...]
    streams: tuple[str, ...]
    init: Callable
    counts: tuple[str, ...] = ()


def _load() -> tuple[Process, ...]:
    from egov_abm.model.processes import access, adoption, awareness, channel, lapse, opinion, use

    return tuple(m.PROCESS for m in (access, awareness, opinion, adoption, channel, use, lapse))


#: The processes of a month, in the order they run.
PROCESSES: tuple[Process, ...] = _load()

#: The month's named totals the processes count (a column each in the outcomes).
COUNTS: tuple[str, ...] = tuple(c for p in PROCESSES for c in p.counts)

INTERVENTIONS_STEP = ("Interventions and events",
                      "every active policy intervention is applied (model/interventions.py, one registry of "
                      "effects): it sets this month's extra access hazard, extra external influence, service "
                      "quality, online-only share of needs and extra centre capacity of its target group, or moves "
                      "state directly (training, persuasion); the dated events (model/events.py) set the share of "
                      "the month's needs that can only be met online.")
RECORD_STEP = ("Record", "the month's aggregate outcomes are appended (model/outcomes.py): no per-citizen copy.")
INTERVENTIONS_STEP = (INTERVENTIONS_STEP[0], INTERVENTIONS_STEP[1] + " *Draws from: one stream per intervention.*")


def step_order() -> str:
    """The order of work in a month as a numbered Markdown list (docs/ODD.md pastes it)."""
    def drawn(p: Process) -> str:
        return f" *Draws from: {', '.join(p.streams)}.*" if p.streams else ""

    steps = [INTERVENTIONS_STEP, *((p.title, p.summary + drawn(p)) for p in PROCESSES), RECORD_STEP]
    lines = [f"{k}. **{title}** — {text}" for k, (title, text) in enumerate(steps)]
    lines.append("")
    lines.append("After step 0 the neighbours' state is read once (users, last month's outcome, attitude, trust); "
                 "every neighbour read of the month uses it (synchronous update), so the order of citizens does "
                 "not matter. Steps 1-7 run fused, one pass per citizen (model/kernel.py). Each stream gives "
                 "one number per citizen and month, drawn in index order whatever the citizen's state, split into "
                 "two uniforms: access (access, skill), awareness (awareness, adoption), use (need, channel), "
                 "experience (success, lapse).")
    return "\n".join(lines)
