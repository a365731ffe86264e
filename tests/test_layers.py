"""The package's layers: routes on top, the store and core modules below, app keys in one place."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"
# What only the command line, the application factory and the routes themselves may import.
TOP = ("tracker.routes", "tracker.app", "tracker.cli", "tracker.__main__")


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_only_the_top_layer_imports_routes_the_app_or_the_cli() -> None:
    wrong = {
        name: sorted(n for n in imported(tree) if within(n, TOP))
        for name, tree in modules().items()
        if not within(name, TOP)
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_the_store_imports_nothing_that_uses_it() -> None:
    above = (*TOP, "tracker.keys", "tracker.pages", "tracker.workflow", "tracker.webhooks")
    wrong = {
        name: sorted(n for n in imported(tree) if within(n, above))
        for name, tree in modules().items()
        if within(name, ("tracker.store",))
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_every_app_key_is_made_in_keys() -> None:
    made = sorted(
        name
        for name, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "AppKey"
    )
    assert made and set(made) == {"tracker.keys"}, made
