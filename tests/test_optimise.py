"""The budget levers and the optimiser: shipped packages are exact points of the search, and the answer beats them."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from egov_abm.scenarios.cli import main
from egov_abm.scenarios.levers import (
    EFFICIENCY_RANGE,
    RETURNS,
    RETURNS_MIDDLE,
    AllocationError,
    group_share,
    lever_draws,
    load_levers,
    middle,
    package_allocation,
    priors,
    repair,
    returns_draws,
)
from egov_abm.scenarios.scenario import load_scenario


@pytest.mark.parametrize("beta", [0.4, 0.7, 1.0])
def test_reference_spend_buys_the_reference_dose_at_any_returns(beta):
    for lever in load_levers().values():
        entry = lever.intervention(lever.spend_reference, "all", beta, 1.0)
        if lever.mode == "places":
            assert entry["capacity"] == int(lever.spend_reference // lever.price_per_place)
            assert entry["dose"] == lever.dose_reference
        else:
            assert entry["dose"] == pytest.approx(lever.dose_reference, rel=1e-12)
        # half the money on a group of half the adults buys the same dose there
        if lever.mode == "dose" and "rural" in lever.targets:
            share = group_share("rural")
            half = lever.intervention(lever.spend_reference * share, "rural", beta, share)
            assert half["dose"] == pytest.approx(lever.dose_reference, rel=1e-12) and half["target"] == {"urban": False}
    trust = load_levers()["trust"]
    assert trust.intervention(4 * trust.spend_reference, "all", 0.5, 1.0)["dose"] == pytest.approx(1.2)  # 0.6 * 4**0.5
    # an efficiency multiplies what the money buys: the dose, or the places
    assert trust.intervention(trust.spend_reference, "all", 0.5, 1.0, 1.5)["dose"] == pytest.approx(0.9)
    skills = load_levers()["skills"]
    assert skills.intervention(4e8, "all", 0.7, 1.0, 0.5)["capacity"] == 5000  # 0.5 * 400 M / 40,000 KZT
    sq = load_levers()["service_quality"]
    assert sq.intervention(3 * sq.spend_reference, "all", 1.0, 1.0)["dose"] == sq.dose_cap  # capped at +0.14


@pytest.mark.parametrize("name", ["technology_only", "citizen_centric"])
def test_shipped_packages_are_exact_points_of_the_search(name):
    shipped = load_scenario(name)
    alloc = package_allocation(shipped, 48e9, "2024-01", "2028-12")
    assert alloc is not None and math.isclose(sum(s for _, s, _ in alloc.shares), 1.0)
    for beta in (RETURNS.low, RETURNS.high):
        draw = {**middle(), RETURNS.name: beta}
        mine = {p.intervention.kind: p.intervention for p in alloc.policies(shipped.params.start_month, draw, "x")}
        for spec in shipped.policies:
            iv, got = spec.intervention, mine[spec.intervention.kind]
            assert (got.start, got.end, got.capacity, got.target) == (iv.start, iv.end, iv.capacity, iv.target)
            assert got.dose == pytest.approx(iv.dose, rel=1e-12)
            assert got.cost_fixed_per_month_kzt == pytest.approx(iv.cost_fixed_per_month_kzt)
    # a package that is not a budget split (per-person cost) is not an allocation
    assert package_allocation(load_scenario("rural_infrastructure"), 48e9, "2024-01", "2028-12") is None


def test_repair_drops_tiny_shares_and_moves_spend_over_a_levers_room():
    shares = repair({"trust": 0.98, "skills": 0.01, "awareness": 0.01}, 12 * 400e6, 12)
    assert shares == {"trust": 1.0, "skills": 0.0, "awareness": 0.0}
    # 3 bn a month: trust can take 2 bn (2/3 of it); the other third goes to awareness, the only other with a share
    shares = repair({"trust": 0.9, "awareness": 0.1, "skills": 0.0}, 12 * 3e9, 12)
    assert shares["trust"] == pytest.approx(2 / 3) and shares["awareness"] == pytest.approx(1 / 3)
    assert shares["skills"] == 0.0
    with pytest.raises(AllocationError, match="cannot be spent"):
        repair({"service_quality": 1.0}, 12 * 2e9, 12)


def test_lever_draws_are_seeded_prefix_stable_and_within_their_priors():
    a, b = lever_draws(40, 7), lever_draws(10, 7)
    assert a[:10] == b and a != lever_draws(40, 8)
    assert [p.name for p in priors()] == ["returns_to_spend", *(f"efficiency_{k}" for k in load_levers())]
    frame = pd.DataFrame(a)
    assert frame["returns_to_spend"].between(RETURNS.low, RETURNS.high).all() and frame["returns_to_spend"].std() > 0.1
    eff = frame.drop(columns="returns_to_spend")
    assert eff.min().min() >= EFFICIENCY_RANGE[0] and eff.max().max() <= EFFICIENCY_RANGE[1]
    assert abs(np.log(eff.to_numpy()).mean()) < 0.15  # log-uniform around 1
    assert middle()["returns_to_spend"] == pytest.approx(RETURNS_MIDDLE)
    assert all(middle()[f"efficiency_{k}"] == pytest.approx(1.0) for k in load_levers())
    assert np.array_equal(returns_draws(40, 7), frame["returns_to_spend"].to_numpy())


def _allocation_file(tmp_path, levers, budget=48e9, name="alloc"):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninclude = "baseline"\n[allocation]\nbudget_kzt = {budget}\nstart = "2025-01"\n'
                    f'end = "2029-12"\nlevers = {levers}\n')
    return path


def test_allocation_scenario_takes_each_draws_returns_at_full_and_the_middle_otherwise(tmp_path):
    path = _allocation_file(tmp_path, '{ trust = { share = 0.6, target = "all" }, skills = { share = 0.4, '
                                      'target = "60+" } }')
    s = load_scenario(path)
    assert s.allocation.shares == (("trust", 0.6, "all"), ("skills", 0.4, "60+"))
    trust = load_levers()["trust"]
    spend = 0.6 * 48e9 / 60
    variants = s.variants(5, 3, "full")
    doses = [next(p.intervention.dose for p in v.policies if p.intervention.kind == "trust") for v in variants]
    ratio = spend / trust.spend_reference
    assert doses == pytest.approx([d["efficiency_trust"] * 0.6 * ratio ** d["returns_to_spend"]
                                   for d in lever_draws(5, 3)])
    places = [next(p.intervention.capacity for p in v.policies if p.intervention.kind == "skills") for v in variants]
    assert places == [int(d["efficiency_skills"] * 0.4 * 48e9 / 60 // 40000) for d in lever_draws(5, 3)]
    chance = [next(p.intervention.dose for p in v.policies if p.intervention.kind == "trust")
              for v in s.variants(2, 3, "chance")]
    assert chance == pytest.approx([0.6 * (spend / trust.spend_reference) ** RETURNS_MIDDLE] * 2)
    skills = next(p.intervention for p in s.policies if p.intervention.kind == "skills")
    assert skills.capacity == int(0.4 * 48e9 / 60 // 40000) and skills.target.age_bands == ("60+",)


@pytest.mark.parametrize("levers, message", [
    ('{ trust = { share = 0.6 } }', "the shares must sum to 1, got 0.6"),
    ('{ bridges = { share = 1.0 } }', "unknown lever 'bridges'"),
    ('{ trust = { share = 1.0, target = "school" } }', "allocation.levers.trust.target: expected one of all, 60+"),
    ('{ trust = { share = 0.9 }, awareness = { share = 0.1 } }', "trust.share: 2,250,000,000 KZT a month is more "
                                                                 "than the lever's most useful spend"),
])
def test_bad_allocation_is_one_line_naming_file_and_field(tmp_path, capsys, levers, message):
    path = _allocation_file(tmp_path, levers, budget=48e9 if "awareness" not in levers else 150e9)
    code = main(["compare", str(path), "--replicates", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and str(path) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--budget-kzt", "0"], "--budget-kzt: expected a budget in KZT above 0"),
    (["--budget-kzt", "-5e9"], "--budget-kzt: expected a budget in KZT above 0"),
    (["--budget-kzt", "1e9", "--levers", "trust,bridges"], "--levers: unknown lever 'bridges'"),
    (["--budget-kzt", "1e9", "--start", "2027-01", "--end", "2026-12"], "end 2026-12 is before start 2027-01"),
    (["--budget-kzt", "1e9", "--start", "2029-01", "--end", "2031-12"], "is outside the scenario's months"),
    (["--budget-kzt", "1e9", "--start", "Jan 2025"], "--start: expected a month as YYYY-MM"),
    (["--budget-kzt", "1e9", "--uncertainty", "some"], "Invalid value for '--uncertainty'"),
    (["--budget-kzt", "1e13", "--levers", "trust,skills"], "cannot be spent on trust, skills in 60 months"),
    (["--budget-kzt", "1e9", "--target", "urban"], "--target: unknown group 'urban'"),
])
def test_optimise_bad_input_one_line_exit_2(tmp_path, capsys, args, message):
    code = main(["optimise", *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.study.db").exists()


def test_optimiser_beats_every_package_of_the_same_budget_and_resumes(tmp_path, capsys):
    out = tmp_path / "opt"
    args = ["optimise", "--budget-kzt", "4.8e9", "--start", "2025-01", "--end", "2025-12",
            "--levers", "infrastructure,service_quality,trust,skills", "--agents", "600", "--replicates", "3",
            "--check-replicates", "6", "--workers", "1", "--seed", "5", "--out", str(out)]
    code = main([*args, "--trials", "9"])
    text, err = capsys.readouterr()
    assert code == 0, err
    meta = json.loads((out / "optimise.json").read_text())
    check = pd.read_parquet(out / "check.parquet").set_index("allocation")
    packages = set(meta["packages"])
    assert {"technology_only", "citizen_centric", "trust_transparency", "service_quality"} <= packages
    best = meta["best"]["name"]
    assert best == "optimised" and check.loc[best, "chosen"]
    for p in packages - {meta["best"]["is_package"]}:
        # at least as good in expectation on the check's fresh paired draws, since the packages are points of it
        assert check.loc[best, "objective_mean"] >= check.loc[p, "objective_mean"]
        assert 0.0 <= meta["best"]["p_beats"][p] <= 1.0
    # the packages were the first trials of the search, each scaled to the budget (400 M KZT a month)
    trials = pd.read_parquet(out / "trials.parquet").set_index("trial").sort_index()
    first = trials.loc[:len(packages) - 1]
    assert ((first["share_infrastructure"] == 0.5) & (first["share_service_quality"] == 0.5)).sum() == 1
    assert ((first["share_trust"] == 0.5) & (first["share_skills"] == 0.5)).sum() == 1
    assert trials["objective_mean"].max() >= trials.loc[:len(packages) - 1, "objective_mean"].max()
    # the answer is a scenario compare runs, and it is the allocation chosen
    scen = load_scenario(out / "optimised.toml")
    assert scen.allocation.table() == meta["best"]["allocation"]
    assert "P(beats technology_only" in text and "optimised.toml" in text
    html = (out / "brief.html").read_text()
    assert "Best use of the budget" in html and "<table" in html
    # resume: two more trials; the nine done are kept, not run again
    code = main([*args, "--trials", "11"])
    capsys.readouterr()
    assert code == 0
    again = pd.read_parquet(out / "trials.parquet").set_index("trial").sort_index()
    assert len(again) == 11 and again.loc[trials.index, "objective_mean"].equals(trials["objective_mean"])


def test_app_offers_an_allocation_file_by_name_and_refuses_a_bad_one(tmp_path, capsys, monkeypatch):
    from egov_abm.scenarios.scenario import EXTRA_SCENARIOS
    from egov_abm.viz.explore_model import scenario_names

    good = _allocation_file(tmp_path, '{ awareness = { share = 1.0 } }', name="my_budget")
    monkeypatch.setenv(EXTRA_SCENARIOS, str(good))
    assert scenario_names()[-1] == "my_budget" and scenario_names()[0] == "baseline"
    assert load_scenario("my_budget").allocation.shares == (("awareness", 1.0, "all"),)
    bad = _allocation_file(tmp_path, '{ awareness = { share = 0.5 } }', name="bad_budget")
    for path, message in ((bad, "the shares must sum to 1"), (tmp_path / "baseline.toml", "is a shipped scenario's")):
        path.touch()
        code = main(["app", "--port", "1", "--scenario", str(path)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_what_money_buys_joins_the_uncertain_inputs_only_where_an_allocation_is_compared():
    from egov_abm.scenarios.decisions import input_meanings, uncertain_inputs

    base = load_scenario("baseline")
    with_alloc = uncertain_inputs(base, 5, 1, "full", allocations=True)
    without = uncertain_inputs(base, 5, 1, "full")
    names = [p.name for p in priors()]
    assert set(names) <= set(with_alloc.columns) and not set(names) & set(without.columns)
    assert with_alloc[names].to_dict("records") == lever_draws(5, 1)
    assert with_alloc.drop(columns=names).equals(without)  # the model's own inputs are the same draws
    assert all(input_meanings()[n] for n in names)
    assert uncertain_inputs(base, 5, 1, "calibration", allocations=True).columns.isin(names).sum() == 0
