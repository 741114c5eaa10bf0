"""The dependency rule of docs/architecture.md, checked on the real tree.

* ``lint-imports`` (the contracts in ``.importlinter``) keeps the core free of transports,
  connectors free of flows, actions free of Prefect; ``scripts/test`` runs it before pytest
  and these tests show that it covers every core package and that it can fail;
* no two files import each other, directly or round a loop;
* imports inside functions only where the list below says why.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
SHELL = {"cli"}
"""Sub-packages of ``shangyun`` that are the application shell, not the core."""

NOT_PACKAGES = {"data", "__pycache__"}

IN_FUNCTION_IMPORTS: dict[str, str] = {
    "shangyun.cli": "start-up cost: each command imports prefect, pandas, paramiko, libvirt "
                    "or boto3 only when it runs (a pure command must not pay ~1 s for prefect)",
}
"""Module (or package) -> why it may import inside functions. Anything else is refused."""


def _config() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(CONFIG, encoding="utf-8")
    return cfg


def _lines(value: str) -> list[str]:
    return [v.strip() for v in value.splitlines() if v.strip()]


def _root_packages() -> list[str]:
    return _lines(_config()["importlinter"]["root_packages"])


def test_the_core_contract_names_every_core_package() -> None:
    """A new module under shangyun/ is core unless it is the shell: the contract lists it."""
    listed = set(_lines(_config()["importlinter:contract:core-is-pure"]["source_modules"]))
    present = set()
    for p in (ROOT / "shangyun").iterdir():
        name = p.stem if p.suffix == ".py" else p.name
        if p.name.startswith((".", "_")) or name in SHELL | NOT_PACKAGES:
            continue
        if p.suffix == ".py" or (p / "__init__.py").is_file():
            present.add(f"shangyun.{name}")
    assert present - listed == set(), "core modules missing from .importlinter's core contract"
    assert listed - present == set(), "the core contract names modules that do not exist"


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*_root_packages(), cache_dir=None)


def test_no_import_cycles_between_files() -> None:
    graph = _graph()
    g = nx.DiGraph()
    for mod in graph.modules:
        for imported in graph.find_modules_directly_imported_by(mod):
            g.add_edge(mod, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == [], f"files that import each other (round a loop): {cycles}"


def _in_function_imports() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for pkg in _root_packages():
        for path in (ROOT / pkg).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    for node in ast.walk(fn):
                        if isinstance(node, ast.Import | ast.ImportFrom):
                            found.setdefault(module, []).append(node.lineno)
    return found


def _allowed(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in IN_FUNCTION_IMPORTS)


def test_imports_inside_functions_only_where_justified() -> None:
    bad = {m: sorted(set(lines)) for m, lines in _in_function_imports().items()
           if not _allowed(m)}
    assert bad == {}, ("imports inside functions outside the justified list "
                       "(tests/test_architecture.py IN_FUNCTION_IMPORTS): "
                       + "; ".join(f"{m}: lines {v}" for m, v in sorted(bad.items())))


def test_every_justification_is_still_needed() -> None:
    found = _in_function_imports()
    stale = [m for m in IN_FUNCTION_IMPORTS
             if not any(k == m or k.startswith(m + ".") for k in found)]
    assert stale == []


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_contracts_hold() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BROKEN" not in out.stdout


@pytest.mark.parametrize(("module", "line"), [
    ("shangyun/wave/model.py", "    import connectors.ssh  # scratch: the core reaching out\n"),
    ("shangyun/estate/schema.py", "    import subprocess  # scratch\n"),
])
def test_the_checker_fails_on_a_bad_import(tmp_path: Path, module: str, line: str) -> None:
    """A scratch copy of the tree with one bad import, inside a function: lint-imports
    refuses it and names the importing module."""
    for pkg in _root_packages():
        shutil.copytree(ROOT / pkg, tmp_path / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / CONFIG.name)
    path = tmp_path / module
    path.write_text(path.read_text(encoding="utf-8")
                    + "\n\ndef _scratch() -> None:\n" + line, encoding="utf-8")
    out = _lint(tmp_path)
    assert out.returncode != 0
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in out.stdout, out.stdout
    assert "BROKEN" in out.stdout
