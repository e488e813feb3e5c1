"""The async surface keeps in step with the sync one: same names, same parameters, coroutines for I/O.

This is the check that fails when a method is added to, or changed on, one surface and not the other.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from gobbler_sdk import (
    Asset,
    AsyncAsset,
    AsyncGobblerClient,
    AsyncProject,
    AsyncVersion,
    GobblerClient,
    Project,
    Version,
)

# Names the async surface deliberately lacks, or offers differently, and why.
DIFFERENT: dict[str, str] = {
    # Properties whose first read may ask the service are coroutines on the async client.
    "GobblerClient.staging": "coroutine method",
    "GobblerClient.registry": "coroutine method",
    "GobblerClient.transport": "coroutine method",
    # The cache manager's scans block on the disk: reach it through AsyncGobblerClient.sync.
    "GobblerClient.cache": "through .sync",
    # A lazily read feed would do I/O during iteration: the async client returns the events read whole.
    "GobblerClient.changes": "returns a list",
    # Closing awaits on the async client, as httpx's AsyncClient.aclose does.
    "GobblerClient.close": "aclose",
}
# Names only the async surface has.
ASYNC_ONLY = {
    "sync",
    "from_client",
    "aclose",
    "handle",
    "staging",
    "registry",
    "transport",
    "__aenter__",
    "__aexit__",
}
# No I/O: plain methods and properties on both surfaces.
NO_IO = {
    "project",
    "asset",
    "version",
    "client",
    "key",
    "path",
    "name",
    "url",
    "timeout",
    "concurrency",
    "retries",
    "submit_timeout",
    "cache_dir",
    "offline",
}

PAIRS = [
    (GobblerClient, AsyncGobblerClient),
    (Project, AsyncProject),
    (Asset, AsyncAsset),
    (Version, AsyncVersion),
]


def _public(cls: type) -> dict[str, Any]:
    return {
        name: member
        for klass in reversed(cls.__mro__)
        for name, member in vars(klass).items()
        if not name.startswith("_") and klass is not object
    }


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_every_public_name_exists_on_both_surfaces(sync: type, async_: type) -> None:
    sync_names = {n for n in _public(sync) if f"{sync.__name__}.{n}" not in DIFFERENT}
    async_names = set(_public(async_)) - ASYNC_ONLY
    missing = sorted(sync_names - set(_public(async_)))
    extra = sorted(async_names - set(_public(sync)))
    assert missing == [], f"{async_.__name__} lacks {missing}"
    assert extra == [], f"{async_.__name__} has {extra} that {sync.__name__} has not"


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_same_methods_take_the_same_parameters_and_io_is_awaited(sync: type, async_: type) -> None:
    for name, member in _public(sync).items():
        if f"{sync.__name__}.{name}" in DIFFERENT or name not in _public(async_):
            continue
        other = _public(async_)[name]
        if isinstance(member, property):
            assert isinstance(other, property), f"{async_.__name__}.{name} should be a property"
            continue
        if not callable(member):
            continue
        ours, theirs = inspect.signature(member), inspect.signature(other)
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()
        ], f"{name}: {ours} vs {theirs}"
        if name in NO_IO:
            assert not inspect.iscoroutinefunction(other), f"{async_.__name__}.{name} does no I/O"
        else:
            assert inspect.iscoroutinefunction(other), (
                f"{async_.__name__}.{name} does I/O: it must be awaited"
            )


def test_the_constructors_take_the_same_arguments() -> None:
    assert inspect.signature(AsyncGobblerClient.__init__) == inspect.signature(GobblerClient.__init__)
