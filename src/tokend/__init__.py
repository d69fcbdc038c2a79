"""tokend: one service that issues, brokers, stores and validates tokens."""

from importlib.metadata import PackageNotFoundError, version


def _installed_version() -> str:
    # The server's distribution, or tokend-guard alone in a resource server: one version.
    for distribution in ("tokend", "tokend-guard"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "0.0.0"  # running from a source tree without an install


__version__ = _installed_version()

__all__ = ["__version__"]
