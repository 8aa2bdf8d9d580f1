"""Model parameters: one frozen dataclass, typed, with units, ranges and sources.

Every field carries metadata (``unit``, ``range`` or ``choices``, ``doc``,
``source``) that validation, the documentation and the front end read, so a
parameter is described once. Rates named ``*_per_year`` are hazards per year;
the model's step is one month and converts them with ``dt = 1/12``.

Values marked ``provisional`` are placeholders until the dynamics are
calibrated to Kazakhstan's record (see docs/ODD.md); values marked
``assumption`` are modelling choices, not measurements.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from egov_abm.model.calendar import is_month
from egov_abm.model.uncertainty import Prior

NETWORK_KINDS = ("homophily", "small_world", "scale_free", "complete")
GRAPH_BUILDERS = ("direct", "networkx")
NETWORKX_MAX = 2_000_000  # networkx holds ~1 kB per tie: beyond this many citizens the graph alone fills memory


class InputError(ValueError):
    """Bad input from a user (file, flag, value); its message is one line for the user."""


class ParamError(InputError):
    """A parameter value is unknown, of the wrong type or out of range.

    The message is one line naming where the value came from, the field and
    what was expected.
    """


def _field(default: Any, *, unit: str, doc: str, source: str | None = None, range=None, choices=None,
           prior: tuple | None = None):
    """A parameter field with its metadata.

    ``prior`` = ``(low, high, log, meaning)`` declares the parameter an
    uncertain input (:class:`~model.uncertainty.Prior`): the calibration samples
    it, and its ``source`` reads "calibrated" with the prior, derived here.
    """
    if prior is not None:
        low, high, log, meaning = prior
        prior = Prior("", low, high, log, meaning)
        source = (f"calibrated: {prior.describe()} prior; scenarios with a posterior (the baseline) use the "
                  "ABC-SMC posterior (docs/calibration/report.md); the default is the uncalibrated starting value")
    if source is None:
        raise ValueError("a parameter needs a source or a prior")
    return dataclasses.field(
        default=default,
        metadata={"unit": unit, "doc": doc, "source": source, "range": range, "choices": choices, "prior": prior},
    )


ASSUMPTION = "assumption"
FIXED = "assumption: held fixed when the dynamics are calibrated (the record does not inform it)"


@dataclasses.dataclass(frozen=True)
class Params:
    """All scalar parameters of the adoption model.

    Construct with keyword arguments or :meth:`from_mapping`; both validate.
    """

    # --- population and time -------------------------------------------------
    n_agents: int = _field(5000, unit="citizens", range=(10, 50_000_000),
                           doc="number of simulated adult citizens", source=ASSUMPTION)
    start_month: str = _field("2006-04", unit="YYYY-MM",
                              doc="calendar month of step 0 (the portal opened in April 2006)",
                              source="portal launch 2006-04-12 (calibration/data/egov_usage.csv)")

    # --- social graph ----------------------------------------------------------
    network: str = _field("homophily", unit="kind", choices=NETWORK_KINDS,
                          doc="social graph generator", source=ASSUMPTION)
    mean_degree: int = _field(10, unit="contacts", range=(2, 500),
                              doc="mean number of social contacts per citizen", source=ASSUMPTION)
    p_rewire: float = _field(0.1, unit="probability", range=(0.0, 1.0),
                             doc="share of ties rewired to a random citizen (small_world, homophily)",
                             source=ASSUMPTION)
    p_triangle: float = _field(0.5, unit="probability", range=(0.0, 1.0),
                               doc="probability of closing a triangle after each tie (scale_free)",
                               source=ASSUMPTION)
    graph_builder: str = _field("direct", unit="builder", choices=GRAPH_BUILDERS,
                                doc="how homophily and small_world graphs are built: direct (arrays, any size) "
                                    "or networkx (the reference, at most 2,000,000 citizens); "
                                    "scale_free always uses networkx",
                                source="implementation choice: both give the same graph distribution")

    # --- internet access and digital skill ------------------------------------
    share_access_initial: float = _field(0.0327, unit="share of adults", range=(0.0, 1.0),
                                         doc="share with internet access at step 0",
                                         source="ITU via World Bank IT.NET.USER.ZS, 2006: 3.27 %")
    access_external_per_year: float = _field(0.01, unit="1/year", range=(0.0, 10.0),
                                             doc="hazard of gaining access independent of others",
                                             prior=(0.001, 0.2, True, "access growth independent of others"))
    access_social_per_year: float = _field(0.45, unit="1/year", range=(0.0, 10.0),
                                           doc="extra hazard of gaining access per unit national access share",
                                           prior=(0.0, 1.5, False, "access growth with the national access share"))
    share_skill_initial: float = _field(0.8, unit="share of those with access", range=(0.0, 1.0),
                                        doc="share of citizens with access who also have digital skill at step 0",
                                        prior=(0.2, 1.0, False,
                                               "share of the 2006 online population with digital skill"))
    skill_per_year: float = _field(0.3, unit="1/year", range=(0.0, 10.0),
                                   doc="hazard of acquiring digital skill once online",
                                   prior=(0.01, 5.0, True, "hazard of acquiring digital skill once online"))

    # --- awareness ---------------------------------------------------------------
    share_aware_initial: float = _field(0.02, unit="share of adults", range=(0.0, 1.0),
                                        doc="share aware of the portal at step 0", source=FIXED)
    awareness_external_per_year: float = _field(0.15, unit="1/year", range=(0.0, 10.0),
                                                doc="hazard of hearing of the portal from media and offices",
                                                prior=(0.005, 1.0, True, "awareness from media and offices"))
    awareness_social_per_year: float = _field(1.0, unit="1/year", range=(0.0, 20.0),
                                              doc="extra hazard per unit share of neighbours who use the portal",
                                              prior=(0.0, 3.0, False, "awareness from neighbours who use the portal"))

    # --- adoption (Bass on a network) ------------------------------------------
    share_adopters_initial: float = _field(0.0, unit="share of adults", range=(0.0, 1.0),
                                           doc="share using the portal at step 0 (drawn among the eligible)",
                                           source=ASSUMPTION)
    p_external_per_year: float = _field(0.03, unit="1/year", range=(0.0, 10.0),
                                        doc="Bass innovation coefficient p (external influence)",
                                        prior=(0.001, 0.5, True, "Bass p: adoption from outside influence"))
    q_social_per_year: float = _field(0.38, unit="1/year", range=(0.0, 10.0),
                                      doc="Bass imitation coefficient q, times the share of neighbours "
                                          "using the portal",
                                      prior=(0.0, 2.0, False, "Bass q: adoption from neighbours' use"))
    intention_slope: float = _field(1.0, unit="1/latent SD", range=(0.0, 20.0),
                                    doc="steepness of the intention multiplier "
                                        "2*logistic(slope*(intention-threshold)); 0 makes it 1",
                                    source=FIXED)
    intention_threshold: float = _field(0.0, unit="latent SD", range=(-10.0, 10.0),
                                        doc="intention at which the multiplier is 1", source=FIXED)

    # --- use, service quality and experience ------------------------------------
    p_use_per_month: float = _field(1.0, unit="probability", range=(0.0, 1.0),
                                    doc="probability that a current user uses the portal in a month",
                                    source=ASSUMPTION)
    p_success: float = _field(0.85, unit="probability", range=(0.0, 1.0),
                              doc="probability that a use succeeds (service quality)", source=FIXED)
    trust_gain_success: float = _field(0.02, unit="latent SD per use", range=(0.0, 5.0),
                                       doc="trust gained by a successful use", source=FIXED)
    trust_loss_failure: float = _field(0.15, unit="latent SD per use", range=(0.0, 5.0),
                                       doc="trust lost by a failed use",
                                       prior=(0.0, 0.5, False, "trust lost by a failed use (service-quality feedback)"))
    trust_lapse_threshold: float = _field(-2.0, unit="latent SD", range=(-math.inf, math.inf),
                                          doc="users whose trust falls below this stop using the portal; "
                                              "lapsed citizens may adopt again once trust is back above it",
                                          prior=(-3.0, -0.5, False, "trust below which users stop (lapse)"))

    # --- opinion dynamics --------------------------------------------------------
    conformity_per_month: float = _field(0.02, unit="share per month", range=(0.0, 1.0),
                                         doc="pull of attitude and trust toward the neighbours' mean",
                                         source=FIXED)
    anchoring_per_month: float = _field(0.05, unit="share per month", range=(0.0, 1.0),
                                        doc="pull of attitude and trust back to the citizen's own initial value",
                                        source=ASSUMPTION + " (Friedkin-Johnsen anchoring)")
    wom_trust: float = _field(0.1, unit="latent SD per unit share", range=(0.0, 5.0),
                              doc="trust change per unit (success share - failure share) "
                                  "of neighbours' uses last month",
                              prior=(0.0, 0.5, False, "trust moved by neighbours' experiences (word of mouth)"))
    wom_attitude: float = _field(0.05, unit="latent SD per unit share", range=(0.0, 5.0),
                                 doc="attitude change per unit (success share - failure share) "
                                     "of neighbours' uses last month",
                                 source=FIXED)

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
        networkx = self.network == "scale_free" or (
            self.graph_builder == "networkx" and self.network in ("homophily", "small_world"))
        if networkx and self.n_agents > NETWORKX_MAX:
            raise ParamError(f"{where}: n_agents: a {self.network} graph built with networkx holds at most "
                             f"{NETWORKX_MAX:,} citizens, got {self.n_agents:,} (use network = homophily or "
                             f"small_world with graph_builder = direct)")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: Params | None = None,
                     where: str = "parameters") -> Params:
        """Build from a mapping of overrides on top of ``base`` (default: the defaults).

        Unknown names, wrong types and out-of-range values raise :class:`ParamError`
        whose message starts with ``where``.
        """
        known = cls.fields()
        coerced = {}
        for key, value in values.items():
            if key not in known:
                raise ParamError(f"{where}: unknown parameter '{key}' (known: {', '.join(known)})")
            coerced[key] = _check_value(key, value, known[key], where)
        base = base if base is not None else cls()
        return dataclasses.replace(base, **coerced)

    def replace(self, **changes: Any) -> Params:
        """A copy with some fields changed (validated)."""
        return self.from_mapping(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of every field (JSON-safe)."""
        return dataclasses.asdict(self)


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
