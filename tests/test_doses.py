"""Doses mean what they say: every intervention kind delivers its stated dose, in the dose's unit, within 20 %."""

import pytest

from egov_abm.model.interventions import EFFECTS
from egov_abm.scenarios.doses import CASES, format_table, measure_doses

N_AGENTS, SEED = 20000, 1


@pytest.fixture(scope="module")
def table():
    return measure_doses(n_agents=N_AGENTS, seed=SEED)


def test_one_row_per_kind(table):
    assert list(table["kind"]) == list(EFFECTS)
    assert list(table["unit"]) == [e.dose_unit for e in EFFECTS.values()]
    assert table[["kind", "stated", "unit", "measured", "delivered", "ratio", "within_20pct"]].notna().all().all()
    assert len(format_table(table).splitlines()) == 1 + len(EFFECTS) + 1 + len(EFFECTS)


@pytest.mark.parametrize("kind", list(EFFECTS))
def test_kind_delivers_its_stated_dose(table, kind):
    row = table.set_index("kind").loc[kind]
    assert row["within_20pct"] and abs(row["ratio"] - 1.0) <= 0.2, (kind, row["stated"], row["delivered"])


def test_a_wrong_statement_is_caught():
    """Twice the stated dose delivers about twice as much, so the check fails for every kind."""
    doubled = measure_doses(n_agents=N_AGENTS, seed=SEED, doses={k: 2 * c.dose for k, c in CASES.items()})
    for row in doubled.itertuples():
        assert not row.within_20pct, row
        # service quality caps at a success probability of 1: 0.85 + 0.2 delivers 0.15
        low = 1.4 if row.kind == "service_quality" else 1.6
        assert low <= row.ratio <= 2.4, (row.kind, row.ratio)


def test_cli_prints_the_table(capsys):
    from egov_abm.scenarios.cli import main

    assert main(["doses", "--agents", "2000", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert all(kind in out for kind in EFFECTS) and "delivered" in out
    assert main(["doses", "--agents", "5"]) == 2
