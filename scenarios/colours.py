"""One colour per scenario, the same in every chart, the CLI's reports and the app.

Okabe-Ito colours (distinguishable with the common forms of colour-blindness),
without its yellow, which is nearly invisible on white: the baseline is always
black; each shipped policy has a fixed colour (by its name, so a policy keeps
its colour whichever others are compared with it); other scenarios take the
colours left, in order.
"""

from __future__ import annotations

from collections.abc import Iterable

BASELINE_COLOUR = "#000000"
#: Okabe-Ito without black and yellow, then Tol's wine for an eighth policy.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#999999", "#882255")


def _shipped() -> list[str]:
    from egov_abm.scenarios.scenario import SCENARIO_DIR

    return sorted(p.stem for p in (SCENARIO_DIR / "policies").glob("*.toml"))


def scenario_colours(names: Iterable[str], baseline: str = "baseline") -> dict[str, str]:
    """Scenario name -> colour: the baseline black, shipped policies fixed by name, others in palette order."""
    names = list(dict.fromkeys(names))
    shipped = _shipped()
    out = {baseline: BASELINE_COLOUR}
    for name in names:
        if name != baseline and name in shipped:
            out[name] = PALETTE[shipped.index(name) % len(PALETTE)]
    spare = [c for c in PALETTE if c not in out.values()] or list(PALETTE)
    for k, name in enumerate(n for n in names if n not in out):
        out[name] = spare[k % len(spare)]
    return {n: out[n] for n in names}
