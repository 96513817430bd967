"""``python -m pdekit``: the ``pdekit`` command (for launchers that start modules, such as torchrun)."""

import sys

from .cli import main

sys.exit(main())
