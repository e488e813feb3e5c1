"""How the command line is built: no import circle, and only the SDK's public API.

Read from the source (the imports that run, not those under ``if TYPE_CHECKING:``), so a circle or a
reach into the SDK's private modules fails here before it can only sometimes fail at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gobbler_sdk.cli

CLI = Path(gobbler_sdk.cli.__file__).parent


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node outside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                pending.extend(child.orelse)
                continue
            pending.append(child)
    return found


def _imports(module: str) -> list[str]:
    """The absolute names of the modules ``gobbler_sdk.cli.<module>`` imports when it runs."""
    tree = ast.parse((CLI / f"{module}.py").read_text())
    names: list[str] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                package = ["gobbler_sdk", "cli"][: 3 - node.level]
                base = ".".join(package + ([node.module] if node.module else []))
            names.append(base)
            # "from . import reads" imports the module gobbler_sdk.cli.reads.
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def _cli_modules() -> list[str]:
    return sorted(path.stem for path in CLI.glob("*.py"))


def test_no_import_circle_among_the_command_line_modules() -> None:
    modules = set(_cli_modules())
    edges = {
        module: {
            name.removeprefix("gobbler_sdk.cli.")
            for name in _imports(module)
            if name.startswith("gobbler_sdk.cli.") and name.removeprefix("gobbler_sdk.cli.") in modules
        }
        for module in modules
    }
    # A depth-first search with an explicit stack: a back edge is a circle.
    state: dict[str, str] = {}
    for start in sorted(modules):
        if start in state:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        state[start] = "open"
        path = [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(child) :], child]))
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(edges[child]))))
    importers = {module for module, imported in edges.items() if "main" in imported}
    assert importers == {"__init__", "_reference"}, "only the entry point and the docs import main"
    assert edges["app"] <= {"exitcodes", "output"}


def test_only_the_public_api_of_the_sdk() -> None:
    for module in _cli_modules():
        source = (CLI / f"{module}.py").read_text()
        for name in _imports(module):
            parts = name.split(".")
            if parts[0] == "gobbler_sdk" and parts[1:2] != ["cli"]:
                assert not any(p.startswith("_") and not p.startswith("__") for p in parts[1:]), name
        # Which transport reads use is client.transport.kind, never a class check.
        assert "LocalTransport" not in source and "RemoteTransport" not in source
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                owner = ast.unparse(node.value)
                # Our own objects' state and typer's internals (completion.py) are not the SDK's.
                assert owner in ("self", "_completion_shared"), f"{module}: {ast.unparse(node)}"
