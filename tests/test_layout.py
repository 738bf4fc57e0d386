"""The package layout's import rules (docs/design-decisions.md, "Layout"), checked on the real tree.

Each rule is also run on a small synthetic tree that breaks it, so the checker is seen to fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Rooms that translate between the wire and the domain, and the ones that wire everything up.
WIRE_ROOMS = ("qbutler.api", "qbutler.web")
MAY_IMPORT_WIRE = ("qbutler.api", "qbutler.web", "qbutler.service", "qbutler.cli", "qbutler.demo")
MAY_IMPORT_SENSESIM = ("qbutler.demo",)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(module: str, rooms: tuple[str, ...]) -> bool:
    return any(module == room or module.startswith(room + ".") for room in rooms)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module named by an import anywhere in the file (functions too), except TYPE_CHECKING blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports (names that are not modules of the tree are dropped)."""
    files = {_module_name(root, path): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = {name for name in _imports(tree, module, path.name == "__init__.py")
                         if name in files and name != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_parent(importer: str, imported: str) -> bool:
    # A module reading names from its own package's __init__ is not a circle a reader trips over:
    # the package only re-exports what its modules define.
    return importer.startswith(imported + ".")


def violations(root: Path) -> list[str]:
    graph = import_graph(root)
    found = []
    for module, imported in sorted(graph.items()):
        if not module.startswith("qbutler"):
            continue
        for name in sorted(imported):
            if _within(name, WIRE_ROOMS) and not _within(module, MAY_IMPORT_WIRE):
                found.append(f"{module} imports {name}: domain rooms must not import the HTTP layer")
            if _within(name, ("sensesim",)) and not _within(module, MAY_IMPORT_SENSESIM):
                found.append(f"{module} imports {name}: qbutler must not import the simulator")
    without_parents = {module: {name for name in imported if not _is_package_parent(module, name)}
                       for module, imported in graph.items()}
    found += [f"import circle: {' <-> '.join(cycle)}" for cycle in _cycles(without_parents)]
    return found


def test_the_tree_follows_the_layout_rules() -> None:
    assert violations(SRC) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"qbutler/__init__.py": "", "sensesim/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(("files", "expected"), [
    ({"qbutler/api/__init__.py": "", "qbutler/api/http.py": "",
      "qbutler/kv/__init__.py": "", "qbutler/kv/store.py": "from qbutler.api.http import x\n"},
     "qbutler.kv.store imports qbutler.api.http: domain rooms must not import the HTTP layer"),
    ({"qbutler/web/__init__.py": "", "qbutler/tasks.py": "def f():\n    import qbutler.web\n"},
     "qbutler.tasks imports qbutler.web: domain rooms must not import the HTTP layer"),
    ({"qbutler/service.py": "import sensesim\n"},
     "qbutler.service imports sensesim: qbutler must not import the simulator"),
    ({"qbutler/cli.py": "from qbutler.kv.cli import app\n", "qbutler/kv/__init__.py": "",
      "qbutler/kv/cli.py": "def f():\n    from qbutler.cli import load_or_exit\n"},
     "import circle: qbutler.cli <-> qbutler.kv.cli"),
    ({"qbutler/a.py": "from . import b\n", "qbutler/b.py": "from .c import x\n", "qbutler/c.py": "from .a import y\n"},
     "import circle: qbutler.a <-> qbutler.b <-> qbutler.c"),
], ids=["domain-imports-api", "domain-imports-web", "qbutler-imports-sensesim", "cli-circle", "relative-circle"])
def test_each_kind_of_violation_is_reported(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert violations(_tree(tmp_path, files)) == [expected]


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "qbutler/api/__init__.py": "from qbutler.kv import store\n",
        "qbutler/kv/__init__.py": "from qbutler.kv.store import Store\n",
        "qbutler/kv/store.py": "from qbutler.kv import helper\n",
        "qbutler/kv/helper.py": "",
        "qbutler/demo/__init__.py": "import sensesim\nimport qbutler.api\n",
        "qbutler/service.py": "import qbutler.api\n",
        "qbutler/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import qbutler.api\n",
    })
    assert violations(root) == []
