"""Layers only point down: every import of hmarl's own modules goes to a layer
at or below the importer's, at module level, with no circles.

Each top-level package is one layer, bottom to top (README, "Layout"):
``hmarl_env`` (the simulation and the env), ``baselines`` (rule-based
policies, tuning, the batched evaluator, exact solvers), ``analysis`` (what a
run folder holds, and judging runs), ``experiments`` (training with RLlib and
other libraries), ``benchmarks``. Inside a package with inner layers
(:data:`INNER`), a module imports only from its own inner layer or below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the top-level packages, bottom to top: each is one layer
PACKAGES = ("hmarl_env", "baselines", "analysis", "experiments", "benchmarks")
#: inner layers of a package, bottom to top (the package's rest comes last)
INNER = {
    "hmarl_env": (
        (
            "hmarl_env.utils",
            "hmarl_env.registry",
            "hmarl_env.seeding",
            "hmarl_env._jit",
        ),
    ),
    "analysis": (
        ("analysis.runs.settings",),
        ("analysis.runs.record",),
        ("analysis.runs.folder",),
        ("analysis.runs.loading", "analysis.runs"),
    ),
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> tuple[int, int]:
    """(package layer, inner layer) of a module; a package's modules outside
    its inner layers sit above them all."""
    top = module.split(".")[0]
    assert top in PACKAGES, f"{module} is in no layer"
    inner = INNER.get(top, ())
    best, rank = -1, len(inner)
    for k, prefixes in enumerate(inner):
        for p in prefixes:
            if _under(module, p) and len(p) > best:
                best, rank = len(p), k
    return PACKAGES.index(top), rank


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
        if target == module or _under(module, target):  # a package's __init__
            continue
        assert at_top, f"{module} imports {target} inside a function"
        theirs = layer(target)
        if theirs[0] != mine[0]:
            assert theirs[0] < mine[0], (
                f"{module} (package {PACKAGES[mine[0]]}) imports {target}, "
                f"from the package above it ({PACKAGES[theirs[0]]})"
            )
        else:
            assert theirs[1] <= mine[1], (
                f"{module} (inner layer {mine[1]}) imports {target} (inner "
                f"layer {theirs[1]} of {PACKAGES[mine[0]]})"
            )


def test_the_layers_the_readme_lists_are_the_packages():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    listed = [line.split("/")[0] for line in layout.splitlines() if "/ " in line[:14]]
    assert [p for p in listed if p in PACKAGES] == list(PACKAGES), (
        "the README's layout lists the packages bottom up"
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
