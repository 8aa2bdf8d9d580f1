"""The Explore page: one scenario month by month, with its controls, a map of the regions and charts.

The page drives an :class:`~.explore_model.ExploreModel` itself (Reset, Step,
Play and Pause in the sidebar); Mesa's SolaraViz, which it used before, shows
developer controls (play interval, render interval, threads) and sliders
without their values. Every control shows its value and unit; a control
changed since the model was built says "press Reset to apply" beside it.

A redraw is text: the tile map of the regions is HTML and the charts are SVG
(:mod:`.svg`), built once per month in the thread that stepped the model
(:func:`snapshot`), so the page never reads a model halfway through a step.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time

import numpy as np
import solara

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.model import AGE_BANDS, slug
from egov_abm.model.calendar import month_date
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz import plots, svg
from egov_abm.viz.common import TITLE, ControlsHelp, NavigationTabs
from egov_abm.viz.controls import control
from egov_abm.viz.explore_model import START_CHOICES, ExploreModel, scenario_names

#: Where the page starts watching by default: months before run unseen when the model is built.
DEFAULT_START = "2020-01"
#: Play speeds: label -> seconds between months (0: as fast as the page redraws).
SPEEDS = {"1 month a second": 1.0, "2 months a second": 0.5, "4 months a second": 0.25,
          "as fast as it redraws": 0.0}
DEFAULT_SPEED = "4 months a second"
SETTINGS = ("scenario", "n_agents", "network", "mean_degree", "dose_scale", "p_success", "start_at", "seed")


def defaults() -> dict:
    """The settings the page starts with."""
    base = load_scenario("baseline").params
    return {"scenario": "baseline", "n_agents": 2000, "network": base.network, "mean_degree": base.mean_degree,
            "dose_scale": 1.0, "p_success": round(base.p_success, 2), "start_at": DEFAULT_START, "seed": "1"}


def scenario_items() -> list[dict]:
    """The scenario menu: each name with the first sentence of its description."""
    items = []
    for name in scenario_names():
        text = " ".join(load_scenario(name).description.split())
        first = text.split(". ")[0].rstrip(".")
        items.append({"value": name, "text": f"{name}: {first[:90]}{'…' if len(first) > 90 else ''}"})
    return items


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the page shows of the model after a month (built in the thread that stepped it)."""

    month: int
    horizon: int
    date: object
    running: bool
    status: dict  # adoption, this month, ever used, online, national cost so far
    states: dict  # state label -> citizens
    map_html: str
    chart_svg: str
    hist_svg: str


def _national_cost(model: ExploreModel) -> float:
    """Cost so far in KZT, national (:func:`~egov_abm.scenarios.runner.national_cost` of every month)."""
    from egov_abm.scenarios.runner import national_cost

    return float(sum(national_cost(r["cost_kzt"], r["cost_per_person_part_kzt"], model.n) for r in model.outcomes))


@functools.cache
def _months(start_month: str, horizon: int) -> tuple[list, list[str]]:
    """The dates of a horizon's months and their names (the chart's axis and hover), built once per scenario."""
    months = [month_date(start_month, m) for m in range(horizon + 1)]
    return months, [f"{d:%B %Y}" for d in months]


@functools.cache
def _region_adults() -> dict[str, float]:
    from egov_abm.calibration.defaults import population_spec

    adults = demographic_constants()["adult_population_2021"]
    shares = np.asarray(population_spec().region_shares, dtype=float)
    shares = shares / shares.sum()
    return {slug(name): adults * float(s) for name, s in zip(population_spec().region_names, shares, strict=True)}


def snapshot(model: ExploreModel) -> Snapshot:
    """The page's view of ``model`` now: status figures, the map and the charts as text."""
    rows = model.outcomes
    row = rows[-1]
    months, names = _months(model.params.start_month, model.horizon)

    def series(key: str) -> list[float]:
        return [100 * r[key] for r in rows]

    marks = [(model.watch_from, "watching from here")] if model.watch_from > 0 else []
    if model.scenario.policies:
        first = min(p.intervention.start for p in model.scenario.policies)
        marks.append((first, f"policy from {month_date(model.params.start_month, first):%b %Y}"))
    chart = svg.line_chart(months, [
        ("Overall, urban and rural", [svg.Series("all adults", series("adoption"), "#000000", width=2.2),
                                      svg.Series("urban", series("adoption_urban"), "#0072B2"),
                                      svg.Series("rural", series("adoption_rural"), "#E69F00", dash="5 3")]),
        ("By age band", [svg.Series(f"aged {b}", series(f"adoption_age_{slug(b)}"), c, dash=d)
                         for b, c, d in zip(AGE_BANDS, plots.AGE_COLOURS, ("", "5 3", "8 3 2 3", "2 2"),
                                            strict=True)]),
    ], y_label="used it in the last 12 months (% of adults)", month_names=names, marks=marks)
    regions = {slug(n): row[f"adoption_region_{slug(n)}"] for n in model.region_names
               if np.any(model.pop.region == model.region_names.index(n))}
    map_html = svg.tile_map(regions, _region_adults(),
                            title=f"Used the portal in the last 12 months, by region, {model.date:%B %Y}")
    start_values = {"attitude": model.attitude0, "trust": model.trust0, "readiness": model.readiness0}
    hist = svg.histograms([(title, plots._density(getattr(model, name)), plots._density(start_values[name]),
                            float(np.mean(getattr(model, name)))) for name, title in plots.CONSTRUCTS],
                          plots.CONSTRUCT_BINS, x_label="standard deviations of the survey",
                          now_label=f"{model.date:%b %Y}")
    counts = np.bincount(model.state_code, minlength=len(plots.STATE_LABELS))
    return Snapshot(
        month=model.month, horizon=model.horizon, date=model.date, running=model.running,
        status={"adoption": 100 * row["adoption"], "month_share": 100 * row["share_active_month"],
                "ever": 100 * row["share_ever_used"], "online": 100 * row["internet_access"],
                "cost": _national_cost(model)},
        states={label: int(c) for label, c in zip(plots.STATE_LABELS, counts, strict=True)},
        map_html=map_html, chart_svg=chart, hist_svg=hist)


