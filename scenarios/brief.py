"""``brief.html``: a comparison as a ministry would read it, one self-contained, print-ready page.

It states in plain language what each policy does, how many more adults use
the portal and by when, at what cost per extra user, how sure the model is
(on paired draws, at the level of uncertainty the comparison ran), who is left
behind and what would change the answer; then the tables (real HTML tables,
numbers formatted with their units), the charts (inlined), what the model
cannot say, and an appendix of every intervention's dose and cost with the
note the scenario file gives for it (its source or the word assumption).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.scenarios.decisions import EQUITY_GROUPS, UNCERTAINTY_TEXT

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;max-width:1240px;
margin:1.5em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
.sub{color:#555;margin-top:0}.summary{background:#f4f7fb;border-left:4px solid #0072B2;padding:.6em 1em}
table{border-collapse:collapse;width:100%;font-size:13px;margin:.6em 0;table-layout:auto}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top}th{background:#f0f0f0;text-align:left}
td.n{text-align:right;white-space:nowrap}caption{text-align:left;font-weight:600;padding:.3em 0}
.dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.35em;vertical-align:middle}
img{max-width:100%}.note{color:#555;font-size:12px}
.nm{white-space:nowrap}
@media print{body{max-width:none}h2{page-break-after:avoid}table,img{page-break-inside:avoid}}
"""


def _n(value, fmt: str = "{:,.0f}", missing: str = "–") -> str:
    return missing if value is None or (isinstance(value, float) and not np.isfinite(value)) else fmt.format(value)


def _band(row, prefix: str, scale: float = 1.0) -> str:
    mid, lo, hi = (row.get(f"{prefix}_q{q}") for q in ("50", "05", "95"))
    if mid is None or not np.isfinite(mid):
        return "–"
    return f"{mid / scale:,.0f}<br><span class='note'>{lo / scale:,.0f} to {hi / scale:,.0f}</span>"


def _table(head: list[str], rows: list[list[str]], numeric: set[int], caption: str = "") -> str:
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<p><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'></p>"


def field_notes(path: Path | None) -> list[dict[str, str]]:
    """Per ``[[interventions]]`` block of a scenario file, in order: field -> the comment written beside it."""
    if path is None or not Path(path).exists():
        return []
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    last = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("[[interventions]]"):
            current, last = {}, None
            blocks.append(current)
            continue
        if current is None:
            continue
        m = re.match(r"^([A-Za-z_]+)\s*=\s*[^#]*#\s*(.*)$", line)
        if m:
            last = m.group(1)
            current[last] = m.group(2).strip()
        elif stripped.startswith("#") and last is not None and line.startswith(" "):
            current[last] += " " + stripped.lstrip("#").strip()
        elif stripped and not stripped.startswith("#"):
            last = None
    return blocks


#: Browsers that print the brief to PDF, looked up on PATH in this order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str:
    """The path of a headless-capable Chromium or Chrome, or :class:`InputError` saying how to get one.

    The PDF is printed by the browser a user already has (as WeasyPrint would need Pango and its own CSS engine),
    so the printed brief is the page the browser shows.
    """
    import shutil

    from egov_abm.model import InputError

    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise InputError("--pdf: needs Chromium or Chrome on PATH to print the brief (Debian: apt-get install chromium)")


