"""The model reduced to Bass (1969): scenarios/validation/bass.toml.

Complete graph, constructs fixed, everyone aware, online and skilled, no lapse.
A non-adopter's monthly adoption probability is 1 - exp(-(p + q A/(N-1)) dt),
A the number of adopters at the start of the month, dt = 1/12 year.

(a) Mean-field recursion of that update, exact in expectation up to O(1/N):
        F[k+1] = F[k] + (1 - F[k]) (1 - exp(-(p + q F[k] N/(N-1)) dt)).
    The simulated mean over R replicates must lie within 5 standard errors
    (replicate SD / sqrt(R), floored at the binomial SD of one month) of it.

(b) Bass closed form F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t}).
    Discretisation bound: write S(x) = x + (1-x)(1 - exp(-(p+qx)dt)) for the
    monthly map and Phi for the exact flow over one month. Because the hazard
    p + qx grows with x, freezing it at the start of the month undershoots:
    S(x) <= Phi(x); S is increasing, so F[k] <= F(t_k) for all k. The error
    d[k] = F(t_k) - F[k] obeys d[k+1] = tau[k] + S'(xi) d[k] with local error
    tau[k] = F(t_{k+1}) - S(F(t_k)) >= 0 and xi in [F[k], F(t_k)]; S' is
    decreasing, so S'(xi) <= S'(F[k]) and
        0 <= d[k] <= B[k],   B[k+1] = tau[k] + S'(F[k]) B[k],   B[0] = 0.
    For p = 0.03, q = 0.38 per year, dt = 1/12: max B = 0.0093 (the recursion's
    actual largest error is 0.0092, at year 7.2, about dt * max F'(t), one
    month of lag). The simulated curve must lie within B[k] + 5 standard
    errors of F(t_k).
"""

import numpy as np
import pytest

from egov_abm.model import AdoptionModel
from egov_abm.scenarios.scenario import load_scenario

P, Q, DT = 0.03, 0.38, 1 / 12


def closed_form(t):
    e = np.exp(-(P + Q) * t)
    return (1 - e) / (1 + (Q / P) * e)


def monthly_map(x, n=None):
    factor = 1.0 if n is None else n / (n - 1)
    return x + (1 - x) * (1 - np.exp(-(P + Q * x * factor) * DT))


def discretisation_bound(months):
    t = np.arange(months + 1) * DT
    exact = closed_form(t)
    rec = np.zeros(months + 1)
    bound = np.zeros(months + 1)
    for k in range(months):
        rec[k + 1] = monthly_map(rec[k])
        tau = exact[k + 1] - monthly_map(exact[k])
        slope = np.exp(-(P + Q * rec[k]) * DT) * (1 + (1 - rec[k]) * Q * DT)
        bound[k + 1] = tau + slope * bound[k]
    return rec, exact, bound


def test_recursion_sits_below_closed_form_within_derived_bound():
    rec, exact, bound = discretisation_bound(240)
    gap = exact - rec
    assert gap.min() >= -1e-15
    assert np.all(gap <= bound + 1e-15)
    assert bound.max() == pytest.approx(0.0093, abs=0.0001)
    assert rec[-1] > 0.99  # all but saturated after 20 years


@pytest.fixture(scope="module")
def bass_runs():
    scenario = load_scenario("validation/bass")
    assert (scenario.params.network, scenario.months) == ("complete", 240)
    n, reps = 50_000, 6
    curves = []
    for r in range(reps):
        m = AdoptionModel(params=scenario.params.replace(n_agents=n), seed=2024, replicate=r, create_agents=False)
        m.run(scenario.months)
        curves.append(m.outcomes_frame()["adoption"].to_numpy())
    return n, np.array(curves)


@pytest.mark.slow
def test_simulation_matches_mean_field_recursion(bass_runs):
    n, curves = bass_runs
    months = curves.shape[1] - 1
    rec = np.zeros(months + 1)
    for k in range(months):
        rec[k + 1] = monthly_map(rec[k], n)
    mean = curves.mean(axis=0)
    se = np.maximum(curves.std(axis=0, ddof=1), np.sqrt(rec * (1 - rec) / n)) / np.sqrt(len(curves))
    assert np.all(np.abs(mean - rec) <= 5 * se + 1e-12)


@pytest.mark.slow
def test_simulation_matches_bass_closed_form_within_bound(bass_runs):
    n, curves = bass_runs
    months = curves.shape[1] - 1
    _, exact, bound = discretisation_bound(months)
    mean = curves.mean(axis=0)
    se = np.maximum(curves.std(axis=0, ddof=1), np.sqrt(exact * (1 - exact) / n)) / np.sqrt(len(curves))
    err = exact - mean
    assert np.all(np.abs(err) <= bound + 5 * se)
    # and the bound is not vacuous: the simulation does lag the continuous curve by about one month
    assert err.max() > 0.005
