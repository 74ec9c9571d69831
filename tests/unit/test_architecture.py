"""The house rules of docs/architecture.md, checked on the code: who may import whom, and
where SQL is built."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = {"ektp_sync": ROOT / "src" / "ektp_sync", "central_server": ROOT / "central_server"}
PACKAGES["local_server"] = ROOT / "local_server"
#: each server's store: the only part of it that may build SQL (its migrations are inside it)
STORES = {"central_server": "central_server.store", "local_server": "local_server.store"}


def modules(package: str) -> Iterator[tuple[str, Path]]:
    base = PACKAGES[package]
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(base.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(module: str, path: Path) -> set[str]:
    """Modules `module` imports, anywhere in it (lazy imports are arrows too), except under
    `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("server", ["central_server", "local_server"])
def test_no_module_of_a_server_outside_its_store_builds_sql(server: str) -> None:
    store = STORES[server]
    if not (ROOT / Path(*store.split("."))).is_dir():
        pytest.skip(f"{store} does not exist (yet)")
    offenders = {
        module: sorted(n for n in imports(module, path) if within(n, "sqlalchemy"))
        for module, path in modules(server)
        if not within(module, store)
    }
    assert not {m: names for m, names in offenders.items() if names}


def test_the_shared_core_imports_no_server() -> None:
    """Arrows point from the servers to the shared core, never back (the CLI, on top of both,
    starts the servers, so it may import them)."""
    for module, path in modules("ektp_sync"):
        if within(module, "ektp_sync.cli"):
            continue
        wrong = [
            n
            for n in imports(module, path)
            if within(n, "central_server") or within(n, "local_server")
        ]
        assert not wrong, f"{module} imports {wrong}"


def test_the_servers_do_not_import_each_other() -> None:
    for server, other in (("central_server", "local_server"), ("local_server", "central_server")):
        for module, path in modules(server):
            wrong = [n for n in imports(module, path) if within(n, other)]
            assert not wrong, f"{module} imports {wrong}"


def test_the_centres_store_imports_nothing_else_of_the_centre() -> None:
    for module, path in modules("central_server"):
        if within(module, "central_server.store"):
            wrong = [
                n
                for n in imports(module, path)
                if within(n, "central_server") and not within(n, "central_server.store")
            ]
            assert not wrong, f"{module} imports {wrong}"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    known = dict(modules(package))
    graph = {
        module: {n for n in imports(module, path) if n in known and n != module}
        for module, path in known.items()
    }
    # a package imports its own submodules by being one; only module-to-module cycles count
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target) :] if target in trail else [module]
                pytest.fail(f"import cycle: {' -> '.join([*cycle, target])}")
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
