"""``python -m deploykit.cli``: the ``deploykit`` command."""

import sys

from deploykit.cli import main

sys.exit(main())
