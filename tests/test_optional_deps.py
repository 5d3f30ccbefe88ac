"""Issue 21 item 2: every optional dependency, when missing, gives one line naming the pip install
(`chainrule tune` without the [tune] extra used to end in a raw ModuleNotFoundError traceback).
Each case runs in a fresh interpreter with the module hidden (sys.modules[name] = None)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

TUNE = ["tune", "--model", "two_layer_net", "--data", "digits", "--space", "lr=1e-3:1e-1:log", "--trials", "1",
        "--epochs", "1", "--subsample", "50"]

# hidden module -> (command line, the extra its line must name)
CASES = {
    "optuna": (TUNE + ["--out", "{tmp}/t"], "chainrule[tune]"),
    "psycopg": (TUNE + ["--storage", "postgresql://u:p@127.0.0.1:1/db", "--out", "{tmp}/pg"], "chainrule[tune]"),
    "onnx": (["export", "{model}", "--out", "{tmp}/m.onnx"], "chainrule[onnx]"),
    "tensorboard": (["train", "--epochs", "1", "--subsample", "50", "--tensorboard", "--quiet", "--out", "{tmp}/tb"],
                    "chainrule[tensorboard]"),
    "cupy": (["train", "--device", "cuda", "--epochs", "1", "--out", "{tmp}/cu"], "chainrule[cuda]"),
}


def _run(hidden: str, argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.modules[{hidden!r}] = None\n"
            "from chainrule.cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    env = {"PYTHONPATH": str(Path(chainrule.__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "CHAINRULE_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import chainrule as cr

    data = cr.data.load("digits", subsample=50)
    model = cr.nn.Sequential(cr.nn.Flatten(), cr.nn.Linear(64, 10))
    path = tmp_path_factory.mktemp("opt") / "m.safetensors"
    cr.save(model, path, preprocess=None, classes=data.classes, info={"input_shape": [1, 8, 8], "dtype": "float32", "value_range": [0.0, 1.0]})
    return path


@pytest.mark.parametrize("hidden", sorted(CASES))
def test_a_missing_optional_dependency_is_one_line_naming_the_pip_install(hidden, tmp_path, model_file):
    if hidden == "cupy" and chainrule.cuda.is_available():
        pytest.skip("CuPy is installed and sees a GPU here")
    argv, extra = CASES[hidden]
    argv = [a.format(tmp=tmp_path, model=model_file) for a in argv]
    p = _run(hidden, argv, tmp_path)
    err = p.stderr.strip()
    assert p.returncode == 2, (p.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "pip install" in err and extra in err, err


def test_export_says_how_to_get_the_onnxruntime_check(tmp_path, model_file):
    pytest.importorskip("onnx")
    p = _run("onnxruntime", ["export", str(model_file), "--out", str(tmp_path / "m.onnx")], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "not checked" in p.stdout and "pip install onnxruntime" in p.stdout, p.stdout


def test_require_module_names_the_extra():
    from chainrule.errors import MissingDependencyError, require_module

    assert require_module("json", "x", "y").dumps(1) == "1"
    with pytest.raises(MissingDependencyError, match=r"frobnicate needs no_such_mod.*pip install 'chainrule\[fx\]'"):
        require_module("no_such_mod", "fx", "frobnicate")
    assert issubclass(MissingDependencyError, ImportError)
