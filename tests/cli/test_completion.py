"""Shell completion through typer's machinery (the variables bash and zsh set), names from the registry."""

from __future__ import annotations

from pathlib import Path

from gobbler_sdk.testing import GobblerService

from .conftest import World, environment, run_script


def bash_candidates(url: str, cache: Path, words: str) -> list[str]:
    """What ``gobbler-sdk`` offers bash for the last of ``words`` (COMP_WORDS / COMP_CWORD)."""
    env = environment(
        url,
        cache,
        _GOBBLER_SDK_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    )
    return run_script([], env).stdout.split()


def test_names_are_completed_level_by_level(service: GobblerService, world: World, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    prefix = world.project[:-3]
    assert world.project + "/" in bash_candidates(service.url, cache, f"gobbler-sdk ls {prefix}")
    assert bash_candidates(service.url, cache, f"gobbler-sdk rm {world.project}/d") == [f"{world.asset}/"]
    # "permissions PATH" completes both its sub-commands and, as "permissions show" would, the names.
    assert bash_candidates(service.url, cache, f"gobbler-sdk permissions {world.project}/") == [world.asset]
    assert bash_candidates(service.url, cache, f"gobbler-sdk --transport remote approve {world.asset}/") == [
        f"{world.asset}/v1",
        f"{world.asset}/v2",
    ]
    assert bash_candidates(service.url, cache, f"gobbler-sdk cat {world.asset}/v1/") == [
        f"{world.asset}/v1/a.txt",
        f"{world.asset}/v1/empty",
        f"{world.asset}/v1/sub/",
    ]


def test_nothing_is_offered_when_the_service_is_unreachable(stopped: GobblerService, tmp_path: Path) -> None:
    assert bash_candidates(stopped.url, tmp_path / "cache", "gobbler-sdk ls x") == []
