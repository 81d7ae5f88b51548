"""pacslabel: the application that runs the loop next to a hospital PACS.

In layers, each importing only from those before it: the errors, settings,
task and progress protocol; the context, registry, linkage and annotations;
the pipeline (:mod:`pacslabel.pipeline`: stages, one pass, the schedule) and
the tools beside it (:mod:`pacslabel.tools`); the ``pacslabel`` command
(:mod:`pacslabel.cli`).
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("pacslabel")
except _metadata.PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
