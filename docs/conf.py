"""Sphinx configuration for the gobbler-sdk documentation (built by ``make docs`` with warnings as errors)."""

from __future__ import annotations

import gobbler_sdk

project = "gobbler-sdk"
author = "gobbler-sdk developers"
copyright = "2026, gobbler-sdk developers (MIT licence)"
release = gobbler_sdk.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxcontrib.autodoc_pydantic",
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

# Pydantic models: their fields with types and defaults, without the config, validators, JSON schema or
# the Annotated[...] spelling of the timestamp type.
autodoc_pydantic_model_show_json = False
autodoc_pydantic_model_show_config_summary = False
autodoc_pydantic_model_show_validator_summary = False
autodoc_pydantic_model_show_validator_members = False
autodoc_pydantic_model_show_field_summary = False
autodoc_pydantic_model_member_order = "bysource"
autodoc_pydantic_model_members = True
autodoc_pydantic_model_undoc_members = False
autodoc_pydantic_field_list_validators = False
autodoc_pydantic_field_show_constraints = False
autodoc_pydantic_field_show_alias = True
autodoc_pydantic_model_hide_paramlist = True
autodoc_pydantic_model_signature_prefix = "model"
autodoc_pydantic_model_erdantic_figure = False
autodoc_type_aliases = {"Timestamp": "datetime"}

# viewcode's [source] links point into _modules/; lazily imported public names (PEP 562) are resolved to
# the module that defines them, so each link finds its page.
viewcode_follow_imported_members = True

html_theme = "furo"
html_title = "gobbler-sdk"
html_static_path: list[str] = []


def _public_bases(app: object, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Show only public base classes: not the models' private ``_Document`` nor ``RootModel[...]``."""
    public = [base for base in bases if not base.__name__.startswith(("_", "RootModel"))]
    if bases and not public:
        from pydantic import BaseModel

        public = [BaseModel]
    bases[:] = public


def setup(app: object) -> None:
    """Register the hooks above."""
    app.connect("autodoc-process-bases", _public_bases)  # type: ignore[attr-defined]
