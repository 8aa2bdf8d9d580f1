import math

import pytest

from egov_abm.model import ParamError, Params


def test_defaults_validate_and_round_trip():
    p = Params()
    assert Params.from_mapping(p.to_dict()) == p


def test_override_keeps_other_fields():
    p = Params.from_mapping({"mean_degree": 6, "p_success": 0.5})
    assert (p.mean_degree, p.p_success) == (6, 0.5)
    assert p.q_social_per_year == Params().q_social_per_year


def test_integral_float_accepted_for_int_and_int_for_float():
    p = Params.from_mapping({"n_agents": 200.0, "p_success": 1})
    assert p.n_agents == 200 and isinstance(p.n_agents, int)
    assert p.p_success == 1.0 and isinstance(p.p_success, float)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"no_such_thing": 1}, "unknown parameter 'no_such_thing'"),
        ({"p_success": "high"}, "p_success: expected a number, got 'high'"),
        ({"p_success": 1.5}, "p_success: expected a value in [0.0, 1.0]"),
        ({"n_agents": 2.5}, "n_agents: expected a whole number"),
        ({"n_agents": True}, "n_agents: expected a whole number"),
        ({"network": "ring"}, "network: expected one of homophily, small_world, scale_free, complete"),
        ({"start_month": "2006-13"}, "start_month: expected a month as YYYY-MM"),
        ({"p_external_per_year": math.nan}, "p_external_per_year: expected a number, got NaN"),
    ],
)
def test_bad_values_name_source_field_and_expectation(values, fragment):
    with pytest.raises(ParamError) as err:
        Params.from_mapping(values, where="file.toml: parameters")
    message = str(err.value)
    assert message.startswith("file.toml: parameters: ")
    assert fragment in message
    assert "\n" not in message


def test_every_field_documents_unit_and_source():
    for name, f in Params.fields().items():
        assert f.metadata["unit"], name
        assert f.metadata["source"], name
        assert f.metadata["doc"], name


def test_odd_generated_blocks_are_current():
    """docs/ODD.md shows the step order, the effects registry and the parameter table as the code has them."""
    from pathlib import Path

    from egov_abm.model.interventions import effects_table
    from egov_abm.model.params import markdown_table
    from egov_abm.model.processes import PROCESSES, step_order

    odd = (Path(__file__).resolve().parents[1] / "docs" / "ODD.md").read_text(encoding="utf-8")
    for block in (step_order(), effects_table(), markdown_table()):
        assert block in odd, "docs/ODD.md is out of date: run python docs/refresh_generated.py"
    titles = [line.split("**")[1] for line in step_order().splitlines() if line[:1].isdigit()]
    assert titles == ["Interventions and events", *(p.title for p in PROCESSES), "Record"]


def test_every_parameter_is_declared_once_by_its_owner():
    from egov_abm.model.params import GENERAL
    from egov_abm.model.processes import PROCESSES
    from egov_abm.model.streams import STREAMS

    declared = list(GENERAL) + [name for p in PROCESSES for name in p.parameters]
    assert declared == list(Params.fields()) and len(set(declared)) == len(declared)
    for process in PROCESSES:
        assert set(process.streams) <= set(STREAMS), process.name


def test_fields_labelled_calibrated_are_exactly_the_calibrated_ones():
    from egov_abm.calibration.priors import PRIORS

    labelled = {name for name, f in Params.fields().items() if "calibrated: " in f.metadata["source"]}
    declared = {name for name, f in Params.fields().items() if f.metadata["prior"] is not None}
    assert labelled == declared == {p.name for p in PRIORS}
    skill = Params.fields()["skill_per_year"].metadata
    assert skill["source"].startswith("calibrated: log-uniform on [0.01, 5] prior")
    assert [p.name for p in PRIORS] == [p.name for p in Params.uncertainties()]


def test_population_must_exceed_the_mean_degree_except_on_a_complete_graph():
    with pytest.raises(ParamError, match=r"^here: n_agents, mean_degree: a small_world graph with mean_degree 10 "
                                         r"needs n_agents > mean_degree, got n_agents 10$"):
        Params.from_mapping({"n_agents": 10, "network": "small_world"}, where="here")
    assert Params(n_agents=10, network="complete").n_agents == 10
    assert Params(n_agents=11).n_agents == 11
    # one value on its own is judged without the defaults of the others
    assert Params.check_values({"n_agents": 10}) == {"n_agents": 10}
