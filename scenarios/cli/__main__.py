"""``python -m egov_abm.scenarios.cli``: the same as the ``egov-abm`` command."""

import sys

from egov_abm.scenarios.cli import main

sys.exit(main())
