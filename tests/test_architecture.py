"""The package's shape, kept by tests: layers that import only downward, no import cycle
outside the contract's named exceptions, one table of kinds, small modules and classes,
markup written in one module. docs/architecture.md explains each rule."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import grimp
import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vlmrun_jupyter"
CONTRACT = ROOT / ".importlinter"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "_notebooks" not in p.parts)
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 250


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _named_exceptions() -> set[tuple[str, str]]:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    lines = parser["importlinter:contract:layers"]["ignore_imports"].split("\n")
    pairs = [line.split("->") for line in lines if "->" in line]
    # collapsed to layers (vlmrun_jupyter.<module or package>), as _graph() does
    return {tuple(".".join(m.strip().split(".")[:2]) for m in pair) for pair in pairs}


def test_the_layers_contract_holds():
    """`lint-imports` with the repository's contract: any upward import fails it."""
    assert cli.lint_imports(config_filenames=(str(CONTRACT),), no_cache=True) == 0


def _graph() -> dict[str, set[str]]:
    """Module -> modules it imports (function-level and TYPE_CHECKING imports included),
    collapsed to the contract's layers (top-level modules and packages)."""
    graph = grimp.build_graph("vlmrun_jupyter", include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = (".".join(m.split(".")[:2]) for m in (importer, imported))
            if a != b and "vlmrun_jupyter" not in (a, b):
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (enough to name one per SCC)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle_outside_the_named_exceptions():
    edges = _graph()
    for a, b in _named_exceptions():
        assert b in edges.get(a, set()), f"stale exception in .importlinter: {a} -> {b}"
        edges[a].discard(b)
    assert _cycles(edges) == []


def test_the_cycle_check_sees_a_cycle():
    """The checker itself can fail: a made-up two-module loop is reported."""
    assert _cycles({"x.a": {"x.b"}, "x.b": {"x.a"}}) == [["x.a", "x.b", "x.a"]]


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_module_size(path):
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_rel(path)} has {lines} lines"


def test_class_size():
    big = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big.append(f"{_rel(path)}:{node.name} ({size} lines)")
    assert big == []


def _grep(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [
        f"{_rel(p)}:{i}"
        for p in SOURCES
        for i, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if rx.search(line)
    ]


def test_the_id_grammar_is_written_once():
    """Only kinds.py spells out what an artifact id looks like."""
    hits = _grep(r"\\w\{6\}|\[a-z0-9\]\{6\}|\\w\{\{6\}\}")
    assert hits and all(h.startswith("vlmrun_jupyter/kinds.py:") for h in hits), hits


def test_magic_bytes_are_read_in_one_place():
    """One sniffer (kinds.sniff): nobody else checks file signatures."""
    signatures = r'b"%PDF|b"ftyp|\\x89PNG|b"ID3|\\xff\\xd8|b"\\x93NUMPY|b"OggS|b"fLaC'
    hits = _grep(signatures)
    assert hits and all(h.startswith("vlmrun_jupyter/kinds.py:") for h in hits), hits


def test_markup_is_built_in_one_module():
    """Inline styles and tags are written by display/html.py's builders only."""
    hits = _grep(r"style=\"|<(div|span|img|table|video|audio|a) ")
    allowed = ("vlmrun_jupyter/display/html.py:",)
    assert [h for h in hits if not h.startswith(allowed)] == []


def test_every_kind_reaches_its_renderer_and_viewer_in_two_hops():
    """kinds.py names each kind's renderer module (and live viewer): both import."""
    import importlib

    from vlmrun_jupyter.display.registry import renderer_for
    from vlmrun_jupyter.kinds import KINDS

    for kind in KINDS.values():
        renderer = importlib.import_module(kind.renderer).RENDERER
        assert renderer_for(kind.name) is renderer and callable(renderer.render)
        if kind.viewer:
            mod, _, cls = kind.viewer.partition(":")
            assert isinstance(getattr(importlib.import_module(mod), cls), type)
