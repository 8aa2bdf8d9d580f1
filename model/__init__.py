"""egov-abm simulation core: citizens, social graph, the monthly step, outcomes.

This package imports nothing from ``calibration``, ``scenarios`` or ``viz``;
it knows nothing of files, semopy, Solara or the command line.
"""

from model.adoption import DT_YEARS, AdoptionModel, month_date, slug
from model.citizen import STATE_NAMES, Citizen
from model.interventions import KINDS as INTERVENTION_KINDS
from model.interventions import Intervention, Target
from model.params import NETWORK_KINDS, InputError, ParamError, Params
from model.population import AGE_BANDS, EDUCATION_LEVELS, PopulationSpec
from model.sem import SEMParams

__all__ = [
    "AGE_BANDS", "DT_YEARS", "EDUCATION_LEVELS", "NETWORK_KINDS", "STATE_NAMES",
    "AdoptionModel", "Citizen", "INTERVENTION_KINDS", "InputError", "Intervention", "ParamError", "Params",
    "PopulationSpec", "SEMParams", "Target",
    "month_date", "slug",
]
