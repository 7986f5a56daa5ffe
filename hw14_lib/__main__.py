"""``python -m hw14_lib``: the command line (see :mod:`hw14_lib.cli`)."""

import sys

from hw14_lib.cli import main

sys.exit(main())
