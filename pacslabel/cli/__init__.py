"""The ``pacslabel`` command (:func:`main`): one module per subcommand, shared output in
:mod:`~pacslabel.cli.output`."""

from pacslabel.cli.main import entry, main

__all__ = ["entry", "main"]
