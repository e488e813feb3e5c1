"""The async surface: :class:`AsyncGobblerClient` and its handles, over the sync client's core.

One core, two surfaces. The core (documents, downloads, writes, transports, cache) is written once, in
blocking style, and the sync client calls it directly. The async client calls the very same core on a
bounded pool of worker threads and awaits the result; the event loop does no I/O of its own. Why this
design, and what it measured, is in the docs' architecture page ("Async").
"""

from __future__ import annotations

from ._client import AsyncGobblerClient
from ._handles import AsyncAsset, AsyncProject, AsyncVersion

__all__ = ["AsyncAsset", "AsyncGobblerClient", "AsyncProject", "AsyncVersion"]
