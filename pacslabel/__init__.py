"""pacslabel: the application that runs the loop next to a hospital PACS.

Typed settings, the task definition, the stages of the loop composed in
:mod:`pacslabel.loop`, the demo and the ``pacslabel`` command.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pacslabel")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