class Session:
    """One browser session's model, its latest snapshot and the lock that keeps one step at a time."""

    def __init__(self, settings: dict):
        self.lock = threading.Lock()
        self.build(settings)

    def build(self, settings: dict) -> None:
        """A new model from the page's settings (values are checked by :class:`ExploreModel`)."""
        old = getattr(self, "model", None)
        model = ExploreModel(**settings)
        model.watch_from = model.month
        with self.lock:
            self.model = model
            self.applied = dict(settings)
            self.view = snapshot(model)
        if old is not None:
            _forget(old)

    def step(self) -> Snapshot:
        """One month (nothing after the horizon); returns the new snapshot."""
        with self.lock:
            if self.model.running:
                self.model.step()
                self.view = snapshot(self.model)
            return self.view


def _forget(model) -> None:
    """Let a discarded model go: Mesa 3.3.1 keeps every model that created agents in ``Agent._ids``."""
    import mesa

    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


def _hint(changed: bool):
    if changed:
        solara.Text("changed: press Reset to apply", classes=["reset-hint"],
                    style={"color": "#B35900", "font-size": "0.8em"})


@solara.component
def _SliderControl(name: str, key: str, settings, applied: dict, step, fmt: str):
    c = control(name)
    value = settings.value[key]
    solara.Text(f"{c.text}: {fmt.format(value)}{' ' + c.unit if c.unit else ''}", classes=[f"value-{key}"],
                style={"font-size": "0.9em", "font-weight": "500"})

    def on_value(v) -> None:
        settings.set({**settings.value, key: v})

    if c.integer or isinstance(step, int):
        solara.SliderInt(c.label, value=int(value), min=int(c.allowed[0]), max=int(c.allowed[1]), step=int(step),
                         on_value=on_value)
    else:
        solara.SliderFloat(c.label, value=float(value), min=float(c.allowed[0]), max=float(c.allowed[1]),
                           step=step, on_value=on_value)
    _hint(value != applied[key])


@solara.component
def Sidebar(session: Session, settings, playing, speed, tick, applied: dict, running: bool):
    """Run buttons, speed and the model's settings (each showing its value; changed ones say so).

    ``applied`` are the settings of the model in use and ``running`` whether it is before its horizon (props, so
    that the sidebar redraws when they change).
    """

    def reset():
        playing.set(False)
        session.build(settings.value)
        tick.set(tick.value + 1)

    def step():
        session.step()
        tick.set(tick.value + 1)

    with solara.Card("Run"):
        with solara.Row():
            solara.Button("Reset", on_click=reset, color="primary", classes=["explore-reset"])
            solara.Button("Step", on_click=step, disabled=playing.value or not running,
                          classes=["explore-step"])
            if playing.value:
                solara.Button("Pause", on_click=lambda: playing.set(False), classes=["explore-pause"])
            else:
                solara.Button("Play", on_click=lambda: playing.set(True), disabled=not running,
                              classes=["explore-play"])
        solara.Select("Speed", value=speed, values=list(SPEEDS))
    with solara.Card("Scenario and settings"):
        items = solara.use_memo(scenario_items, [])
        solara.v.Select(label="Scenario", items=items, v_model=settings.value["scenario"],
                        on_v_model=lambda v: settings.set({**settings.value, "scenario": v}),
                        class_="explore-scenario", hide_details=True)
        _hint(settings.value["scenario"] != applied["scenario"])
        description = " ".join(load_scenario(settings.value["scenario"]).description.split())
        solara.Text(description, style={"font-size": "0.8em", "color": "#555"})
        solara.Select("Start watching at (earlier months run unseen)", value=settings.value["start_at"],
                      values=list(START_CHOICES),
                      on_value=lambda v: settings.set({**settings.value, "start_at": v}))
        _hint(settings.value["start_at"] != applied["start_at"])
        _SliderControl("n_agents", "n_agents", settings, applied, 100, "{:,}")
        network = control("network")
        solara.Select(network.label, value=settings.value["network"], values=list(network.choices),
                      on_value=lambda v: settings.set({**settings.value, "network": v}))
        _hint(settings.value["network"] != applied["network"])
        _SliderControl("mean_degree", "mean_degree", settings, applied, 1, "{:g}")
        _SliderControl("dose_scale", "dose_scale", settings, applied, 0.1, "{:.1f}")
        _SliderControl("p_success", "p_success", settings, applied, 0.01, "{:.2f}")
        solara.InputText(f"{control('seed').label} (whole number)", value=settings.value["seed"],
                         on_value=lambda v: settings.set({**settings.value, "seed": v}), continuous_update=True)
        _hint(str(settings.value["seed"]) != str(applied["seed"]))


