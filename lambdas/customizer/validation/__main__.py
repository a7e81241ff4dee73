"""``python -m customizer.validation``: see customizer.validation.cli."""

import sys

from customizer.validation.cli import main

sys.exit(main())
