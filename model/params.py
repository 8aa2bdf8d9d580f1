"""Model parameters: one frozen dataclass, typed, with units, ranges and sources.

Every field carries metadata (``unit``, ``range`` or ``choices``, ``doc``,
``source``, ``prior``) that validation, the documentation, the calibration
and the front end read, so a parameter is described once. The fields of the
population and the social graph are declared here; every process declares its
own (:mod:`model.processes`), and :class:`Params` gathers them in the order
the processes run. Rates named ``*_per_year`` are hazards per year; the
model's step is one month and converts them with
:data:`model.calendar.DT_YEARS`.

Values whose source reads ``calibrated`` carry a prior (:mod:`model.uncertainty`)
and are fitted to Kazakhstan's record; values marked ``assumption`` are
modelling choices, not measurements.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from egov_abm.model.calendar import is_month
from egov_abm.model.errors import InputError
from egov_abm.model.fields import ASSUMPTION, parameter
from egov_abm.model.processes import PROCESSES
from egov_abm.model.uncertainty import Prior

NETWORK_KINDS = ("homophily", "small_world", "scale_free", "complete")
GRAPH_BUILDERS = ("direct", "networkx")
NETWORKX_MAX = 2_000_000  # networkx holds ~1 kB per tie: beyond this many citizens the graph alone fills memory


class ParamError(InputError):
    """A parameter value is unknown, of the wrong type or out of range.

    The message is one line naming where the value came from, the field and
    what was expected.
    """


#: Parameters of the population, time and the social graph (the processes declare the rest).
GENERAL = {
    "n_agents": parameter(5000, unit="citizens", range=(10, 50_000_000),
                          doc="number of simulated adult citizens", source=ASSUMPTION),
    "start_month": parameter("2006-04", unit="YYYY-MM",
                             doc="calendar month of step 0 (the portal opened in April 2006)",
                             source="portal launch 2006-04-12 (calibration/data/egov_usage.csv)"),
    "network": parameter("homophily", unit="kind", choices=NETWORK_KINDS, doc="social graph generator",
                         source=ASSUMPTION),
    "mean_degree": parameter(10, unit="contacts", range=(2, 500), doc="mean number of social contacts per citizen",
                             source=ASSUMPTION),
    "p_rewire": parameter(0.1, unit="probability", range=(0.0, 1.0),
                          doc="share of ties rewired to a random citizen (small_world, homophily)", source=ASSUMPTION),
    "p_triangle": parameter(0.5, unit="probability", range=(0.0, 1.0),
                            doc="probability of closing a triangle after each tie (scale_free)", source=ASSUMPTION),
    "graph_builder": parameter("direct", unit="builder", choices=GRAPH_BUILDERS,
                               doc="how the graph is built: direct (arrays, any size: the ring kinds along the "
                                   "index order, scale_free by a compiled Holme-Kim growth) or networkx (the "
                                   "reference, at most 2,000,000 citizens)",
                               source="implementation choice: both give the same graph distribution"),
}


class _ParamsMethods:
    """Validation, conversion and the declared uncertainties of :class:`Params`."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------------------
    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field]:
        """Name → dataclass field, in declaration order."""
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def uncertainties(cls) -> tuple[Prior, ...]:
        """The uncertain inputs: every parameter declared with a prior, in declaration order."""
        return tuple(dataclasses.replace(f.metadata["prior"], name=name)
                     for name, f in cls.fields().items() if f.metadata["prior"] is not None)

    def validate(self, where: str = "parameters") -> None:
        """Check every field's type and range; raise :class:`ParamError` on the first bad one."""
        for name, f in self.fields().items():
            _check_value(name, getattr(self, name), f, where)
        if self.network != "complete" and self.n_agents <= self.mean_degree:
            raise ParamError(f"{where}: n_agents, mean_degree: a {self.network} graph with mean_degree "
                             f"{self.mean_degree} needs n_agents > mean_degree, got n_agents {self.n_agents}")
        networkx = self.graph_builder == "networkx" and self.network != "complete"
        if networkx and self.n_agents > NETWORKX_MAX:
            raise ParamError(f"{where}: n_agents: a {self.network} graph built with networkx holds at most "
                             f"{NETWORKX_MAX:,} citizens, got {self.n_agents:,} (use graph_builder = direct)")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: Params | None = None,
                     where: str = "parameters") -> Params:
        """Build from a mapping of overrides on top of ``base`` (default: the defaults).

        Unknown names, wrong types and out-of-range values raise :class:`ParamError`
        whose message starts with ``where``.
        """
        coerced = cls.check_values(values, where=where)
        base = base if base is not None else cls()
        try:
            return dataclasses.replace(base, **coerced)
        except ParamError as exc:  # a rule across fields, checked by validate(): name where the values came from
            message = str(exc)
            if message.startswith("parameters: ") and where != "parameters":
                message = f"{where}: {message.removeprefix('parameters: ')}"
            raise ParamError(message) from None

    @classmethod
    def check_values(cls, values: Mapping[str, Any], *, where: str = "parameters") -> dict[str, Any]:
        """Check names, types and ranges of some values, each on its own; return them coerced.

        Rules across fields (``n_agents > mean_degree``) are left to :meth:`validate`,
        which runs on the complete parameters: a file or factor giving only some
        of them cannot be judged against the defaults of the others.
        """
        known = cls.fields()
        coerced = {}
        for key, value in values.items():
            if key not in known:
                raise ParamError(f"{where}: unknown parameter '{key}' (known: {', '.join(known)})")
            coerced[key] = _check_value(key, value, known[key], where)
        return coerced

    def replace(self, **changes: Any) -> Params:
        """A copy with some fields changed (validated)."""
        return self.from_mapping(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of every field (JSON-safe)."""
        return dataclasses.asdict(self)




def _declared_fields() -> list[tuple[str, type, dataclasses.Field]]:
    fields = dict(GENERAL)
    for process in PROCESSES:
        for name, f in process.parameters.items():
            if name in fields:
                raise ValueError(f"parameter {name!r} is declared twice (again by the {process.name} process)")
            fields[name] = f
    return [(name, type(f.default), f) for name, f in fields.items()]


Params = dataclasses.make_dataclass("Params", _declared_fields(), bases=(_ParamsMethods,), frozen=True)
Params.__module__ = __name__
Params.__doc__ = """All scalar parameters of the adoption model (declared by :data:`GENERAL` and the processes).

Construct with keyword arguments or :meth:`from_mapping`; both validate.
"""


def _check_value(name: str, value: Any, f: dataclasses.Field, where: str) -> Any:
    """Validate one value against its field; return it coerced to the field's type."""
    meta = f.metadata
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    label = f"{where}: {name}"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not value.is_integer()
        ):
            raise ParamError(f"{label}: expected a whole number, got {value!r}")
        value = int(value)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(f"{label}: expected a number, got {value!r}")
        value = float(value)
        if math.isnan(value):
            raise ParamError(f"{label}: expected a number, got NaN")
    elif kind == "str":
        if not isinstance(value, str):
            raise ParamError(f"{label}: expected text, got {value!r}")
    rng = meta.get("range")
    if rng is not None:
        lo, hi = rng
        if not lo <= value <= hi:
            raise ParamError(f"{label}: expected a value in [{lo}, {hi}] ({meta['unit']}), got {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ParamError(f"{label}: expected one of {', '.join(choices)}, got {value!r}")
    if name == "start_month" and not is_month(value):
        raise ParamError(f"{label}: expected a month as YYYY-MM, got {value!r}")
    return value


def markdown_table() -> str:
    """The parameter table of docs/ODD.md, generated from the field metadata."""
    lines = ["| parameter | default | unit | range | meaning | source |", "|---|---|---|---|---|---|"]
    for name, f in Params.fields().items():
        meta = f.metadata
        allowed = ", ".join(meta["choices"]) if meta["choices"] else (
            f"[{meta['range'][0]}, {meta['range'][1]}]" if meta["range"] else "")
        lines.append(f"| `{name}` | {f.default} | {meta['unit']} | {allowed} | {meta['doc']} | {meta['source']} |")
    return "\n".join(lines)
