"""Every Python block of the README and of docs/ runs as printed, in a fresh
interpreter.

Budgets are the one thing changed: a line ``STEPS = ...`` or ``FRAMES = ...``
gets a tiny value. Each block runs in a folder of its own (so what it writes
under ``results/`` lands there, never in the checkout), which sees the
committed reference runs as ``results/reference``. A block whose library is
not installed is skipped with the extra that installs it.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUDGET = re.compile(r"^(STEPS|FRAMES) = [0-9_]+", re.MULTILINE)
TINY = {"STEPS": "4_096", "FRAMES": "2_048"}
#: the extra that installs each optional top-level module a block may import
EXTRAS = {
    "supersuit": "sb3",
    "stable_baselines3": "sb3",
    "torchrl": "torchrl",
    "benchmarl": "benchmarl",
    "tianshou": "tianshou",
    "torch": "rllib",
    "ray": "rllib",
}


#: the pages whose Python blocks run: the README and every page of docs/
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    """(page:line, code) of every ```python block of the pages."""
    out = []
    for page in PAGES:
        lines, start = page.read_text().splitlines(), None
        for k, line in enumerate(lines, 1):
            if line.strip() == "```python":
                start = k
            elif line.strip() == "```" and start is not None:
                name = page.relative_to(ROOT).as_posix()
                out.append((f"{name}:{start}", "\n".join(lines[start : k - 1])))
                start = None
    return out


BLOCKS = _blocks()


#: calls that import optional libraries themselves: loading a checkpoint is RLlib's
CALLS = {"load_policies(": {"ray", "torch"}}


def _imports(code: str) -> set[str]:
    """Top-level modules the block imports, or needs through hmarl's calls."""
    names = {m for call, needs in CALLS.items() if call in code for m in needs}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_readme_has_its_blocks():
    assert len(BLOCKS) >= 6
    assert all(BUDGET.search(code) for _, code in BLOCKS if ".learn(" in code)


@pytest.mark.parametrize("line, code", BLOCKS, ids=[where for where, _ in BLOCKS])
def test_a_readme_block_runs_as_printed(line, code, tmp_path):
    for module in sorted(_imports(code) & set(EXTRAS)):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'pip install -e ".[{EXTRAS[module]}]" for {module}')
    code = BUDGET.sub(lambda m: f"{m.group(1)} = {TINY[m.group(1)]}", code)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "reference").symlink_to(ROOT / "results" / "reference")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, f"{line}:\n{proc.stderr[-3000:]}"
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    strays = [p for p in written if p.parts[0] != "results"]
    assert not strays, f"{line} wrote outside results/: {strays}"
