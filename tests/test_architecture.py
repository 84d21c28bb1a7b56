"""The layering rule (docs/architecture.md): every engine module imports only from its own floor or below, no
import runs in a circle, and the engine never imports the page."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "nst_core"
# Floors from the top; a package or module of nst_core is named by its first part below nst_core.
FLOORS = (
    {"cli", "cost", "calibration", "weights", "__main__"},
    {"video"},
    {"image", "audio"},
    {"hub", "health", "sources", "runtime", "losses", "optim", "layers", "windows", "events", "options", "control",
     "budget", "errors"},
)
PAGE = ("gradio", "ui", "app")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (imports under ``if TYPE_CHECKING:`` excluded)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                found.add(node.module)
                continue
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            if node.module:
                found.add(".".join([*base, node.module]))
            else:  # from .. import hub: each name may be a module
                found |= {".".join([*base, alias.name]) for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ENGINE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for target in _imports(path):
            while target and target not in modules:  # a name imported from a module: the module itself
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def _floor(module: str) -> int | None:
    part = module.split(".")[1] if "." in module else None
    return next((i for i, names in enumerate(FLOORS) if part in names), None)


def test_every_engine_module_is_on_a_floor():
    unplaced = sorted(m for m in _graph() if m != "nst_core" and _floor(m) is None)
    assert not unplaced, f"add these to a floor in FLOORS and in docs/architecture.md: {unplaced}"


def test_no_engine_module_imports_from_a_floor_above_it():
    upward = sorted(f"{module} -> {dep}" for module, deps in _graph().items() for dep in deps
                    if module != "nst_core" and dep != "nst_core" and _floor(dep) < _floor(module))
    assert not upward, upward


def test_no_import_runs_in_a_circle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            if dep == "nst_core":  # the package's own re-exports sit above everything
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_the_engine_never_imports_the_page():
    page = sorted(f"{module} -> {target}" for path in ENGINE.rglob("*.py") for module in [_module(path)]
                  for target in _imports(path) if target.split(".")[0] in PAGE)
    assert not page, page


def test_the_rule_can_fail():
    """The checker sees an upward import when there is one (a floor-1 module importing the image floor)."""
    assert _floor("nst_core.image.optimize") < _floor("nst_core.losses")
    graph = _graph()
    assert "nst_core.image.onepass.styles" in graph["nst_core.image.start"] or \
        "nst_core.image.onepass.catalogue" in graph["nst_core.image.start"]


def test_the_package_names_its_api_without_loading_it_and_each_name_resolves():
    """``import nst_core`` loads no modality (each loads on first use); every exported name then resolves, from the
    module that the type checkers' imports name."""
    import json
    import subprocess
    import sys

    script = ("import json, sys, nst_core; loaded = {'torch', 'librosa'} & set(sys.modules); "
              "assert not loaded, loaded; assert sorted(nst_core._HOME) == sorted(nst_core.__all__); "
              "[getattr(nst_core, name) for name in nst_core.__all__]; print(json.dumps(nst_core._HOME))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lazy = json.loads(done.stdout)
    tree = ast.parse((ENGINE / "__init__.py").read_text())
    typed = {alias.name: "." + node.module for block in ast.walk(tree) if isinstance(block, ast.If)
             and getattr(block.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(block)
             if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert lazy == typed and len(lazy) >= 25
