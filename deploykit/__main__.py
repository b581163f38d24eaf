"""``python -m deploykit``: the ``deploykit`` command, as ``python -m deploykit.cli`` runs it."""

import sys

from deploykit.cli import main

sys.exit(main())