@solara.component
def ExploreView(session: Session, tick: int, show_network: bool):
    """Status, map, charts of the latest snapshot (``tick`` changes when it does)."""
    view = session.view
    model = session.model
    s = view.status
    with solara.Row(style={"flex-wrap": "wrap", "gap": "24px", "align-items": "baseline"}):
        solara.v.Html(tag="h3", children=[f"{view.date:%B %Y}"], style_="margin: 8px 0 4px 0")
        solara.Text(f"month {view.month} of {view.horizon}", classes=["explore-month"])
        solara.Text(f"Used the portal in the last 12 months: {s['adoption']:.1f} % of adults "
                    f"({s['month_share']:.1f} % this month)", classes=["explore-adoption"])
        solara.Text(f"Ever used: {s['ever']:.1f} %")
        solara.Text(f"Online: {s['online']:.1f} %")
        if s["cost"] > 0:
            solara.Text(f"Spent so far (national): {s['cost'] / 1e9:,.2f} bn KZT", classes=["explore-cost"])
    p = model.params
    solara.Text(f"Settings in use: {model.n:,} citizens, {p.network} network with {p.mean_degree:g} contacts each on "
                f"average, policy dose × {model.dose_scale:g}, portal use succeeds with probability "
                f"{p.p_success:.2f}, seed {model.seed_value}; watching from "
                f"{month_date(p.start_month, model.watch_from):%B %Y} (the months before ran unseen).",
                classes=["explore-settings"], style={"font-size": "0.9em"})
    for note in model.input_notes:
        solara.Warning(note, dense=True)
    if not view.running:
        solara.Info(f"The scenario's horizon ({view.date:%B %Y}) is reached: press Reset to start again.",
                    dense=True)
    with solara.Row(style={"flex-wrap": "wrap", "gap": "24px", "align-items": "flex-start"}):
        solara.HTML(tag="div", unsafe_innerHTML=view.map_html, classes=["explore-map"])
        with solara.Column(style={"font-size": "0.9em", "min-width": "220px"}):
            solara.Text("Citizens by state now", style={"font-weight": "bold"})
            for (label, count), colour in zip(view.states.items(), plots.STATE_COLOURS, strict=True):
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f"<span style='display:inline-block;width:10px;height:10px;border-radius:50%;"
                    f"background:{colour};margin-right:6px'></span>{label}: {count:,}"))
    solara.HTML(tag="div", unsafe_innerHTML=view.chart_svg, classes=["explore-chart"])
    solara.HTML(tag="div", unsafe_innerHTML=view.hist_svg, classes=["explore-histograms"])
    if show_network:
        NetworkPicture(model, tick)


@solara.component
def NetworkPicture(model: ExploreModel, tick: int):
    """The social graph with citizens coloured by state (matplotlib; drawn only when asked for)."""
    figure = solara.use_memo(lambda: plots.network_figure(model, model.drawing()), [tick, id(model)])
    solara.FigureMatplotlib(figure, dependencies=[tick, id(model)], format="png", **plots.PNG_OPTIONS)


@solara.component
def Explore():
    """Watch one scenario month by month."""
    settings = solara.use_reactive(solara.use_memo(defaults, []))
    session = solara.use_memo(lambda: Session(settings.value), [])
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(DEFAULT_SPEED)
    tick = solara.use_reactive(0)
    show_network = solara.use_reactive(False)

    def play(cancel: threading.Event):
        if not playing.value:
            return
        interval = SPEEDS.get(speed.value, 0.25)
        due = time.perf_counter()
        while not cancel.is_set() and playing.value:
            view = session.step()
            tick.set(tick.value + 1)
            if not view.running:
                playing.set(False)
                return
            due = max(due + interval, time.perf_counter() + 0.03)  # on schedule; a slow redraw does not pile up
            if cancel.wait(due - time.perf_counter()):
                return

    solara.use_thread(play, dependencies=[playing.value, speed.value])
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        Sidebar(session, settings, playing, speed, tick, dict(session.applied), session.view.running)
    NavigationTabs()
    with solara.Column(style={"padding": "0 16px"}):
        ExploreView(session, tick.value, show_network.value)
        solara.Checkbox(label="Also draw the social network (a picture of up to 2,000 citizens, slower to redraw)",
                        value=show_network)
        ControlsHelp(["n_agents", "network", "mean_degree", "dose_scale", "p_success", "seed"])
