"""Sphinx configuration for the gobbler-sdk documentation (built by ``make docs`` with warnings as errors)."""

from __future__ import annotations

import gobbler_sdk

project = "gobbler-sdk"
author = "gobbler-sdk developers"
release = gobbler_sdk.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_click",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Google-style docstrings; attributes as fields so pydantic models are not documented twice.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_attr_annotations = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = "gobbler-sdk"
html_static_path: list[str] = []
