"""Analysis of a finished (or partly finished) sweep: the *analyze* step of an experiment.

Per-point summaries, sensitivity indices and plots; outcome labels and units
come from :mod:`egov_abm.scenarios.outcomes`.

- **Summary per design point**: for each summary outcome, the mean over the
  point's successful replicates and the 5th-95th percentile interval over
  them, with counts of successful and failed runs.
- **Sobol' indices** (design ``sobol``): first-order ``S1`` and total ``ST``
  (and second-order ``S2`` if the design has them) with 95 % bootstrap
  confidence half-widths, by SALib's ``sobol.analyze`` on the per-point
  means over replicates.
- **Morris elementary effects** (design ``morris``): ``mu``, ``mu_star``
  (with its 95 % confidence half-width) and ``sigma``, by SALib's
  ``morris.analyze`` on the sampled matrix and the per-point means.

Indices need an outcome for every design point: an outcome with a point
that has no successful run, or that is empty at some point (such as
``months_to_50`` where adoption never reaches 50 %), gets no indices, and the
analysis says why.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.model import InputError
from egov_abm.scenarios import outcomes as registry
from egov_abm.scenarios.output import check_out_dir, results_folder

ANALYSIS_DIR = "_analysis"
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


@dataclasses.dataclass
class Analysis:
    """The results of :func:`analyze`."""

    summary: pd.DataFrame  # one row per design point
    indices: pd.DataFrame  # one row per (outcome, parameter); empty for grid and lhs designs
    second_order: pd.DataFrame  # Sobol S2, one row per (outcome, parameter pair); often empty
    notes: list[str]
    counts: dict[str, int]
    outcomes: list[str]  # the summary outcomes analysed


def analyze(meta: dict, design: pd.DataFrame, runs: pd.DataFrame, results: pd.DataFrame,
            outcomes: list[str] | None = None, seed: int | None = None) -> Analysis:
    """Summaries and sensitivity indices from a sweep's tables.

    ``meta`` is ``_sweep.json``; ``design``, ``runs`` and ``results`` are
    ``_design.parquet``, ``_runs.parquet`` and the stored runs.
    """
    names = [p["name"] for p in meta["parameters"]]
    outcomes = list(outcomes or meta["summary"])
    unknown = [o for o in outcomes if o not in meta["summary"]]
    if unknown:
        raise InputError(f"--outcome {unknown[0]}: not a summary outcome of this sweep "
                         f"(recorded: {', '.join(meta['summary'])})")
    notes: list[str] = []
    dup = int(results["run_id"].duplicated().sum())
    if dup:  # only if two sweeps once wrote one folder at the same time; each run is deterministic
        notes.append(f"{dup} duplicate run(s) in the folder were counted once")
        results = results.sort_values("status", key=lambda s: s != "ok").drop_duplicates("run_id")
    status = results[["run_id", "status", *outcomes]]
    joined = runs.merge(status, on="run_id", how="left")
    ok = joined[joined["status"] == "ok"]
    counts = {"runs": len(runs), "ok": int((joined["status"] == "ok").sum()),
              "failed": int(joined["status"].notna().sum() - (joined["status"] == "ok").sum()),
              "missing": int(joined["status"].isna().sum()), "points": len(design)}

    summary = design[["point", *names]].copy()
    grouped = ok.groupby("point")
    summary["runs_ok"] = grouped.size().reindex(summary["point"], fill_value=0).to_numpy()
    summary["runs_failed"] = (joined[joined["status"].notna() & (joined["status"] != "ok")]
                              .groupby("point").size().reindex(summary["point"], fill_value=0).to_numpy())
    # a point's mean and interval are empty if any successful replicate has the outcome empty
    complete = (grouped[outcomes].count().to_numpy() == grouped.size().to_numpy()[:, None])
    stats = {"mean": grouped[outcomes].mean(), "q05": grouped[outcomes].quantile(0.05),
             "q95": grouped[outcomes].quantile(0.95)}
    for o in outcomes:
        for name, table in stats.items():
            values = table[o].where(complete[:, outcomes.index(o)])
            summary[f"{o}_{name}"] = values.reindex(summary["point"]).to_numpy(dtype=float)

    indices, second = [], []
    method = meta["method"]
    if method in ("sobol", "morris"):
        problem = {"num_vars": len(names), "names": names, "bounds": meta["problem"]["bounds"]}
        for o in outcomes:
            y = summary[f"{o}_mean"].to_numpy(dtype=float)
            bad = int(np.isnan(y).sum())
            if bad:
                missing = int((summary["runs_ok"] == 0).sum())
                why = (f"{missing} point(s) have no successful run yet" if missing
                       else f"the outcome is empty at {bad} point(s) (e.g. a threshold never reached)")
                notes.append(f"{o}: no {method} indices: {why}")
                continue
            if np.ptp(y) == 0:
                notes.append(f"{o}: no {method} indices: the outcome is the same at every point")
                continue
            rows, pairs = _sobol(problem, y, meta, seed) if method == "sobol" else _morris(problem, design, y,
                                                                                           meta, seed)
            indices += [{"outcome": o, **r} for r in rows]
            second += [{"outcome": o, **r} for r in pairs]
    return Analysis(summary=summary, indices=pd.DataFrame(indices), second_order=pd.DataFrame(second),
                    notes=notes, counts=counts, outcomes=outcomes)


def _sobol(problem: dict, y: np.ndarray, meta: dict, seed: int | None):
    from SALib.analyze import sobol

    res = sobol.analyze(problem, y, calc_second_order=bool(meta["second_order"]), seed=_seed(meta, seed))
    rows = [{"parameter": n, "S1": res["S1"][k], "S1_conf": res["S1_conf"][k], "ST": res["ST"][k],
             "ST_conf": res["ST_conf"][k]} for k, n in enumerate(problem["names"])]
    pairs = []
    if meta["second_order"]:
        for i, a in enumerate(problem["names"]):
            for j in range(i + 1, len(problem["names"])):
                pairs.append({"parameter": a, "other": problem["names"][j], "S2": res["S2"][i, j],
                              "S2_conf": res["S2_conf"][i, j]})
    return rows, pairs


def _morris(problem: dict, design: pd.DataFrame, y: np.ndarray, meta: dict, seed: int | None):
    from SALib.analyze import morris

    x = design[[f"raw_{n}" for n in problem["names"]]].to_numpy(dtype=float)
    res = morris.analyze(problem, x, y, num_levels=int(meta["levels"]), seed=_seed(meta, seed))
    rows = [{"parameter": n, "mu": res["mu"][k], "mu_star": res["mu_star"][k],
             "mu_star_conf": res["mu_star_conf"][k], "sigma": res["sigma"][k]}
            for k, n in enumerate(problem["names"])]
    return rows, []


def _seed(meta: dict, seed: int | None) -> int:
    """Bootstrap seed: given, or derived from the sweep's seed."""
    if seed is not None:
        return seed
    from egov_abm.scenarios.experiments.spec import ANALYSIS_STREAM

    return int(np.random.SeedSequence(meta["seed"], spawn_key=ANALYSIS_STREAM).generate_state(1)[0])


