"""The office node's shape, as docs/architecture.md states it, checked on the source itself.

Imports go one way (app → routes and console → metrics → service → figures → sync → store, all
→ errors and the shared core); only the store builds SQL, only the HTTP edge knows FastAPI, the
loops use the link's own API, and the shared core does not import the node (the CLI aside).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "local_server"
CORE = ROOT / "src" / "ektp_sync"

#: a module may import from its own part and from parts of a lower rank only
RANK = {
    "errors": 0,
    "store": 1,
    "sync": 2,
    "figures": 3,
    "service": 4,
    "metrics": 5,
    "auth": 5,
    "audit": 5,
    "guards": 5,
    "routes": 6,
    "console": 6,
    "errors_http": 6,
    "app": 7,
}
HTTP_EDGE = {"app", "routes", "console", "errors_http", "auth", "audit", "guards"}


def modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def part(path: Path) -> str:
    """The part of the node a module belongs to: its sub-package, or its own name."""
    first = path.relative_to(NODE).parts[0]
    return first.removesuffix(".py")


def node_part_of(module: str) -> str | None:
    if module == "local_server" or not module.startswith("local_server."):
        return None
    return module.split(".")[1]


NODE_MODULES = [p for p in modules(NODE) if part(p) != "__init__"]


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", NODE_MODULES, ids=ids(NODE_MODULES))
def test_imports_go_one_way(path: Path) -> None:
    mine = part(path)
    for module in imported(path):
        theirs = node_part_of(module)
        if theirs is None or theirs == mine:
            continue
        assert RANK[theirs] < RANK[mine], f"{mine} imports {module}"
        if mine == "sync":
            assert module != "local_server.service"


@pytest.mark.parametrize("path", NODE_MODULES, ids=ids(NODE_MODULES))
def test_only_the_store_builds_sql_and_only_the_edge_speaks_http(path: Path) -> None:
    for module in imported(path):
        if module.startswith("sqlalchemy") and part(path) != "store":
            # the engine's type may be passed around; building statements may not
            assert module == "sqlalchemy.ext.asyncio", f"{module} outside the store"
        if module.split(".")[0] in {"fastapi", "starlette"}:
            assert part(path) in HTTP_EDGE, f"{module} outside the HTTP edge"


CORE_MODULES = [p for p in modules(CORE) if p.relative_to(CORE).parts[0] != "cli"]


@pytest.mark.parametrize("path", CORE_MODULES, ids=ids(CORE_MODULES))
def test_the_shared_core_does_not_import_the_node(path: Path) -> None:
    assert not {m for m in imported(path) if m.split(".")[0] == "local_server"}


@pytest.mark.parametrize("loop", ["pusher", "puller"])
def test_the_loops_use_the_links_api_not_its_parts(loop: str) -> None:
    tree = ast.parse((NODE / "sync" / f"{loop}.py").read_text(encoding="utf-8"))
    reached = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_link"
    }
    parts = {"client", "health", "breaker", "policy", "signal"}
    assert reached, "the loop no longer uses the link at all?"
    assert not reached & parts, f"{loop} reaches into the link: {sorted(reached & parts)}"


#: transitions.py makes the moves; tables.py declares the columns
STORE_WRITERS = [
    p
    for p in modules(NODE / "store")
    if p.name not in {"tables.py", "__init__.py", "transitions.py"}
]
#: the columns only a `Move` writes (spliced in: `**MOVE.values`, `**BORN_COLUMNS`)
MOVED = {"state", "in_flight"}


@pytest.mark.parametrize("path", STORE_WRITERS, ids=ids(STORE_WRITERS))
def test_every_write_of_a_state_is_a_checked_move(path: Path) -> None:
    """`state` and `in_flight` are written only as a `Move` (`transitions.move`) gives them,
    or, on the decisions side, from a row whose moves were checked in Python through one: a
    statement naming either column itself is not a checked move."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        written: list[tuple[str, ast.expr]] = []
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "values":
            written = [(k.arg, k.value) for k in node.keywords if k.arg in MOVED]
        elif isinstance(node, ast.Dict):
            written = [
                (k.value, v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value in MOVED
            ]
        for column, value in written:
            text = ast.get_source_segment(source, value) or ""
            if path.name == "decisions.py" and text == f'bindparam("b_{column}")':
                continue
            raise AssertionError(f"{path.name}: {column}={text} is not a checked move")
