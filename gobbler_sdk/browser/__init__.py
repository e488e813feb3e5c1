"""``gobbler-sdk browse``: a read-only web interface over a Gobbler registry.

:func:`create_app` builds the ASGI application (Starlette, Jinja2 templates, the style sheet and script
served by the application itself, nothing from the internet) over a :class:`~gobbler_sdk.GobblerClient`;
:func:`serve` runs it with uvicorn. Needs the ``browse`` extra (``pip install 'gobbler-sdk[browse]'``).

Pages: projects, a project's assets with its permissions and usage, an asset's versions (latest and
probational ones marked, uploader, upload time, files, size), a version's summary and paged file table
(filter, sort, link targets), a file's download and preview, the comparison of two versions, and a search
over names. See the "Browse" page of the documentation.
"""

from __future__ import annotations

from .app import PAGE_SIZE, create_app
from .server import serve

__all__ = ["PAGE_SIZE", "create_app", "serve"]
