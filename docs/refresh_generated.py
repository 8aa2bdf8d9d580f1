"""Refresh the generated blocks of docs/ODD.md from the code (run after changing a process, effect or parameter).

Usage: ``python docs/refresh_generated.py``. Each block sits between
``<!-- generated: NAME -->`` and ``<!-- end generated -->``; tests/test_params.py
checks that the file is current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from egov_abm.model.interventions import effects_table
from egov_abm.model.params import markdown_table
from egov_abm.model.processes import step_order

ODD = Path(__file__).resolve().parent / "ODD.md"
BLOCKS = {"step_order": step_order, "effects_table": effects_table, "markdown_table": markdown_table}
PATTERN = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def refresh(text: str) -> str:
    """``text`` with every generated block written anew."""
    return PATTERN.sub(lambda m: m.group(1) + BLOCKS[m.group(2)]() + "\n" + m.group(4), text)


if __name__ == "__main__":
    old = ODD.read_text(encoding="utf-8")
    new = refresh(old)
    ODD.write_text(new, encoding="utf-8")
    print(f"{ODD}: {'updated' if new != old else 'already current'}")
    sys.exit(0)
