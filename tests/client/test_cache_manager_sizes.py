"""``CacheManager.prune(max_size=...)`` takes the command line's sizes (issue 18 §4): one parser for both."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gobbler_sdk import GobblerClient, InvalidRequestError
from gobbler_sdk._units import parse_size
from gobbler_sdk.cli.cache import parse_size as cli_parse_size
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, unique


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("42", 42),
        ("7B", 7),
        ("500M", 500_000_000),
        ("2 kb", 2000),
        ("1.5GiB", 1_610_612_736),
        ("20GiB", 20 << 30),
    ],
)
def test_sizes_read_the_same_in_python_and_on_the_command_line(text: str, size: int) -> None:
    assert parse_size(text) == cli_parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "1.5.2M", "-3K", "12 parsecs", "1iB"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_prune_takes_a_size_with_units(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    client = make_client(service.url, transport="remote")
    project = new_project(service)
    for version in ("old", "new"):
        source = make_tree(service.staging / unique("src"), {"big": "x" * 6000, "small": version})
        service.request(
            "upload", {"source": source.name, "project": project, "asset": "a", "version": version}
        )
        client.project(project).asset("a").version(version).fetch_directory()
        time.sleep(0.05)  # "new" is then the more recently used
    sizes = {v.version: v.size for v in client.cache.scan().versions}
    assert sizes["new"] <= 10 * 1024 < sizes["old"] + sizes["new"]

    assert client.cache.prune(max_size="20GiB").versions == []
    report = client.cache.prune(max_size="10KiB")
    assert [v.version for v in report.versions] == ["old"]
    assert [v.version for v in client.cache.scan().versions] == ["new"]

    with pytest.raises(InvalidRequestError, match="'ten gigs' is not a size"):
        client.cache.prune(max_size="ten gigs")
