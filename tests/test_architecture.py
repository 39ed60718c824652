"""The package's import graph flows one way: the layer table in docs/architecture.md is the rule.

Every ``bnnbo`` module's imports (module level and inside functions alike, read from its source
with ``ast``, nothing imported) may only reach its own layer or a lower one; the model families
kept apart there do not import each other; the ORM schema is imported by ``bnnbo.storage`` alone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bnnbo"
DOC = ROOT / "docs" / "architecture.md"


def _block(name: str) -> str:
    text = DOC.read_text()
    m = re.search(rf"<!-- {name}:start -->(.*?)<!-- {name}:end -->", text, re.S)
    assert m, f"docs/architecture.md has no {name} block"
    return m.group(1)


def layers() -> dict[str, int]:
    """module prefix -> layer number, from the doc's table rows ``| n | name | `a`, `b` |``."""
    out: dict[str, int] = {}
    for line in _block("layers").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].isdigit():
            continue
        for name in re.findall(r"`([\w.]+)`", cells[2]):
            assert name not in out, f"{name} is listed twice in the layer table"
            out[name] = int(cells[0])
    return out


def kept_apart() -> list[str]:
    return re.findall(r"`([\w.]+)`", _block("apart"))


def private() -> dict[str, set[str]]:
    """module -> the only modules allowed to import it (doc lines ``- `a` only from `b`, `c` ``)."""
    out = {}
    for line in _block("private").splitlines():
        names = re.findall(r"`([\w.]+)`", line)
        if len(names) >= 2 and " only from " in line:
            out[names[0]] = set(names[1:])
    return out


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def imports(name: str, path: Path) -> set[str]:
    """The bnnbo modules ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for a in node.names:  # `from bnnbo import paper` imports the module bnnbo.paper
                sub = f"{source}.{a.name}"
                found.add(sub if sub in MODULES else source)
    return {_module_of(m) for m in found if m == "bnnbo" or m.startswith("bnnbo.")} - {name}


def _module_of(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def layer_of(name: str, table: dict[str, int]) -> int:
    """The layer of the longest listed prefix of ``name``."""
    for prefix in sorted(table, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return table[prefix]
    raise AssertionError(f"module {name} is in no layer of docs/architecture.md; add it to the table")


def group_of(name: str, groups: list[str]) -> str | None:
    return next((g for g in groups if name == g or name.startswith(g + ".")), None)


def test_the_layer_table_names_real_modules():
    table = layers()
    assert len(set(table.values())) >= 5
    for prefix in [*table, *kept_apart(), *private()]:
        assert prefix in MODULES, f"docs/architecture.md lists {prefix}, which is not a bnnbo module"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name):
    table, groups, only = layers(), kept_apart(), private()
    mine = layer_of(name, table)
    up = sorted(f"{m} (layer {layer_of(m, table)})" for m in imports(name, MODULES[name]) if layer_of(m, table) > mine)
    assert not up, f"{name} (layer {mine}) imports upward: {', '.join(up)}"
    g = group_of(name, groups)
    across = sorted(m for m in imports(name, MODULES[name]) if g is not None and group_of(m, groups) not in (None, g))
    assert not across, f"{name} imports {', '.join(across)}, which docs/architecture.md keeps apart from it"
    for target, allowed in only.items():
        if target in imports(name, MODULES[name]):
            assert name in allowed or name == target, f"{name} imports {target}, private to {sorted(allowed)}"


def test_the_check_finds_an_upward_import(tmp_path):
    """The walker sees a function-level import (as the old surrogates.auto -> assess one was)."""
    src = tmp_path / "auto.py"
    src.write_text("def f():\n    from bnnbo.assess import score\n    from bnnbo import paper\n")
    table = layers()
    found = imports("bnnbo.surrogates.combined.auto", src)
    assert found == {"bnnbo.assess", "bnnbo.paper"}
    assert layer_of("bnnbo.assess", table) > layer_of("bnnbo.surrogates.combined.auto", table)
