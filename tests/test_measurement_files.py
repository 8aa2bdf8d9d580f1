"""The shipped measurement model is the one its builder makes from the shipped survey and SEM fit."""

import json

from egov_abm.calibration import item_scales
from egov_abm.model.measurement import ITEM_SCALES_FILE


def test_item_scales_file_is_current():
    assert json.loads(ITEM_SCALES_FILE.read_text(encoding="utf-8")) == item_scales.build()
