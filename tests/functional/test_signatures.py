"""gobbler_sdk.functional offers exactly pygobbler 0.1.11's public functions, with identical signatures."""

from __future__ import annotations

import inspect
from types import ModuleType

import pygobbler
import pytest

import gobbler_sdk.functional as functional


def public_functions(module: ModuleType) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(module).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


PYGOBBLER = public_functions(pygobbler)


def test_the_reference_is_pygobbler_0_1_11() -> None:
    assert pygobbler.__version__ == "0.1.11"
    assert len(PYGOBBLER) == 31


def test_same_function_names() -> None:
    assert set(public_functions(functional)) == set(PYGOBBLER)
    assert sorted(functional.__all__) == sorted(PYGOBBLER)


@pytest.mark.parametrize("name", sorted(PYGOBBLER))
def test_identical_signature(name: str) -> None:
    ours = getattr(functional, name)
    theirs = PYGOBBLER[name]
    # Signature equality covers parameter names, order, kinds, defaults, annotations and the return
    # annotation ("str | None" and "Optional[str]" compare equal; typing.List/Dict/Tuple are used as-is).
    assert inspect.signature(ours) == inspect.signature(theirs)
    # And it is our own implementation, not a re-export of pygobbler's.
    assert ours.__module__.startswith("gobbler_sdk.functional")
    assert inspect.getdoc(ours)
