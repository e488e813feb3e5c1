"""gobbler-sdk: a typed, object-oriented Python SDK for Gobbler registries.

The embedded Gobbler service lives in :mod:`gobbler_sdk.server`; helpers to start services for tests
and development live in :mod:`gobbler_sdk.testing`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
