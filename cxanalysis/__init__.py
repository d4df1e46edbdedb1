"""cxanalysis: a statistical toolkit that shows what customer experience is worth.

Modules: ``config``, ``io``, ``schema``, ``sample``, ``metrics``, ``segments``, ``trends``,
``models``, ``roi``, ``clusters``, ``drivers``, ``text``, ``plots``, ``report``, ``summary``, ``cli``,
``resources`` (where the notebooks and the bundled sample are, installed or in a checkout),
``survey`` (survey-platform exports joined to the customer table).
Import what you need from each, e.g. ``from cxanalysis.metrics import nps``.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("cxanalysis")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
