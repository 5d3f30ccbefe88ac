"""Splits and the built-in digits dataset."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.data import Splits, load_digits, stratified_split


def test_digits_default_split_shapes_and_ranges():
    s = load_digits()
    assert isinstance(s, Splits)
    assert s.X_train.shape == (1077, 1, 8, 8) and s.X_val.shape == (360, 1, 8, 8)
    assert s.X_test.shape == (360, 1, 8, 8)
    for k in ("X_train", "X_val", "X_test"):
        assert s[k].dtype == np.float32 and s[k].min() == 0.0 and s[k].max() == 1.0
    for k in ("y_train", "y_val", "y_test"):
        assert s[k].dtype == np.int64
    assert s.classes == [str(d) for d in range(10)]
    assert s.info["name"] == "digits" and s.info["counts"] == {"train": 1077, "val": 360, "test": 360}
    # stratified: every class has 35-37 validation images and 35-37 test images
    assert np.bincount(s.y_val).min() >= 35 and np.bincount(s.y_val).max() <= 37
    assert np.bincount(s.y_test).min() >= 35 and np.bincount(s.y_test).max() <= 37


def test_digits_split_is_a_partition_and_seeded():
    from sklearn.datasets import load_digits as sk
    X = (sk().images.astype(np.float32) / 16).reshape(-1, 64)
    s = load_digits(seed=0)
    allx = np.concatenate([s.X_train, s.X_val, s.X_test]).reshape(-1, 64)
    assert allx.shape == X.shape
    # same multiset of rows as the original data
    a = allx[np.lexsort(allx.T)]
    b = X[np.lexsort(X.T)]
    assert np.array_equal(a, b)
    assert np.array_equal(s.y_val, load_digits(seed=0).y_val)
    assert np.array_equal(s.X_val, load_digits(seed=0).X_val)
    assert not np.array_equal(s.X_val, load_digits(seed=1).X_val)


def test_splits_mapping_protocol():
    s = load_digits(subsample=50, val_size=0.1)
    assert list(s.keys()) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    assert dict(s.items())["X_train"] is s.X_train
    assert len(s) == 6

    def f(X_train, y_train, X_val, y_val, X_test, y_test):
        return X_train.shape[0], X_val.shape[0]

    assert f(**s) == (50, 144)   # 10% of the 1437 left after the test split
    assert np.all(np.bincount(s.y_train) == 5)
    with pytest.raises(KeyError, match="attributes"):
        s["classes"]
    assert cr.data.load_digits is load_digits


def test_val_stays_fixed_under_subsample():
    a, b = load_digits(), load_digits(subsample=100)
    assert np.array_equal(a.X_val, b.X_val)
    # the subsample is drawn from the full training set
    tr = {x.tobytes() for x in a.X_train}
    assert all(x.tobytes() in tr for x in b.X_train)


def test_stratified_split_exact_counts_and_errors():
    y = np.repeat(np.arange(3), [10, 20, 70])
    rest, picked = stratified_split(y, 0.1, seed=3)
    assert len(picked) == 10 and len(rest) == 90
    assert np.array_equal(np.bincount(y[picked]), [1, 2, 7])
    assert np.array_equal(np.sort(np.concatenate([rest, picked])), np.arange(100))
    rest, picked = stratified_split(y, 7)  # quotas 0.7, 1.4, 4.9 -> 0,1,4 + 2 leftovers to 0 and 2
    assert len(picked) == 7 and np.array_equal(np.bincount(y[picked], minlength=3), [1, 1, 5])
    with pytest.raises(ValueError, match="out of range"):
        stratified_split(y, 101)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        stratified_split(y, 1.5)
    with pytest.raises(TypeError):
        stratified_split(y, "10")
    with pytest.raises(ValueError, match="subsample"):
        load_digits(subsample=0)


def test_splits_rejects_bad_shapes():
    X = np.zeros((4, 1, 2, 2), np.float32)
    y = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="X_val"):
        Splits(X, y, X[0], y, X, y, classes=["a"])
    with pytest.raises(ValueError, match="y_test"):
        Splits(X, y, X, y, X, y[:3], classes=["a"])


def test_splits_copy_and_pickle_roundtrip():
    import copy
    import pickle
    s = load_digits(subsample=20)
    for c in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert np.array_equal(c.X_train, s.X_train) and c.classes == s.classes and c.info == s.info


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(deadline=None, max_examples=40)
@given(counts=st.lists(st.integers(1, 30), min_size=1, max_size=6), frac=st.floats(0, 0.99),
       seed=st.integers(0, 2**31))
def test_stratified_split_properties(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    rest, picked = stratified_split(y, frac, seed=seed)
    n = len(y)
    assert len(picked) == int(round(frac * n))
    assert np.array_equal(np.sort(np.concatenate([rest, picked])), np.arange(n))
    # each class within one example of its exact share
    got = np.bincount(y[picked], minlength=len(counts))
    assert np.all(np.abs(got - np.array(counts) * len(picked) / n) < 1 + 1e-9)
    r2, p2 = stratified_split(y, frac, seed=seed)
    assert np.array_equal(picked, p2)