def write_pdf(page: Path, pdf: Path, timeout: float = 120.0) -> Path:
    """Print ``page`` (an HTML file) to ``pdf`` with headless Chromium; raise ``OSError`` if it does not."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="egov-abm-pdf-") as profile:
        cmd = [find_browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-pdf-header-footer",
               f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", Path(page).absolute().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OSError(f"{pdf}: the browser did not print the brief within {timeout:.0f} s") from None
    if done.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OSError(f"{pdf}: the browser could not print the brief ({tail})")
    return pdf


def _optimised(meta: dict, dot) -> str:
    """The optimiser's answer: the allocation, its expected gain and P(beats) each package (empty for compare)."""
    opt = meta.get("optimise")
    if not opt:
        return ""
    from egov_abm.scenarios.levers import TARGET_MEANING, load_levers

    s, best = opt["settings"], opt["best"]
    unit = "users" if opt["unit"] == "users" else "points"
    fmt = (lambda v: _n(v)) if unit == "users" else (lambda v: f"{v:.2f}")  # noqa: E731
    levers = load_levers()
    months = len(pd.period_range(s["start"], s["end"], freq="M"))
    rows = []
    for lever, entry in best["allocation"]["levers"].items():
        spend = entry["share"] * s["budget_kzt"] / months
        rows.append([html.escape(lever), html.escape(TARGET_MEANING[entry["target"]]), f"{entry['share']:.0%}",
                     _n(spend / 1e6), _n(entry["share"] * s["budget_kzt"] / 1e9, "{:,.1f}"),
                     html.escape(levers[lever].source)])
    table = _table(["lever", "aimed at", "share", "M KZT a month", "bn KZT in all", "what the money buys (assumption)"],
                   rows, numeric={2, 3, 4}, caption=f"{best['name']}: the allocation")
    gain = best["gain"]
    beats = "; ".join(f"{p}: {v:.0%}" for p, v in best["p_beats"].items())
    won = (f" It is the shipped {html.escape(best['is_package'])} package's split: no allocation the search found did "
           f"better on fresh draws." if best.get("is_package") else "")
    return (f"<h2>Best use of the budget</h2><p>Searching {opt['trials']} allocations of "
            f"{s['budget_kzt'] / 1e9:,.1f} bn KZT over {s['start']} to {s['end']} across "
            f"{html.escape(', '.join(s['levers']))} ({html.escape(opt['objective_means'])}; each scored on "
            f"{opt['search_draws']} paired draws, the best checked on {opt['check_draws']} fresh ones), the best adds "
            f"<b>{fmt(gain['mean'])} {unit}</b> on average over the draws (median {fmt(gain['q50'])}; 50 %: "
            f"{fmt(gain['q25'])} to {fmt(gain['q75'])}; "
            f"90 %: {fmt(gain['q05'])} to {fmt(gain['q95'])}). It beats each package of the same budget and window "
            f"in this share of the paired draws: {html.escape(beats) or '(no package of these levers)'}.{won}</p>"
            f"{table}<p class='note'>What a lever's money buys is an assumption anchored on the shipped packages "
            f"(scenarios/data/levers.csv). At the full level of uncertainty it is drawn per draw, the same for every "
            f"allocation and package: how a dose grows with spending (the returns to spending, 0.4 to 1) and each "
            f"lever's efficiency (half to twice the assumed dose or places).</p>")


