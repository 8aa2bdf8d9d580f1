"""Attitude and trust stay on the survey's scale: under every shipped policy, the ensemble and a 5x trust dose.

The population means must stay within +-2 latent SD (survey respondents' SD)
and the mean implied item scores within [1, 5]; individual values never move
outward past the items' bounds (model/measurement.py).
"""

import numpy as np
import pytest

from egov_abm.model import Intervention
from egov_abm.model.measurement import bounds, item_scales
from egov_abm.scenarios.runner import build_model, run_replicates
from egov_abm.scenarios.scenario import load_scenario, shipped_scenarios

POLICIES = sorted(name for name, path in shipped_scenarios().items()
                  if path.parent.name == "policies" and "/" not in name)  # each once, not also as policies/name


def check(frame, label):
    mean_trust, mean_att = frame["mean_trust"].abs().max(), frame["mean_attitude"].abs().max()
    assert mean_trust <= 2.0 and mean_att <= 2.0, (label, mean_trust, mean_att)
    for col in ("trust_score", "attitude_score"):
        assert frame[col].between(1.0, 5.0).all(), (label, col, frame[col].min(), frame[col].max())


def test_item_bounds_are_where_the_scores_reach_the_scale_ends():
    for construct, scale in item_scales().items():
        lo, hi = bounds(construct)
        assert scale.expected_score(lo) == pytest.approx(1.1, abs=1e-6)
        assert scale.expected_score(hi) == pytest.approx(4.9, abs=1e-6)
        assert -4.0 < lo < -2.5 and 1.2 < hi < 1.7  # the survey's users answer mostly 4-5: a low ceiling
        grid = np.linspace(-6, 6, 101)
        assert np.all(np.diff(scale.expected_score(grid)) > 0)  # monotone
        assert scale.score_sum(grid) == pytest.approx(scale.expected_score(grid).sum(), abs=1e-3)


def test_five_times_the_trust_programme_stays_on_the_scale():
    scenario = load_scenario("trust_transparency").with_overrides(n_agents=2000)
    frame = run_replicates(scenario, seed=3, replicates=3, ensemble=True)
    check(frame, "trust_transparency x1")
    m = build_model(scenario, 3, dose_scale=5.0)
    assert m.interventions[0].dose == pytest.approx(3.0)
    lo, hi = m.trust_bounds
    inside = (m.trust >= lo) & (m.trust <= hi)
    m.run(scenario.months)
    check(m.outcomes_frame(), "trust_transparency x5")
    assert m.trust[inside].max() <= hi and m.trust[inside].min() >= lo


def test_a_dose_beyond_the_scale_is_refused():
    lo, hi = bounds("trust")
    with pytest.raises(ValueError, match="dose: trust can move at most"):
        Intervention(kind="trust", start=0, end=12, dose=hi - lo + 0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", *POLICIES])
def test_every_shipped_policy_under_the_ensemble_stays_on_the_scale(name):
    scenario = load_scenario(name).with_overrides(n_agents=1000)
    check(run_replicates(scenario, seed=11, replicates=20, ensemble=True), name)
