"""ops.parallel: blocks over threads, the per-thread reduction, scratch buffers."""
import numpy as np
import pytest

from chainrule.ops import parallel


@pytest.mark.parametrize("threads", [1, 3])
def test_block_sums_adds_every_block_in_order(threads):
    seen = []

    def fn(i, lo, hi):
        seen.append((i, lo, hi))
        return np.arange(lo, hi, dtype=float).sum(keepdims=True), None

    with parallel.threads(threads):
        total, nothing = parallel.block_sums(fn, 10, work=1 << 20)
    assert total.tolist() == [45.0] and nothing is None
    assert sorted(seen) == sorted(seen, key=lambda t: t[1])  # block i covers the i-th run
    assert sum(hi - lo for _, lo, hi in seen) == 10 and len(seen) == min(threads, 10)


def test_small_jobs_run_as_one_block():
    seen = []
    with parallel.threads(4):
        parallel.blocks(lambda i, lo, hi: seen.append((i, lo, hi)), 8, work=10)
    assert seen == [(0, 0, 8)]


def test_sub_blocks_cover_the_range():
    assert list(parallel.sub_blocks(3, 10, 3)) == [(3, 6), (6, 9), (9, 10)]
    assert parallel.examples_per_sub_block(parallel.CACHE_BYTES // 4, 100) == 4
    assert parallel.examples_per_sub_block(10 * parallel.CACHE_BYTES, 100) == 1


def test_padded_keeps_a_zero_border_across_calls():
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((2, 3, 4, 5))
        xp = parallel.padded(x, 1, 2, "test.pad", extra_rows=1)
        assert xp.shape == (2, 3, 4 + 2 + 1, 5 + 4)
        np.testing.assert_array_equal(xp[:, :, 1:5, 2:7], x)
        inner = np.zeros(xp.shape, bool)
        inner[:, :, 1:5, 2:7] = True
        assert not xp[~inner].any()
    assert parallel.padded(x, 0, 0, "test.pad") is x


def test_piece_is_a_contiguous_prefix():
    flat = np.arange(10.0)
    p = parallel.piece(flat, 2, 3)
    assert p.shape == (2, 3) and p.flags.c_contiguous and np.shares_memory(p, flat)
    np.testing.assert_array_equal(p.ravel(), np.arange(6.0))


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="positive number of threads"):
        parallel.set_num_threads(0)


def test_padded_buffers_of_different_inputs_never_share_a_border():
    # a 1x1 conv with pad 1 on W=8 and a 3x3 conv with pad 1 on W=9 both ask for rows of width 10
    wide = parallel.padded(np.ones((2, 3, 4, 9), np.float32), 1, 1, "test.wide", extra_rows=1, width=10)
    assert wide[0, 0, 1, 9] == 1.0                       # the wider input fills column 9
    narrow = parallel.padded(np.ones((2, 3, 4, 8), np.float32), 1, 1, "test.wide", extra_rows=1, width=10)
    assert narrow is not wide and np.all(narrow[:, :, :, 9] == 0)  # column 9 is the narrow input's padding


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_matmul_split_over_threads_equals_numpy(threads, monkeypatch):
    # a Linear-sized product runs its rows (and dB's sum over rows) on the op threads
    import chainrule as cr

    monkeypatch.setattr(parallel, "_num_threads", threads)
    monkeypatch.setattr(parallel, "_pool", None)
    rng = np.random.default_rng(0)
    a, b, g = rng.standard_normal((301, 500)), rng.standard_normal((40, 500)), rng.standard_normal((301, 40))
    A, B = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = A @ B.T                                     # as nn.Linear computes it
    out.backward(g)
    np.testing.assert_allclose(out.detach().numpy(), a @ b.T, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(A.grad, g @ b, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(B.grad, g.T @ a, rtol=1e-12, atol=1e-11)
