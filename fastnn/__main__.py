"""``python -m fastnn``: the ``fastnn`` command (see ``fastnn.cli``)."""

import sys

from fastnn.cli import main

sys.exit(main())
