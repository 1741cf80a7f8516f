"""Wearmon: stream processing for wearable health monitoring.

The repository keeps the project brief's layout (``stream/`` and ``models/`` at the top); both are
installed under this one package, as ``wearmon.stream`` and ``wearmon.models``, so the installed
project adds a single name to site-packages.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wearmon")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