def write_brief(out_dir: Path, table: pd.DataFrame, meta: dict, colours: dict[str, str]) -> Path:
    """Write ``brief.html`` into ``out_dir`` (the comparison's charts must be there already); return its path."""
    baseline = meta["baseline"]
    decision = meta.get("decision", {})
    level = meta.get("uncertainty", "chance")
    t = table.set_index("scenario")
    policies = [n for n in meta["scenarios"] if n != baseline]
    descriptions = meta.get("descriptions", {})
    draws = meta["replicates"]

    def dot(name: str) -> str:
        return (f"<span class='nm'><span class='dot' style='background:{colours.get(name, '#999')}'></span>"
                f"{html.escape(name)}</span>")

    # 1. summary in plain words: the best bet is the policy with the least expected regret
    ranked = sorted(policies, key=lambda n: t.loc[n, "regret_mean"])
    pairwise = pd.DataFrame(decision.get("pairwise", {})).T if decision.get("pairwise") else None
    lines = []
    if ranked:
        best = ranked[0]
        sure = ""
        if pairwise is not None and len(ranked) > 1:
            probs = ", ".join(f"{pairwise.loc[best, o]:.0%} against {html.escape(o)}" for o in ranked[1:4])
            sure = f" It has more users than each other policy in this share of the paired draws: {probs}."
        lines.append(f"<p><b>{html.escape(best)}</b> is the best bet for the number of adults using the portal by "
                     f"{meta['horizon'][:4]}: across the draws it loses the fewest users against whichever policy "
                     f"turns out best (expected regret {_n(t.loc[best, 'regret_mean'])}). It adds a median "
                     f"{_n(t.loc[best, 'extra_horizon_q50'])} users over the baseline (90 % interval "
                     f"{_n(t.loc[best, 'extra_horizon_q05'])} to {_n(t.loc[best, 'extra_horizon_q95'])}).{sure}</p>")
    items = []
    for n in ranked:
        r = t.loc[n]
        per = _n(r.get("cost_per_extra_user_q50"), "{:,.0f} KZT")
        items.append(f"<li>{dot(n)}: {html.escape(descriptions.get(n, ''))} "
                     f"<b>{_n(r['extra_horizon_q50'])}</b> more adults using the portal at the horizon "
                     f"({_n(r['extra_end_q50'])} at the programme's end), {per} per extra user, "
                     f"better than the baseline in {r['p_beats_baseline']:.0%} of draws.</li>")
    voi = decision.get("value_of_information") or []
    change = ""
    if voi:
        top = voi[0]
        change = (f"<p>What would change the answer most: <b>{html.escape(top['input'])}</b> "
                  f"({html.escape(top.get('meaning') or '')}); knowing it would remove "
                  f"{_n(top['evppi_users'])} of the {_n(decision.get('evpi_users'))} users of expected regret.</p>")
    behind = ""
    if decision.get("equity"):
        eq = pd.DataFrame(decision["equity"])
        b = eq[(eq["scenario"] == baseline) & eq["group"].isin([g for g, _ in EQUITY_GROUPS])]
        behind = ("<p>Left behind without any policy at the horizon: " + ", ".join(
            f"{_n(r.left_behind_q50)} {html.escape(r.label)} adults" for r in b.itertuples()) + ".</p>")
    summary = (f"<div class='summary'>{''.join(lines)}<ul>{''.join(items)}</ul>{behind}{change}"
               f"<p class='note'>How sure: {draws} paired draws; uncertainty <b>{level}</b>: "
               f"{html.escape(UNCERTAINTY_TEXT[level])}. Users: adults who used the portal in the last 12 months "
               f"(the official statistics' measure), national.</p></div>")

    budget_html = _optimised(meta, dot)

    # 2. the decision table
    rows = []
    for n in policies:
        r = t.loc[n].to_dict()
        gained = ("not reached" if pd.isna(r.get("months_gained_median")) else f"{r['months_gained_median']:+.0f}")
        rows.append([dot(n), _band(r, "extra_end"), _band(r, "extra_end_plus_2y"), _band(r, "extra_horizon"),
                     f"{r['p_beats_baseline']:.0%}", _n(r["regret_mean"]), _n(r["cost_kzt_median"] / 1e9, "{:,.1f}"),
                     _band(r, "cost_per_extra_user"), gained])
    rows.append([dot(baseline), "–", "–", "–", "–", _n(t.loc[baseline, "regret_mean"]), "0", "–", "–"])
    decision_html = _table(
        ["policy", "extra users at programme end<br>median, 90 %", "two years later", "at the horizon",
         "P(beats baseline)", "expected regret, users", "cost, bn KZT", "KZT per extra user", "months gained"],
        rows, numeric={1, 2, 3, 4, 5, 6, 7, 8}, caption="Extra adults using the portal against the baseline")

    pair_html = ""
    if pairwise is not None:
        names = [baseline, *policies]
        pair_html = _table(["P(row beats column)", *[html.escape(n).replace("_", "_<wbr>") for n in names]],
                           [[dot(a), *["–" if a == b else f"{pairwise.loc[a, b]:.0%}" for b in names]] for a in names],
                           numeric=set(range(1, len(names) + 1)), caption="Pairwise, at the horizon")

    equity_html = ""
    if decision.get("equity"):
        eq = pd.DataFrame(decision["equity"])
        first = [g for g, _ in EQUITY_GROUPS]
        head = ["policy"] + [f"{html.escape(label)}: extra users / left behind" for _, label in EQUITY_GROUPS]
        rows = []
        for n in [baseline, *policies]:
            g = eq[eq["scenario"] == n].set_index("group")
            rows.append([dot(n)] + [f"{'+' + _n(g.loc[k, 'extra_users_q50']) if n != baseline else '–'} / "
                                    f"{_n(g.loc[k, 'left_behind_q50'])}" if k in g.index else "–" for k in first])
        equity_html = _table(head, rows, numeric=set(range(1, 4)), caption="Who gains, who is left behind")
        if (out_dir / "regions.png").exists():
            equity_html += _image(out_dir / "regions.png", "extra users by region")

    voi_html = ""
    if decision.get("voi_note"):
        voi_html = f"<p>{html.escape(decision['voi_note'])}</p>"
    if voi:
        voi_html = _table(["uncertain input", "what it is", "expected regret removed if known, users", "share"],
                          [[html.escape(v["input"]), html.escape(v.get("meaning") or ""), _n(v["evppi_users"]),
                            _n(v.get("share_of_evpi"), "{:.0%}")] for v in voi[:8]],
                          numeric={2, 3}, caption="Value of information")
        for f in decision.get("flip_points", []):
            if pd.isna(f.get("flips_at")):
                voi_html += (f"<p>{html.escape(f['a'])} vs {html.escape(f['b'])}: no change of rank over "
                             f"{html.escape(f['input'])} {f['low']:.3g}–{f['high']:.3g}.</p>")
            else:
                voi_html += (f"<p>{html.escape(f['a'])} vs {html.escape(f['b'])}: the ranking changes at "
                             f"{html.escape(f['input'])} = {f['flips_at']:.3g} (draws span "
                             f"{f['low']:.3g}–{f['high']:.3g}).</p>")

    appendix = []
    for n, entries in meta.get("interventions", {}).items():
        for e in entries:
            notes = e.get("notes", {})
            appendix.append([dot(n), html.escape(e.get("name") or e["kind"]), e["kind"], f"{e['start']} to {e['end']}",
                             _n(e.get("dose"), "{:g}"), _n(e.get("capacity")), _n(e.get("cost_fixed_per_month_kzt")),
                             _n(e.get("cost_per_person_kzt")),
                             "<br>".join(f"{html.escape(k.replace('_', ' '))}: {html.escape(v)}"
                                         for k, v in notes.items()) or "–"])
    appendix_html = _table(["policy", "intervention", "kind", "months", "dose", "capacity a month",
                            "fixed KZT a month", "KZT per person", "source or assumption (from the scenario file)"],
                           appendix, numeric={4, 5, 6, 7}) if appendix else "<p>No interventions.</p>"

    charts = "".join(_image(out_dir / name, alt) for name, alt in (
        ("difference.png", "extra users against the baseline, paired by draw"), ("adoption.png", "adoption"),
        ("gaps.png", "gaps"), ("cost_effectiveness.png", "cost-effectiveness"))
        if (out_dir / name).exists())
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Policy brief: {html.escape(
        ', '.join(policies))}</title><style>{CSS}</style></head><body>
