"""Regression against pinned figures (tests/baseline.json; refresh with python tests/update_baseline.py).

The analytic tests (Bass bound, per-agent reference, SEM recovery) cannot see
a silent change in the calibrated model's answers; this test does. A change
meant to move the figures refreshes the file and says why in its commit.
"""

import json

import pytest
from update_baseline import FILE, SCENARIOS, compute


@pytest.fixture(scope="module")
def pinned_and_fresh():
    return json.loads(FILE.read_text(encoding="utf-8")), compute()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_figures_match_the_pinned_baseline(pinned_and_fresh, scenario):
    pinned, fresh = pinned_and_fresh
    assert (pinned["seed"], pinned["agents"]) == (fresh["seed"], fresh["agents"])
    tol = pinned["tolerance"]
    old, new = pinned["figures"][scenario], fresh["figures"][scenario]
    assert old.keys() == new.keys()
    for key, value in new.items():
        if key.startswith("cumulative_cost"):
            assert value == pytest.approx(old[key], rel=tol["cost_relative"], abs=1.0), key
        elif key.startswith("mean_"):
            assert abs(value - old[key]) <= tol["mean"], (key, old[key], value)
        else:
            assert abs(value - old[key]) <= tol["share"] + 1e-12, (key, old[key], value)


def test_policies_differ_from_the_baseline(pinned_and_fresh):
    figures = pinned_and_fresh[1]["figures"]
    assert figures["technology_only"]["internet_access@horizon"] > figures["baseline"]["internet_access@horizon"]
    assert figures["citizen_centric"]["cumulative_cost_kzt_national@horizon"] > 0
