"""DataLoader: coverage, reproducibility, drop_last, prefetch, resume."""
import json
import threading

import numpy as np
import pytest

from chainrule.data import ArrayLoader as DataLoader
from chainrule.data import transforms as T


def _data(n=23):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return X, np.arange(n)


def _epoch(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


def test_every_example_once_per_epoch_and_len():
    X, y = _data()
    L = DataLoader(X, y, batch_size=5)
    assert len(L) == 5
    for _ in range(3):
        batches = _epoch(L)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        ys = np.concatenate([b[1] for b in batches])
        assert sorted(ys) == list(range(23))
        for xb, yb in batches:                     # X and y stay paired
            assert np.array_equal(xb, X[yb])
    assert L.epoch == 3


def test_drop_last_and_no_shuffle():
    X, y = _data()
    L = DataLoader(X, y, batch_size=5, drop_last=True)
    assert len(L) == 4 and [len(b[1]) for b in L] == [5, 5, 5, 5]
    L = DataLoader(X, y, batch_size=5, shuffle=False)
    assert np.array_equal(np.concatenate([b[1] for b in L]), y)
    assert len(DataLoader(X[:20], y[:20], batch_size=5, drop_last=True)) == 4


def test_seeded_reproducible_and_epochs_differ():
    X, y = _data(100)
    a, b, c = DataLoader(X, y, 10, seed=7), DataLoader(X, y, 10, seed=7), DataLoader(X, y, 10, seed=8)
    ea1, ea2 = [np.concatenate([yb for _, yb in a]) for _ in range(2)]
    eb1, eb2 = [np.concatenate([yb for _, yb in b]) for _ in range(2)]
    ec1 = np.concatenate([yb for _, yb in c])
    assert np.array_equal(ea1, eb1) and np.array_equal(ea2, eb2)
    assert not np.array_equal(ea1, ea2) and not np.array_equal(ea1, ec1)


def _noisy(x, rng):
    return x + rng.standard_normal(x.shape).astype(np.float32)


@pytest.mark.parametrize("tf", [_noisy, T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])])
def test_prefetch_gives_identical_batches(tf):
    X = np.random.default_rng(0).random((37, 1, 4, 4)).astype(np.float32)
    y = np.arange(37)
    plain = DataLoader(X, y, 8, transform=tf, seed=3)
    pre = DataLoader(X, y, 8, transform=tf, seed=3, prefetch=True)
    for _ in range(2):
        for (xa, ya), (xb, yb) in zip(_epoch(plain), _epoch(pre), strict=True):
            assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_augmentation_differs_between_epochs_reproducible_by_seed():
    X = np.zeros((6, 1, 2, 2), np.float32)
    L = DataLoader(X, np.arange(6), 6, shuffle=False, transform=_noisy, seed=1)
    (x1, _), = list(L)
    (x2, _), = list(L)
    (x3, _), = list(DataLoader(X, np.arange(6), 6, shuffle=False, transform=_noisy, seed=1))
    assert not np.allclose(x1, x2) and np.array_equal(x1, x3)
    # a transform without an rng argument is called plainly
    (x4, _), = list(DataLoader(X, np.arange(6), 6, transform=lambda x: x + 1))
    assert np.all(x4 == 1)


def test_prefetch_thread_stops_when_iteration_stops_early():
    X, y = _data(200)
    before = threading.active_count()
    L = DataLoader(X, y, 2, prefetch=True, transform=lambda x: x * 2)
    for i, (xb, yb) in enumerate(L):
        if i == 3:
            break
    assert threading.active_count() == before
    assert not any(t.name == "chainrule-prefetch" for t in threading.enumerate())

    def boom(x):
        raise RuntimeError("transform failed")
    with pytest.raises(RuntimeError, match="transform failed"):
        list(DataLoader(X, y, 2, prefetch=True, transform=boom))
    assert not any(t.name == "chainrule-prefetch" for t in threading.enumerate())


@pytest.mark.parametrize("prefetch", [False, True])
def test_state_dict_resume_mid_epoch_continues_identically(prefetch):
    X = np.random.default_rng(0).random((30, 1, 3, 3)).astype(np.float32)
    y = np.arange(30)
    ref = DataLoader(X, y, 4, transform=_noisy, seed=5)
    ref_batches = _epoch(ref) + _epoch(ref) + _epoch(ref)   # 3 epochs of 8 batches

    run = DataLoader(X, y, 4, transform=_noisy, seed=5, prefetch=prefetch)
    got = _epoch(run)
    it = iter(run)
    got += [tuple(a.copy() for a in next(it)) for _ in range(3)]
    state = json.loads(json.dumps(run.state_dict()))           # JSON-able
    assert state["epoch"] == 1 and state["batch"] == 3
    del it
    resumed = DataLoader(X, y, 4, transform=_noisy, seed=999, prefetch=prefetch)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    got += _epoch(resumed) + _epoch(resumed)
    assert len(got) == len(ref_batches) == 24
    for (xa, ya), (xb, yb) in zip(got, ref_batches):
        assert np.array_equal(ya, yb) and np.array_equal(xa, xb)
    assert resumed.epoch == 3 and resumed.state_dict()["batch"] == 0


def test_state_dict_at_epoch_boundary_and_errors():
    X, y = _data(10)
    a = DataLoader(X, y, 3, seed=2)
    _epoch(a)
    b = DataLoader(X, y, 3, seed=0)
    b.load_state_dict(a.state_dict())
    assert [yb.tolist() for _, yb in a] == [yb.tolist() for _, yb in b]
    with pytest.raises(ValueError, match="batches of 3"):
        DataLoader(X, y, 4).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="same first dimension"):
        DataLoader(X, y[:5], 2)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, 0)
