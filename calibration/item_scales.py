"""Build ``model/data/item_scales.json``: the measurement model of attitude and trust on their items.

Loadings are the standardised loadings of the fitted SEM
(``calibration/params/sem_default.json``); thresholds are the standard normal
quantiles of each item's cumulative answer shares in the reconstructed survey
(``calibration/data/survey_reconstructed.csv``, whose marginals follow the
published item means). See :mod:`model.measurement` for how they are read.

Run ``python -m egov_abm.calibration.item_scales`` to rebuild the file (a test
checks that the shipped file is current).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE
from egov_abm.calibration.reconstruct import ITEMS, OUT_CSV
from egov_abm.model.measurement import ITEM_SCALES_FILE

CONSTRUCTS = ("attitude", "trust")


def build(survey: Path = OUT_CSV, sem_file: Path = DEFAULT_SEM_FILE) -> dict:
    """The item-scales document from the survey and the SEM fit."""
    data = pd.read_csv(survey)
    fit = json.loads(Path(sem_file).read_text(encoding="utf-8"))
    loading = {e["rval"]: e["std_estimate"] for e in fit["estimates"] if e["op"] == "=~"}
    constructs = {}
    for name in CONSTRUCTS:
        items = ITEMS[name]
        thresholds = []
        for item in items:
            shares = data[item].value_counts(normalize=True).reindex(range(1, 6), fill_value=0.0)
            cumulative = np.clip(shares.cumsum().to_numpy()[:-1], 1e-6, 1 - 1e-6)
            thresholds.append([round(float(t), 6) for t in norm.ppf(cumulative)])
        constructs[name] = {"items": list(items), "loadings": [round(float(loading[i]), 6) for i in items],
                            "thresholds": thresholds}
    return {"source": "loadings: calibration/params/sem_default.json (standardised); thresholds: normal quantiles "
                      "of the cumulative answer shares in calibration/data/survey_reconstructed.csv "
                      "(reconstructed from Amirova 2021's published aggregates)",
            "made_by": "python -m egov_abm.calibration.item_scales",
            "constructs": constructs}


def render(doc: dict) -> str:
    """The file's text."""
    return json.dumps(doc, indent=2) + "\n"


def main() -> int:
    """Rebuild the shipped file."""
    Path(str(ITEM_SCALES_FILE)).write_text(render(build()), encoding="utf-8")
    print(f"wrote {ITEM_SCALES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
