"""``python -m pacslabel.cli``: the ``pacslabel`` command."""

import sys

from pacslabel.cli.main import main

sys.exit(main())