<h1>Policy brief: e-government uptake in Kazakhstan</h1>
<p class="sub">Policies compared with <b>{html.escape(baseline)}</b> to {meta['horizon'][:7]}; {draws} paired draws of
{meta['agents']:,} simulated citizens (seed {meta['seed']}), scaled to {meta['adult_population']:,.0f} adults.</p>
{summary}
{budget_html}
<h2>How sure we are</h2>
{decision_html}
<p class="note">Intervals are over the paired draws: replicate r of every policy shares random streams and, at
this level of uncertainty, the posterior draw; P(beats baseline): share of draws with more users than the baseline
{'by at least ' + _n(meta.get('margin_users')) + ' ' if meta.get('margin_users') else ''}at the horizon; expected
regret: users short of the best option of each draw, averaged; months gained: to reach
{meta.get('target_share', 0.5):.0%} of adults, from the policy's start (whole months).</p>
{pair_html}
<h2>Who gains, who is left behind</h2>
{equity_html}
<h2>What would change the answer</h2>
{voi_html or '<p>Nothing uncertain varies at this level of uncertainty.</p>'}
<h2>Charts</h2>
{charts}
<h2>What the model can and cannot say</h2>
<p>The model simulates whether adults take up and keep using the e-government portal, through access, skills,
awareness, attitude, trust and the channels open to them, calibrated to Kazakhstan's record 2006–2021. It has no
institutional outcomes: it says nothing about core public services, corruption, participation or how well the
state works, so a policy that wins here is not thereby better for governance. Technology-led and citizen-centred
packages are ranked on portal use only, with the probability of that ranking across the uncertainty above, not as
a single verdict.</p>
<h2>Appendix: interventions, doses and costs</h2>
{appendix_html}
<p class="note">egov-abm {html.escape(str(meta.get('version', '')))}; created in {meta.get('seconds', 0)} s of
runs.</p>
</body></html>"""
    path = out_dir / "brief.html"
    path.write_text(page, encoding="utf-8")
    return path
