"""The library's logger: ``logging.getLogger("gobbler_sdk")``, with no handlers of its own.

Applications choose where records go (``logging.basicConfig(level=logging.DEBUG)`` shows them all).
Requests, retries, cache hits and misses and fallbacks are recorded at DEBUG or INFO; degraded modes (a
read served from the cache because the service is unreachable, say) are warnings.
"""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("gobbler_sdk")
