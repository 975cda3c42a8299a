"""Layers only point down: every import of hmarl's own modules goes to a layer
at or below the importer's, at module level, with no circles.

The layers, bottom to top (README, "Layout"):

0. helpers that import nothing of hmarl's: ``hmarl_env.utils``,
   ``hmarl_env.registry``, ``hmarl_env.seeding``, ``hmarl_env._jit``;
1. the simulation and the env: the rest of ``hmarl_env``;
2. rule-based policies, tuning and the batched evaluator: ``baselines``;
3. runs on disk, without Ray: ``experiments.config``, ``experiments.loading``;
4. judging runs: ``analysis`` (gate, comparison, plots);
5. training with RLlib and other libraries: the rest of ``experiments``;
6. ``benchmarks``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hmarl_env", "baselines", "analysis", "experiments", "benchmarks")
LAYERS = (
    ("hmarl_env.utils", "hmarl_env.registry", "hmarl_env.seeding", "hmarl_env._jit"),
    ("hmarl_env",),
    ("baselines",),
    ("experiments.config", "experiments.loading"),
    ("analysis",),
    ("experiments",),
    ("benchmarks",),
)


def layer(module: str) -> int:
    """The layer of a module: the one whose longest prefix names it."""
    best, rank = -1, None
    for k, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), k
    assert rank is not None, f"{module} is in no layer"
    return rank


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import of hmarl's own."""
    tree = ast.parse(path.read_text())
    top, types_only = set(), set()
    for node in tree.body:
        if isinstance(node, ast.If):
            inside = set(map(id, ast.walk(node)))
            if "TYPE_CHECKING" in ast.unparse(node.test):  # never run
                types_only |= inside
            top |= inside  # e.g. "run as a script: make the checkout importable"
        top.add(id(node))
    out = []
    for node in ast.walk(tree):
        if id(node) in types_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if _ours(name):
                # "from pkg import mod" names a module; "from mod import fn" not
                while name not in MODULES and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in MODULES:
                    out.append((name, id(node) in top))
    return out


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_and_sit_at_module_level(module):
    mine = layer(module)
    for target, at_top in _imports(MODULES[module]):
        if target == module:
            continue
        assert at_top, f"{module} imports {target} inside a function"
        assert layer(target) <= mine, (
            f"{module} (layer {mine}) imports {target} (layer {layer(target)})"
        )


def test_no_import_circles():
    graph = {
        m: {t for t, _ in _imports(p) if t != m and not m.startswith(t + ".")}
        for m, p in MODULES.items()
    }
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        if m in path:
            cycle = path[path.index(m) :] + (m,)
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if m in done:
            return
        for t in graph.get(m, ()):
            visit(t, path + (m,))
        done.add(m)

    for m in graph:
        visit(m, ())
