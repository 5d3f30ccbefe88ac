"""The per-geometry algorithm choice (chainrule/ops/autotune.py) and every candidate it may pick."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import autotune, conv_wide
from chainrule.ops.conv import conv2d, conv2d_naive, conv2d_naive_backward

BIG = autotune.MIN_WORK


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A private cache file and no remembered choices, in the timed mode; restored afterwards."""
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(autotune, "_choices", {})
    monkeypatch.setattr(autotune, "_disk", None)
    monkeypatch.setattr(autotune, "_mode", "timed")
    return tmp_path


def _sleeper(seconds, value, calls):
    def fn():
        calls.append(value)
        time.sleep(seconds)
        return value
    return fn


def test_the_fastest_candidate_is_timed_once_remembered_and_stored(fresh):
    calls = []
    cands = {"slow": _sleeper(0.02, "slow", calls), "fast": _sleeper(0.0, "fast", calls)}
    assert autotune.run("op", (1, 2), cands, "slow", BIG) == "fast"  # the winner's own result
    assert sorted(calls) == ["fast"] * autotune._ROUNDS + ["slow"] * autotune._ROUNDS  # no more
    calls.clear()
    assert autotune.run("op", (1, 2), cands, "slow", BIG) == "fast" and calls == ["fast"]
    assert autotune.choices() == {"op|1,2": "fast"}
    stored = json.loads(autotune.cache_file().read_text())
    assert stored == {autotune.machine(): {"op|1,2": "fast"}}
    # a new process (no remembered choices) reads the file instead of timing again
    autotune.clear()
    calls.clear()
    assert autotune.run("op", (1, 2), cands, "slow", BIG) == "fast" and calls == ["fast"]


def test_the_fixed_rule_stays_unless_another_is_clearly_faster(fresh, monkeypatch):
    """A candidate within 5% of the fixed rule does not replace it (noise on a busy machine);
    one 10% faster does. The clock is replaced by fixed times per candidate."""
    seconds = {"rule": 1.0, "close": 0.97, "clear": 0.90}
    monkeypatch.setattr(autotune, "_time", lambda fn: (seconds[fn()], fn()))
    assert autotune.run("op", (9,), {"rule": lambda: "rule", "close": lambda: "close"}, "rule", BIG) == "rule"
    assert autotune.run("op", (10,), {"rule": lambda: "rule", "clear": lambda: "clear"}, "rule", BIG) == "clear"
    assert autotune.choices() == {"op|9": "rule", "op|10": "clear"}


def test_another_key_is_timed_on_its_own(fresh):
    calls = []
    cands = {"a": _sleeper(0.0, "a", calls), "b": _sleeper(0.02, "b", calls)}
    autotune.run("op", (1,), cands, "b", BIG)
    calls.clear()
    autotune.run("op", (2,), cands, "b", BIG)
    assert len(calls) == 2 * autotune._ROUNDS


def test_frozen_and_small_jobs_take_the_fixed_rule_without_timing(fresh):
    calls = []
    cands = {"slow": _sleeper(0.01, "slow", calls), "fast": _sleeper(0.0, "fast", calls)}
    with autotune.mode("frozen"):
        assert autotune.run("op", (1,), cands, "slow", BIG) == "slow"
    assert autotune.run("op", (2,), cands, "slow", BIG - 1) == "slow"
    assert calls == ["slow", "slow"] and autotune.choices() == {}
    assert not autotune.cache_file().exists()


def test_the_process_mode_writes_no_file(fresh):
    with autotune.mode("process"):
        autotune.run("op", (1,), {"a": lambda: 1, "b": lambda: 2}, "a", BIG)
    assert autotune.choices() and not autotune.cache_file().exists()


def test_a_damaged_cache_file_is_ignored_and_replaced(fresh):
    autotune.cache_file().parent.mkdir(parents=True, exist_ok=True)
    autotune.cache_file().write_text("{not json")
    assert autotune.run("op", (1,), {"a": lambda: 1, "b": lambda: 2}, "a", BIG) in (1, 2)
    assert json.loads(autotune.cache_file().read_text())[autotune.machine()]


def test_the_machine_key_names_the_blas_kernel_set():
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if blas and blas[0].get("architecture"):
        assert blas[0]["architecture"] in autotune.machine()


@pytest.mark.parametrize("value, mode", [("0", "frozen"), ("frozen", "frozen"), ("1", "timed"), ("", "timed"),
                                         ("process", "process")])
def test_the_environment_switch(monkeypatch, value, mode):
    monkeypatch.setenv("CHAINRULE_AUTOTUNE", value)
    assert autotune._mode_from_environment() == mode


def test_a_bad_mode_is_refused(monkeypatch):
    monkeypatch.setenv("CHAINRULE_AUTOTUNE", "fast")
    with pytest.raises(ValueError, match="CHAINRULE_AUTOTUNE='fast'"):
        autotune._mode_from_environment()
    with pytest.raises(ValueError, match="frozen"):
        autotune.set_mode("sometimes")


