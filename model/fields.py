"""How a parameter is declared: a dataclass field with its unit, range, meaning and source.

Every process module declares the parameters it reads with :func:`parameter`;
:mod:`model.params` gathers them into the one :class:`~model.params.Params`
dataclass. Validation, the parameter table of docs/ODD.md, the calibration's
priors and the app's controls all read this metadata, so a parameter is
described once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from egov_abm.model.uncertainty import Prior

#: Source of a modelling choice that is not a measurement.
ASSUMPTION = "assumption"
#: Source of an assumption the dynamics calibration holds fixed.
FIXED = "assumption: held fixed when the dynamics are calibrated (the record does not inform it)"


def parameter(default: Any, *, unit: str, doc: str, source: str | None = None, range=None, choices=None,
              prior: tuple | None = None) -> dataclasses.Field:
    """A parameter field with its metadata.

    Args:
        default: the default value; its type (int, float, str) is the field's type.
        unit: unit of the value (``1/year``, ``probability``, ``latent SD`` ...).
        doc: what the parameter means, in a few words.
        source: where the value comes from (a statistic with its source, or
            :data:`ASSUMPTION` / :data:`FIXED`); with ``prior``, the evidence the
            prior rests on (optional), followed by the calibration's statement.
        range: ``(low, high)`` of allowed values, inclusive.
        choices: allowed values of a text parameter.
        prior: ``(low, high, log, meaning)``: the parameter is an uncertain input
            (:class:`~model.uncertainty.Prior`) that the calibration samples, and
            its source reads "calibrated" with the prior.
    """
    if prior is not None:
        low, high, log, meaning = prior
        prior = Prior("", low, high, log, meaning)
        calibrated = (f"calibrated: {prior.describe()} prior; scenarios with a posterior (the baseline) use the "
                      "ABC-SMC posterior (docs/calibration/report.md); the default is the uncalibrated starting value")
        source = f"{source}; {calibrated}" if source else calibrated
    if source is None:
        raise ValueError("a parameter needs a source or a prior")
    return dataclasses.field(
        default=default,
        metadata={"unit": unit, "doc": doc, "source": source, "range": range, "choices": choices, "prior": prior},
    )
