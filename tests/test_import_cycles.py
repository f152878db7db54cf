"""The package's import graph has no cycle: every ``import`` of a ``meddisseg_monai`` module, at module level or
inside a function body, is an edge (read with ``ast``, nothing is imported)."""

from __future__ import annotations

import ast
import tempfile
import unittest
from pathlib import Path

from parameterized import parameterized

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "meddisseg_monai"
PACKAGE = PACKAGE_ROOT.name


def module_names(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of the package (``a.b`` for ``a/b/__init__.py``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports anywhere in its file (module level and function bodies).

    ``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``; ``import a.b.c`` to ``a.b.c``.
    Parents a Python import runs implicitly (``a/__init__.py`` before ``a.b``) are not edges, as in import linters.
    """
    package = name if _is_package(path) else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                edges.add(submodule if submodule in modules else target)
    return {edge for edge in edges if edge in modules and edge != name}


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            successor = next(stack[-1], None)
            if successor is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(successor) == 1:
                return path[path.index(successor) :] + [successor]
            elif not state.get(successor):
                state[successor] = 1
                path.append(successor)
                stack.append(iter(sorted(graph[successor])))
    return None


GRAPH_CASES = [
    ["no_cycle", {"a": {"b"}, "b": {"c"}, "c": set()}, None],
    ["two_modules", {"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]],
    ["through_a_function_body", {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, ["a", "b", "c", "a"]],
]


class TestImportCycles(unittest.TestCase):
    def test_package_has_no_import_cycle(self):
        graph = import_graph()
        self.assertGreater(len(graph), 50, "the package's modules were not found")
        cycle = find_cycle(graph)
        self.assertIsNone(cycle, "import cycle: " + " -> ".join(cycle or []))

    def test_relative_imports_resolve(self):
        graph = import_graph()
        self.assertIn(f"{PACKAGE}.networks.blocks", graph[f"{PACKAGE}.networks.nets.meddisseg"])
        self.assertIn(f"{PACKAGE}.networks.nets.base", graph[f"{PACKAGE}.networks.nets.meddisseg"])

    @parameterized.expand(GRAPH_CASES)
    def test_find_cycle(self, _, graph, expected):
        self.assertEqual(find_cycle(graph), expected)

    def test_function_body_import_is_an_edge(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "pkg"
            root.mkdir()
            (root / "__init__.py").write_text("")
            (root / "a.py").write_text("def f():\n    from .b import x\n    return x\n")
            (root / "b.py").write_text("from .a import f\nx = 1\n")
            graph = import_graph(root)
        self.assertEqual(graph["pkg.a"], {"pkg.b"})
        self.assertEqual(find_cycle(graph), ["pkg.a", "pkg.b", "pkg.a"])


if __name__ == "__main__":
    unittest.main()
