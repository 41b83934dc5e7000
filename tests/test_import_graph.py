"""No import cycles between the modules of the ``trpo_mimic`` package.

The graph is read from the source with ``ast`` (nothing is imported): an edge a -> b for
every ``import``/``from ... import`` in a whose target is a module of the package
(``from pkg import name`` counts as ``pkg.name`` when that is a module), either only those
run at import time (module and class bodies) or also those deferred into functions.  A
package's ``__init__`` importing its own submodules is an edge like any other; the
implicit import of a parent package is not.
"""

from __future__ import annotations

import ast
from pathlib import Path


import trpo_mimic

ROOT = Path(trpo_mimic.__file__).resolve().parent
PACKAGE = "trpo_mimic"


def package_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package is its ``__init__``)."""
    mods = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join([package, *parts])] = path
    return mods


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement refers to (modules or names in modules)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".")
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" for a in node.names] + [prefix]


def _statements(tree: ast.AST, deferred: bool):
    """Every node of ``tree``; without ``deferred``, not those inside functions."""
    if deferred:
        yield from ast.walk(tree)
        return
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def import_graph(mods: dict[str, Path], deferred: bool = True) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``deferred``: also inside functions)."""
    graph = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in _statements(ast.parse(path.read_text(encoding="utf-8")), deferred):
            names = _imported(node, name, is_package)
            if isinstance(node, ast.ImportFrom):
                # ``from pkg import sub``: the submodule if it is one, else the package itself
                subs = [n for n in names[:-1] if n in mods]
                names = subs if len(subs) == len(names) - 1 else subs + names[-1:]
            targets.update(n for n in names if n in mods and n != name)
        graph[name] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_find_cycles_sees_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_graph_resolves_relative_and_deferred_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b\nfrom .sub.b import x\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import a as _a\ndef f():\n    import pkg.sub\n")
    mods = package_modules(pkg, "pkg")
    assert import_graph(mods) == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(),
                                  "pkg.sub.b": {"pkg.a", "pkg.sub"}}
    assert import_graph(mods, deferred=False)["pkg.sub.b"] == {"pkg.a"}
    assert find_cycles(import_graph(mods)) == [["pkg.a", "pkg.sub.b"]]


def _cycles(deferred: bool, under: str = PACKAGE) -> list[list[str]]:
    graph = import_graph(package_modules(), deferred)
    sub = {m: {t for t in ts if t.startswith(under)} for m, ts in graph.items() if m.startswith(under)}
    return find_cycles(sub)


def _message(cycles: list[list[str]]) -> str:
    return "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycles_at_import_time():
    cycles = _cycles(deferred=False)
    assert cycles == [], _message(cycles)


def test_no_import_cycles_in_envs_counting_deferred_imports():
    cycles = _cycles(deferred=True, under=f"{PACKAGE}.envs")
    assert cycles == [], _message(cycles)


def test_no_import_cycles_counting_deferred_imports():
    cycles = _cycles(deferred=True)
    assert cycles == [], _message(cycles)


DOMAIN = (f"{PACKAGE}.mimic",)
"""The imitation domain; everything else of the package but the composition root is the engine."""
COMPOSITION_ROOT = {PACKAGE}
"""``trpo_mimic/__init__.py`` plugs the domain in (its task and ids), so it alone may import both."""


def domain_leaks(graph: dict[str, set[str]], domain: tuple[str, ...] = DOMAIN,
                 root: set[str] = COMPOSITION_ROOT) -> list[str]:
    """Every import of a domain module by an engine module, as ``engine -> domain``."""
    inside = lambda m: any(m == d or m.startswith(d + ".") for d in domain)  # noqa: E731
    return sorted(f"{m} -> {t}" for m, ts in graph.items() if not inside(m) and m not in root
                  for t in ts if inside(t))


def test_domain_leaks_are_seen():
    graph = {"p": {"p.dom"}, "p.eng": {"p.dom.x"}, "p.dom.x": {"p.eng"}, "p.other": {"p.eng"}}
    assert domain_leaks(graph, ("p.dom",), {"p"}) == ["p.eng -> p.dom.x"]


def test_the_engine_imports_nothing_of_the_imitation_domain():
    """Counting imports deferred into functions: the engine reaches the domain only through the task it registers
    (trpo_mimic.tasks), never by name."""
    leaks = domain_leaks(import_graph(package_modules(), deferred=True))
    assert leaks == [], "the engine imports the imitation domain: " + "; ".join(leaks)
