"""egov-abm simulation core: citizens, social graph, the monthly step, outcomes.

This package imports nothing from ``calibration``, ``scenarios`` or ``viz``;
it knows nothing of files, semopy, Solara or the command line.

Its names load on first use (PEP 562), so that importing one light module
(``egov_abm.model.errors``, say) does not import Mesa and the compiled kernel.
"""

from __future__ import annotations

import importlib

#: Each public name and the module that defines it.
_WHERE = {
    "AdoptionModel": "adoption", "DT_YEARS": "calendar", "month_date": "calendar", "month_index": "calendar",
    "STATE_NAMES": "citizen", "Citizen": "citizen", "INTERVENTION_KINDS": "interventions",
    "Intervention": "interventions", "Target": "interventions", "slug": "outcomes", "NETWORK_KINDS": "params",
    "InputError": "errors", "ParamError": "params", "Params": "params", "AGE_BANDS": "population",
    "EDUCATION_LEVELS": "population", "PopulationSpec": "population", "SEMParams": "sem", "SEED_MAX": "streams",
    "Prior": "uncertainty",
}
_ALIASES = {"INTERVENTION_KINDS": "KINDS"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'egov_abm.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"egov_abm.model.{_WHERE[name]}"), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
