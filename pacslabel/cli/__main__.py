"""``python -m pacslabel.cli``: the ``pacslabel`` command."""

from pacslabel.cli.main import entry

entry()
