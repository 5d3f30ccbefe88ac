"""The import rules of docs/architecture.md, read from the source with ast (lazy imports
inside functions count too). A module may import its own layer and the layers its row
allows; nothing else."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chainrule"

# first name under chainrule/ -> layer
LAYER = {
    "backend": "autograd", "cuda": "autograd", "accelerator": "autograd", "backends": "autograd",
    "errors": "autograd",
    "tensor": "autograd", "dtypes": "autograd", "autograd": "autograd", "autograd_functional": "autograd", "rng": "autograd", "gradcheck": "autograd",
    "graph": "autograd",
    "distributed": "autograd",  # collectives on arrays (mpi4py, NCCL), below nn: nn.parallel uses them
    "ops": "ops",
    "nn": "nn", "metrics": "nn",
    "optim": "optim",
    "data": "data", "utils": "data",
    "models": "models",
    "checkpoint": "io", "serialization": "io", "model_contract": "io",
    "solver": "solver", "callbacks": "solver", "resume": "solver", "interrupt": "solver",
    "tune": "tools", "viz": "tools", "diagnostics": "tools", "classifiers": "tools", "onnx": "tools", "features": "tools",
    "commands": "commands", "cli": "commands", "__main__": "commands",
}
TOOLS = {"autograd", "ops", "nn", "optim", "data", "models", "io", "solver", "tools", "package"}
# layer -> the layers it may import ("package": `import chainrule`, which imports everything)
ALLOWED = {
    "autograd": {"autograd", "ops"},        # Tensor and the ops are one core: Tensor's methods call ops
    "ops": {"autograd", "ops"},
    "nn": {"autograd", "ops", "nn"},
    "optim": {"autograd", "ops", "nn", "optim"},
    "data": {"autograd", "ops", "data"},
    "models": {"autograd", "ops", "nn", "data", "io", "models"},
    "io": {"autograd", "ops", "nn", "data", "io"},
    "solver": {"autograd", "ops", "nn", "optim", "data", "models", "io", "solver"},
    "tools": TOOLS,
    "commands": TOOLS | {"commands"},
}

# (importer, imported) pairs allowed against the table, each with its reason
EXCEPTIONS = {
    ("chainrule.callbacks", "chainrule.viz.tensorboard"):
        "cr.callbacks.TensorBoard re-exports the TensorBoard callback, imported on first use",
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        yield path, name, path.name == "__init__.py"


def _is_module(dotted: str) -> bool:
    p = PACKAGE.parent.joinpath(*dotted.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _imports(path: Path, name: str, is_pkg: bool) -> list[tuple[int, str]]:
    """(line, dotted chainrule name) of every import in the file, relative ones resolved."""
    package = name if is_pkg else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from X import y` imports X.y when that is a module, else X itself
            out += [(node.lineno, f"{mod}.{a.name}" if _is_module(f"{mod}.{a.name}") else mod) for a in node.names]
    return [(line, m) for line, m in out if m == "chainrule" or m.startswith("chainrule.")]


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] not in LAYER:
        raise KeyError(parts[1])
    return LAYER[parts[1]]


def _violations():
    out = []
    for path, name, is_pkg in _modules():
        if name == "chainrule":
            continue  # the package's __init__ gathers the public names of every layer
        src = _layer(name)
        for line, target in _imports(path, name, is_pkg):
            dst = _layer(target)
            if dst != src and dst not in ALLOWED[src] and (name, target) not in EXCEPTIONS:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({src}) imports {target} ({dst})")
    return out


def test_every_module_has_a_layer():
    unknown = sorted({name.split(".")[1] for _, name, _ in _modules() if "." in name} - set(LAYER))
    assert not unknown, f"add these to LAYER here and to docs/architecture.md: {unknown}"


def test_imports_follow_the_layers():
    assert _violations() == []


def test_only_cli_imports_commands():
    bad = []
    for path, name, is_pkg in _modules():
        if name.startswith("chainrule.commands") or name in ("chainrule.cli", "chainrule"):
            continue
        bad += [f"{name}:{line} imports {t}" for line, t in _imports(path, name, is_pkg)
                if t.startswith("chainrule.commands")]
    assert bad == []


@pytest.mark.parametrize("layer, forbidden", [
    ("ops", {"nn", "optim", "data", "models", "solver"}),
    ("data", {"nn", "optim", "models", "solver"}),
    ("nn", {"optim", "data", "models", "solver"}),
    ("autograd", {"nn", "optim", "data", "models", "solver", "package"}),
])
def test_the_rules_in_the_issue(layer, forbidden):
    assert not ALLOWED[layer] & forbidden
    assert all("commands" not in ALLOWED[k] for k in ALLOWED if k != "commands")


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """A lazy, relative import of nn inside an ops function is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..nn import functional\n    from .. import solver\n")
    found = _imports(bad, "chainrule.ops.bad", False)
    assert [t for _, t in found] == ["chainrule.nn.functional", "chainrule.solver"]
    assert {_layer(t) for _, t in found} - ALLOWED["ops"] == {"nn", "solver"}
