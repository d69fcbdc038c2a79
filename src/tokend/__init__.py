"""tokend: one service that issues, brokers, stores and validates tokens."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tokend")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