# ----------------------------------------------------------------- from disk
def load_tables(out_dir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``_sweep.json``, ``_design.parquet``, ``_runs.parquet`` and the stored runs of a sweep folder."""
    from egov_abm.scenarios.experiments.sweep import load_results, read_meta

    out_dir = Path(out_dir)
    meta = read_meta(out_dir)
    try:
        design = pd.read_parquet(out_dir / "_design.parquet")
        runs = pd.read_parquet(out_dir / "_runs.parquet")
    except (OSError, ValueError) as exc:
        raise InputError(f"{out_dir}: cannot read the design ({exc})") from None
    return meta, design, runs, load_results(out_dir)


def analyze_dir(out_dir: Path, outcomes: list[str] | None = None, plots: bool = True) -> tuple[Analysis, Path]:
    """Analyse a sweep folder; write tables, plots and ``report.md`` to ``DIR/_analysis``.

    ``DIR/_analysis`` is written beside under a temporary name and swapped in
    whole (:func:`output.results_folder`); an incomplete sweep folder is refused.
    """
    out_dir = Path(out_dir)
    meta, design, runs, results = load_tables(out_dir)
    check_out_dir(out_dir / ANALYSIS_DIR, "analysis")
    result = analyze(meta, design, runs, results, outcomes)
    target = out_dir / ANALYSIS_DIR
    with results_folder(target, "analysis") as tmp:  # replaced whole, or left as it was
        result.summary.to_csv(tmp / "summary.csv", index=False)
        if not result.indices.empty:
            result.indices.to_csv(tmp / "indices.csv", index=False)
        if not result.second_order.empty:
            result.second_order.to_csv(tmp / "indices_second_order.csv", index=False)
        write_json(result, tmp / "analysis.json")
        figures = write_plots(meta, result, results, tmp) if plots else []
        (tmp / "report.md").write_text(report(meta, result, figures), encoding="utf-8")
    return result, target


def format_indices(result: Analysis, method: str) -> str:
    """The indices as a plain-text table."""
    if result.indices.empty:
        return ""
    cols = (["S1", "S1_conf", "ST", "ST_conf"] if method == "sobol" else ["mu_star", "mu_star_conf", "sigma", "mu"])
    return result.indices[["outcome", "parameter", *cols]].to_string(
        index=False, float_format=lambda v: f"{v:.3f}")


def format_summary(result: Analysis, max_rows: int = 30) -> str:
    """The per-point summary as text: mean [5 %, 95 %] per outcome (the first ``max_rows`` points)."""
    s = result.summary.head(max_rows)
    outcomes = [c.removesuffix("_mean") for c in s.columns if c.endswith("_mean")]
    first = list(s.columns[:list(s.columns).index("runs_failed") + 1])
    table = s[first].rename(columns={"runs_ok": "ok", "runs_failed": "failed"})
    single = bool((s["runs_ok"] <= 1).all())  # one replicate: no interval to show
    for o in outcomes:
        table[o] = [("-" if np.isnan(m) else f"{m:.3g}" if single else f"{m:.3g} [{lo:.3g}, {hi:.3g}]")
                    for m, lo, hi in zip(s[f"{o}_mean"], s[f"{o}_q05"], s[f"{o}_q95"], strict=True)]
    text = table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    if len(result.summary) > max_rows:
        text += f"\n... {len(result.summary) - max_rows:,} more points"
    return text


def report(meta: dict, result: Analysis, figures: list[str]) -> str:
    """Markdown report of the analysis."""
    c = result.counts
    lines = [f"# Sweep {meta['name']}", "", meta.get("description", "").strip(), "",
             f"Design `{meta['method']}` over {', '.join(p['name'] for p in meta['parameters'])}: "
             f"{c['points']:,} points x {meta['replicates']} replicate(s) = {c['runs']:,} runs "
             f"({c['ok']:,} ok, {c['failed']:,} failed, {c['missing']:,} not run). Base scenario "
             f"`{meta['scenario']}`, {meta['months']} months from {meta['start_month']}, seed {meta['seed']}.", ""]
    if not result.indices.empty:
        lines += ["## Sensitivity indices", "", "```", format_indices(result, meta["method"]), "```", ""]
    for note in result.notes:
        lines.append(f"- {note}")
    lines += ["", "## Outcomes", "", "| outcome | what | unit | better |", "|---|---|---|---|"]
    for o in result.outcomes:
        out = registry.get(o)
        lines.append(f"| `{o}` | {out.label} | {out.unit or '-'} | {out.direction or '-'} |")
    lines += ["", "## Design points", "", "```", format_summary(result), "```", "",
              "Full table: `summary.csv` (mean, 5th and 95th percentile over replicates per outcome).", ""]
    lines += [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def write_plots(meta: dict, result: Analysis, results: pd.DataFrame, target: Path) -> list[str]:
    """Figures of the analysis as PNG files in ``target``; returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p["name"] for p in meta["parameters"]]
    outcomes = [o for o in result.outcomes if not result.indices.empty and o in set(result.indices["outcome"])]
    written = []
    if outcomes and meta["method"] == "sobol":
        ncols = min(3, len(outcomes))
        nrows = -(-len(outcomes) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols + 1.5, (0.45 * len(names) + 1.2) * nrows),
                                 squeeze=False, sharey=True)
        pos = np.arange(len(names))
        err = {"elinewidth": 0.8, "ecolor": "#333333"}
        for ax, o in zip(axes.flat, outcomes, strict=False):
            t = result.indices[result.indices["outcome"] == o].set_index("parameter").loc[names]
            ax.barh(pos - 0.2, t["S1"], 0.4, xerr=t["S1_conf"], color=OKABE_ITO[0], label="first order S1",
                    error_kw=err)
            ax.barh(pos + 0.2, t["ST"], 0.4, xerr=t["ST_conf"], color=OKABE_ITO[1], label="total ST", error_kw=err)
            ax.set_title(_label(o), fontsize=10)
            ax.axvline(0, color="#636363", lw=0.8)
            ax.grid(axis="x", alpha=0.3)
        for ax in list(axes.flat)[len(outcomes):]:
            ax.set_visible(False)
        axes[0][0].set_yticks(pos, names)
        axes[0][0].invert_yaxis()
        axes[0][0].legend(fontsize=8, loc="lower right")
        fig.suptitle("Sobol' indices (95 % bootstrap intervals)")
        fig.tight_layout()
        written.append(_save(fig, target / "sobol_indices.png"))
    if outcomes and meta["method"] == "morris":
        fig, axes = plt.subplots(1, len(outcomes), figsize=(4.5 * len(outcomes), 4.2), squeeze=False)
        for ax, o in zip(axes[0], outcomes, strict=True):
            t = result.indices[result.indices["outcome"] == o]
            ax.scatter(t["mu_star"], t["sigma"], color=OKABE_ITO[0])
            for _, r in t.iterrows():
                ax.annotate(r["parameter"], (r["mu_star"], r["sigma"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
            ax.set_xlabel("mu* (mean absolute elementary effect)")
            ax.set_ylabel("sigma")
            ax.set_title(_label(o), fontsize=10)
            ax.grid(alpha=0.3)
        fig.suptitle("Morris screening")
        fig.tight_layout()
        written.append(_save(fig, target / "morris.png"))

    numeric = [n for n in names if pd.api.types.is_numeric_dtype(result.summary[n])][:8]
    shown = result.outcomes[:6]
    if numeric and shown:
        fig, axes = plt.subplots(len(shown), len(numeric), figsize=(2.6 * len(numeric) + 0.8, 2.2 * len(shown) + 0.6),
                                 squeeze=False)
        s = result.summary
        logs = {p["name"]: p.get("log", False) for p in meta["parameters"]}
        for i, o in enumerate(shown):
            for j, n in enumerate(numeric):
                ax = axes[i][j]
                if len(s) <= 200:
                    ax.errorbar(s[n], s[f"{o}_mean"], yerr=[s[f"{o}_mean"] - s[f"{o}_q05"],
                                                            s[f"{o}_q95"] - s[f"{o}_mean"]],
                                fmt="o", ms=3, color=OKABE_ITO[0], elinewidth=0.6, alpha=0.8)
                else:
                    ax.scatter(s[n], s[f"{o}_mean"], s=4, color=OKABE_ITO[0], alpha=0.5)
                ax.grid(alpha=0.3)
                if logs.get(n):
                    ax.set_xscale("log")
                if i == len(shown) - 1:
                    ax.set_xlabel(n, fontsize=8)
                if j == 0:
                    ax.set_ylabel(_label(o), fontsize=8)
                ax.tick_params(labelsize=7)
        fig.suptitle("Outcome by parameter: mean over replicates per design point (5-95 % bars)")
        fig.tight_layout()
        written.append(_save(fig, target / "outcomes_by_parameter.png"))

    if meta["series"]:
        name = meta["series"][0]
        ok = results[results["status"] == "ok"]
        if len(ok):
            months = np.asarray(ok["series_month"].iloc[0])
            values = np.vstack([np.asarray(v, dtype=float) for v in ok[f"series_{name}"]])
            start = pd.Period(meta["start_month"], freq="M")
            dates = [(start + int(m)).to_timestamp() for m in months]
            fig, ax = plt.subplots(figsize=(9, 4.5))
            q = np.nanquantile(values, [0.05, 0.5, 0.95], axis=0)
            ax.fill_between(dates, q[0], q[2], color=OKABE_ITO[0], alpha=0.2, label="5-95 % of runs")
            ax.plot(dates, q[1], color=OKABE_ITO[0], lw=2, label="median run")
            ax.set_ylabel(_label(name))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            ax.set_title(f"{name} over all {len(ok):,} successful runs")
            written.append(_save(fig, target / f"series_{name}.png"))
    return written


def _label(name: str) -> str:
    """Axis label of an outcome: its label and unit from the registry."""
    out = registry.get(name)
    return f"{out.label} ({out.unit})" if out.unit else out.label


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write_json(result: Analysis, path: Path) -> None:
    """The indices and counts as JSON (for scripts)."""
    path.write_text(json.dumps({"counts": result.counts, "notes": result.notes,
                                "indices": result.indices.to_dict(orient="records")}, indent=2) + "\n",
                    encoding="utf-8")
