import numpy as np

from egov_abm.model.population import AGE_BANDS, construct_shift, synth_population


def test_margins_reproduced_within_sampling_error(spec):
    n = 200_000
    pop = synth_population(spec, n, np.random.default_rng(11))
    region_share = np.bincount(pop.region, minlength=len(spec.region_names)) / n
    p = np.asarray(spec.region_shares)
    assert np.all(np.abs(region_share - p) <= 5 * np.sqrt(p * (1 - p) / n))
    age_share = np.bincount(pop.age_band, minlength=len(AGE_BANDS)) / n
    p = np.asarray(spec.age_shares)
    assert np.all(np.abs(age_share - p) <= 5 * np.sqrt(p * (1 - p) / n))
    urban_expected = float(np.dot(spec.region_shares, spec.region_urban_share))
    assert abs(pop.urban.mean() - urban_expected) <= 5 * np.sqrt(urban_expected * (1 - urban_expected) / n)
    # Cities of republican significance are wholly urban.
    almaty = spec.region_names.index("Almaty city")
    assert pop.urban[pop.region == almaty].all()


def test_urban_share_matches_national_statistics(spec):
    # 1 Jan 2023: 12,209,302 urban of 19,766,807 (calibration/data/population_totals.csv);
    # the regional table sums to the same national total within 0.1 %.
    urban = float(np.dot(spec.region_shares, spec.region_urban_share))
    assert abs(urban - 12_209_302 / 19_766_807) < 0.001


def test_divide_and_shifts_follow_groups(spec):
    pop = synth_population(spec, 5000, np.random.default_rng(3))
    expected = (np.where(pop.urban, 0.0, spec.divide_rural) + np.asarray(spec.divide_age)[pop.age_band]
                + np.asarray(spec.divide_education)[pop.education])
    np.testing.assert_allclose(pop.divide, expected, rtol=0, atol=1e-6)
    att, trust = construct_shift(spec, pop)
    old_rural = (pop.age_band == 3) & ~pop.urban & (pop.education == 0)
    want = spec.attitude_shift_age[3] + spec.attitude_shift_rural + spec.attitude_shift_education[0]
    np.testing.assert_allclose(att[old_rural], want)