# ------------------------------------------------------- every candidate is right
# (x shape, w shape, padding): wide-row geometries where each op has several candidates
GEOMETRIES = [((3, 4, 9, 8), (4, 4, 3, 3), 1), ((2, 16, 8, 8), (16, 16, 3, 3), 1),
              ((3, 2, 7, 6), (5, 2, 3, 3), 1), ((2, 4, 6, 5), (3, 4, 3, 3), 2), ((2, 3, 5, 7), (4, 3, 1, 1), 0)]
NAMES = ["columns", "columns-whole", "taps", "taps-blas", "col2im", "conv"]


@pytest.fixture(params=["one block", "sub-blocks of 2 on 2 threads"])
def blocks(request, monkeypatch):
    if request.param != "one block":  # block and sub-block boundaries, a short last sub-block
        from chainrule.ops import gemm, parallel

        monkeypatch.setattr(gemm, "_columns_per_product", lambda F, K: 16)
        monkeypatch.setattr(parallel, "examples_per_sub_block", lambda per_example, n: min(2, n))
        monkeypatch.setattr(parallel, "num_parts", lambda n, work: min(2, n))
        monkeypatch.setattr(parallel, "_num_threads", 2)
        monkeypatch.setattr(parallel, "_pool", None)


@pytest.mark.parametrize("xs, ws, padding", GEOMETRIES)
@pytest.mark.parametrize("name", NAMES)
def test_every_candidate_matches_the_naive_loops_in_float64(xs, ws, padding, name, monkeypatch, blocks):
    """Each op takes candidate `name` where it has one (its fixed rule otherwise): forward, dx and
    dW against the lecture's loops, float64 to 1e-10."""
    forced = []

    def force(op, key, cands, default, work):
        forced.append(name in cands)
        return cands[name if name in cands else default]()

    monkeypatch.setattr(autotune, "run", force)
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    X, W, B = (cr.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(X, W, B, 1, padding)
    np.testing.assert_allclose(y.data, conv2d_naive(x, w, b, 1, padding), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    dx, dw, db = conv2d_naive_backward(g, x, w, 1, padding)
    for got, want in ((X.grad, dx), (W.grad, dw), (B.grad, db)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)
    assert forced  # the ops did ask


def test_float32_candidates_agree_to_the_documented_tolerance(monkeypatch):
    """The candidates sum in other orders: float32 results agree to ~1e-6 relative, not bitwise."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 32, 8, 8)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    outs = {}
    for name in ("columns", "taps", "taps-blas"):
        monkeypatch.setattr(autotune, "run", lambda op, key, cands, default, work, n=name: cands[n]())
        outs[name] = conv2d(cr.Tensor(x), cr.Tensor(w), None, 1, 1).data
    scale = np.abs(outs["columns"]).max()
    for name in ("taps", "taps-blas"):
        np.testing.assert_allclose(outs[name], outs["columns"], rtol=0, atol=2e-6 * scale)


def test_a_tuned_choice_holds_in_a_new_process(tmp_path):
    """Two processes sharing the cache file make the same choice for a ResNet-20-sized layer, so
    their float32 results are bitwise equal (what a resumed run needs)."""
    code = (
        "import numpy as np, chainrule as cr, sys\n"
        "from chainrule.ops import autotune\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((64, 32, 16, 16)).astype(np.float32)\n"
        "w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)\n"
        "y = cr.nn.functional.conv2d(cr.Tensor(x), cr.Tensor(w), None, 1, 1).data\n"
        "np.save(sys.argv[1], y)\n"
        "print(sorted(autotune.choices().items()))\n"
    )
    env = {**__import__("os").environ, "CHAINRULE_CACHE_DIR": str(tmp_path), "CHAINRULE_AUTOTUNE": "timed"}
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path / f"y{i}.npy")], env=env, capture_output=True,
                           text=True, timeout=300) for i in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout == runs[1].stdout and "conv2d.wide" in runs[0].stdout
    assert np.array_equal(np.load(tmp_path / "y0.npy"), np.load(tmp_path / "y1.npy"))


def test_frozen_rules_are_the_documented_ones():
    """The fixed rules the frozen mode uses (also the fallback for small jobs)."""
    assert conv_wide._by_taps(32, 32, 16 * 17) and not conv_wide._by_taps(16, 16, 32 * 33)


def test_the_compiled_blas_loops_are_offered_only_with_numba_on(monkeypatch):
    from chainrule.ops import conv_jit, jit

    offered = []
    monkeypatch.setattr(autotune, "run", lambda op, key, cands, default, work: offered.append(set(cands))
                        or cands[default]())
    x, w = np.ones((2, 4, 6, 6)), np.ones((4, 4, 3, 3))
    with jit.enabled(False):
        conv2d(cr.Tensor(x), cr.Tensor(w), None, 1, 1)
        assert not conv_jit.available(np.float64)
    assert "taps-blas" not in offered[-1]
    if conv_jit.available(np.float32):
        conv2d(cr.Tensor(x), cr.Tensor(w), None, 1, 1)
        assert "taps-blas" in offered[-1]
    assert not conv_jit.available(np.float16)
