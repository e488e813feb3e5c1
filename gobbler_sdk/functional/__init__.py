"""pygobbler's flat functions on top of gobbler-sdk: switch with one import.

Scripts written for pygobbler 0.1.11 keep working after replacing ``import pygobbler as pyg`` with::

    import gobbler_sdk.functional as pyg

Every function has pygobbler's name and signature and returns the same kind of value (plain dictionaries,
lists, strings, integers, ``None``), but runs on :class:`~gobbler_sdk.GobblerClient`: pooled connections,
verified downloads, request files that are never resent, and the typed :class:`~gobbler_sdk.GobblerError`
exceptions instead of ``requests.HTTPError``. See ``docs/migrating.md`` for the differences.
"""

from ._reads import (
    fetch_directory,
    fetch_file,
    fetch_latest,
    fetch_manifest,
    fetch_permissions,
    fetch_summary,
    fetch_usage,
    list_assets,
    list_files,
    list_projects,
    list_versions,
    service_info,
    unpack_path,
    version_path,
)
from ._service import start_gobbler, stop_gobbler
from ._writes import (
    allocate_upload_directory,
    approve_probation,
    clone_version,
    create_project,
    refresh_latest,
    refresh_usage,
    reindex_version,
    reject_probation,
    remove_asset,
    remove_project,
    remove_version,
    reroute_links,
    set_permissions,
    upload_directory,
    validate_version,
)

__all__ = [
    "allocate_upload_directory",
    "approve_probation",
    "clone_version",
    "create_project",
    "fetch_directory",
    "fetch_file",
    "fetch_latest",
    "fetch_manifest",
    "fetch_permissions",
    "fetch_summary",
    "fetch_usage",
    "list_assets",
    "list_files",
    "list_projects",
    "list_versions",
    "refresh_latest",
    "refresh_usage",
    "reindex_version",
    "reject_probation",
    "remove_asset",
    "remove_project",
    "remove_version",
    "reroute_links",
    "service_info",
    "set_permissions",
    "start_gobbler",
    "stop_gobbler",
    "unpack_path",
    "upload_directory",
    "validate_version",
    "version_path",
]
