"""egov-abm simulation core: citizens, social graph, the monthly step, outcomes.

This package imports nothing from ``calibration``, ``scenarios`` or ``viz``;
it knows nothing of files, semopy, Solara or the command line.
"""

from egov_abm.model.adoption import AdoptionModel
from egov_abm.model.calendar import DT_YEARS, month_date, month_index
from egov_abm.model.citizen import STATE_NAMES, Citizen
from egov_abm.model.interventions import KINDS as INTERVENTION_KINDS
from egov_abm.model.interventions import Intervention, Target
from egov_abm.model.outcomes import slug
from egov_abm.model.params import NETWORK_KINDS, InputError, ParamError, Params
from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS, PopulationSpec
from egov_abm.model.sem import SEMParams
from egov_abm.model.streams import SEED_MAX
from egov_abm.model.uncertainty import Prior

__all__ = [
    "AGE_BANDS", "DT_YEARS", "EDUCATION_LEVELS", "NETWORK_KINDS", "STATE_NAMES",
    "AdoptionModel", "Citizen", "INTERVENTION_KINDS", "InputError", "Intervention", "ParamError", "Params",
    "PopulationSpec", "Prior", "SEED_MAX", "SEMParams", "Target",
    "month_date", "month_index", "slug",
]
