"""The README's architecture sentence, checked: each layer imports only layers before it in the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "offload_opt"

# the README's pipeline, in order; a module may import its own layer and the layers before it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("data", ("offload_opt._cliutil", "offload_opt._serde", "offload_opt.catalogue", "offload_opt.instance")),
    ("physics", ("offload_opt.physics",)),
    ("generator", ("offload_opt.generator", "offload_opt.classic", "offload_opt.readers", "offload_opt.plans")),
    ("cost tables", ("offload_opt.costs",)),
    ("solution", ("offload_opt.solution",)),
    ("evaluator", ("offload_opt.evaluator",)),
    ("solvers", ("offload_opt.solvers",)),
    ("plots", ("offload_opt.plot",)),
    ("experiments", ("offload_opt.experiments", "offload_opt.sim")),
    (
        "CLI",
        (
            "offload_opt.cli",
            "offload_opt.report",
            "offload_opt.experiments.cli",
            "offload_opt.sim.cli",
            "offload_opt.import_cli",
        ),
    ),
]


def layer_of(module: str) -> int | None:
    """Index of ``module``'s layer (the longest matching prefix wins: experiments.cli is CLI)."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (i, len(prefix))
    return None if best is None else best[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every offload_opt module imported by ``path`` (at the top or inside functions)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if (
                node.module == "offload_opt"
            ):  # from offload_opt import x: the submodule x or a name in __init__
                out += [
                    f"offload_opt.{a.name}"
                    for a in node.names
                    if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py").exists()
                ]
            elif node.module.startswith("offload_opt."):
                out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("offload_opt.")]
    return out


def test_every_module_belongs_to_a_layer():
    modules = [
        _module_name(p) for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py"
    ]
    assert [m for m in modules if layer_of(m) is None] == []


def test_each_layer_imports_only_layers_before_it():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if module == "offload_opt":  # the package's facade re-exports the public names
            continue
        mine = layer_of(module)
        assert mine is not None, module
        for imported in _imports(path):
            theirs = layer_of(imported)
            if theirs is not None and theirs > mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {imported} ({LAYERS[theirs][0]})")
    assert upward == []


def test_the_leaf_module_imports_nothing_from_the_package():
    assert _imports(PACKAGE / "_cliutil.py") == []
