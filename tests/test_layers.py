"""The import graph holds the layering: the command line over the public API over the library, and
no module importing one of a layer above it (so a second registry, a directory writer or a web
page plugs in without pulling the command line or each other in)."""

from __future__ import annotations

import ast
from pathlib import Path

import scolpass

from .conftest import ROOT

PACKAGE = ROOT / "scolpass"

# Top to bottom. A module may import its own layer's modules and those of the layers below.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "__main__ cli",  # interfaces: formatting only
        "__init__",  # the public API
        "helpdesk preview pegase_fetch",  # services over the runs and the registry
        "pipeline",  # generate and reissue
        "run admin planning checks",  # the run frame, registry administration, the plan, the checks
        "output lock exports batches existing pegase_http",  # what runs write and read beside the registry
        "registry sheet protect passwords",  # the store, the sheet, the secrets
        "settings hashers duplicates identifiers enrolment pegase csvfile columns wording fonts qr validators academic_year",
        "errors student files spreadsheet resources workers xcrypt version systemlog",  # depend on nothing of scolpass
    )
)


def _layer(module: str) -> int:
    (index,) = [i for i, layer in enumerate(LAYERS) if module in layer]
    return index


def _runtime_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module imported, names)`` of the package's relative imports, outside ``if TYPE_CHECKING:``.

    In a subpackage (``registry/``), ``..x`` is the package's module x and ``.y`` the subpackage's own
    (which belongs to its layer).
    """
    top = 2 if path.parent.parent == PACKAGE else 1
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for node in ast.walk(block)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == top and id(node) not in typing_only:
            names = [alias.name for alias in node.names]
            found.append((node.lineno, node.module or "", names))
        if isinstance(node, ast.Import) and id(node) not in typing_only:
            for alias in node.names:
                if alias.name.startswith("scolpass"):
                    found.append((node.lineno, alias.name, []))
    return found


def _targets(module: str, names: list[str]) -> list[str]:
    """The modules an import reaches: ``from .x import y`` reaches x; ``from . import y`` reaches y or the API."""
    if module:
        return [module.split(".")[0]]
    return [name if (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir() else "__init__" for name in names]


def _sources() -> list[tuple[str, Path]]:
    """Every source file, with the module of the layers it counts as: a subpackage's files as the subpackage."""
    found = [(p.stem, p) for p in sorted(PACKAGE.glob("*.py"))]
    found += [(p.parent.name, p) for p in sorted(PACKAGE.glob("*/*.py"))]
    return found


def test_every_module_is_in_one_layer() -> None:
    modules = {name for name, _ in _sources()}
    placed = [m for layer in LAYERS for m in layer]
    assert sorted(placed) == sorted(set(placed)), "a module in two layers"
    assert modules == set(placed)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for name, path in _sources():
        for line, module, names in _runtime_imports(path):
            for target in _targets(module, names):
                if _layer(target) < _layer(name):
                    upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert upward == []


def test_the_command_line_uses_the_public_api_only() -> None:
    public = set(scolpass.__all__)
    reached = []
    for line, module, names in _runtime_imports(PACKAGE / "cli.py"):
        if module or not set(names) <= public:
            reached.append(f"cli.py:{line}: from .{module} import {', '.join(names)}")
    assert reached == []


def test_only_the_command_line_knows_click() -> None:
    for name, path in _sources():
        if name in ("cli", "__main__"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {"click"} & {name.split(".")[0] for name in imported}, path.name


def test_the_checks_catch_an_upward_import(tmp_path: Path) -> None:
    # The rule itself: registry importing the pipeline would be reported.
    fake = tmp_path / "registry.py"
    fake.write_text("from .pipeline import generate\nif TYPE_CHECKING:\n    from .cli import main\n")
    imports = _runtime_imports(fake)
    assert imports == [(1, "pipeline", ["generate"])]  # the typing-only import is not a dependency
    assert _layer("pipeline") < _layer("registry")
