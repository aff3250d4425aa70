"""The house rules of the package's layout (docs/design.md, "Layers and where new code goes").

The layers themselves are import-linter contracts (pyproject.toml, ``lint-imports`` in
.ci/run); these are the rules it does not check: sizes, private names, cycles.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every module of the package: gpuaug/ and the kernels (installed as gpuaug.kernels).
MODULES = sorted([*(ROOT / "gpuaug").rglob("*.py"), *(ROOT / "kernels").rglob("*.py")])
#: Most lines in a module, in compose.py, in a function and in a @triton.jit kernel.
MAX_MODULE, MAX_COMPOSE, MAX_FUNCTION, MAX_KERNEL = 600, 400, 80, 160


def name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = ("gpuaug", *parts) if parts[0] == "kernels" else parts
    return ".".join(parts).removesuffix(".__init__")


def imports(path: Path):
    """(module imported, names imported from it) of every gpuaug import in ``path``, at any depth."""
    package = name(path).split(".") if path.name == "__init__.py" else name(path).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from .common import x, level 1 being the module's own package
                module = ".".join(filter(None, [*package[: len(package) - node.level + 1], module]))
            if module.startswith("gpuaug"):
                yield module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gpuaug"):
                    yield alias.name, []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_short(path):
    tree = ast.parse(path.read_text())
    limit = MAX_COMPOSE if path.name == "compose.py" else MAX_MODULE
    assert len(path.read_text().splitlines()) <= limit, f"{path.name}: over {limit} lines"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kernel = any("jit" in ast.unparse(d) for d in node.decorator_list)
            length = node.end_lineno - node.lineno + 1
            assert length <= (MAX_KERNEL if kernel else MAX_FUNCTION), f"{node.name}: {length} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_a_module(path):
    crossing = [f"{module}.{n}" for module, names in imports(path) for n in names if n.startswith("_")]
    assert not crossing, f"{name(path)} imports private names: {crossing}"


def test_no_import_cycle():
    known = {name(p) for p in MODULES}
    graph = {name(p): set() for p in MODULES}
    for path in MODULES:
        for module, names in imports(path):
            targets = {f"{module}.{n}" for n in names} & known or {module} & known
            graph[name(path)] |= targets - {name(path), "gpuaug"}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail(f"import cycle: {' -> '.join([*trail[trail.index(nxt) :], nxt])}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_every_package_is_installed():
    """A non-editable install ships only the packages pyproject.toml lists: every folder of
    gpuaug with an ``__init__.py`` must be one of them."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"([\w.]+)"', re.search(r"^packages = \[(.*)\]$", text, re.M).group(1)))
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gpuaug").rglob("__init__.py")}
    assert found - listed == set()
    assert "gpuaug.kernels" in listed and '"gpuaug.kernels" = "kernels"' in text
