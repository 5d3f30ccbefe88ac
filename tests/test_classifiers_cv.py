"""cross_validate (folds, grid, best setting) and class-template images."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from chainrule.classifiers import (KNearestNeighbor, Softmax, cross_validate, parameter_grid,
                                   visualize_templates)


class Recorder:
    """A fake estimator: remembers what it was fit on and scores a fixed value per setting."""

    seen: list = []

    def __init__(self, a=0, b=0):
        self.a, self.b = a, b

    def fit(self, X, y):
        Recorder.seen.append((self.a, self.b, X[:, 0].copy()))
        return self

    def score(self, X, y):
        return 0.5 if self.a in (2, 3) else 0.1


def test_folds_are_array_split_of_a_seeded_permutation():
    X = np.arange(23, dtype=float).reshape(23, 1)
    y = np.zeros(23, dtype=int)
    Recorder.seen = []
    res = cross_validate(Recorder, X, y, {"a": [1, 2, 3], "b": ["x", "y"]}, num_folds=4, seed=7)
    folds = np.array_split(np.random.default_rng(7).permutation(23), 4)
    assert len(Recorder.seen) == 6 * 4
    for f in range(4):
        train = np.concatenate([folds[g] for g in range(4) if g != f])
        for s in range(6):
            a, b, seen = Recorder.seen[f * 6 + s]
            assert (a, b) == (res.params[s]["a"], res.params[s]["b"])
            np.testing.assert_array_equal(seen, train.astype(float))
    assert res.params == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"},
                          {"a": 2, "b": "y"}, {"a": 3, "b": "x"}, {"a": 3, "b": "y"}]
    assert res.scores.shape == (6, 4)
    # a=2 and a=3 tie: the first in grid order wins.
    assert res.best_params == {"a": 2, "b": "x"} and res.best_index == 2 and res.best_score == 0.5
    np.testing.assert_allclose(res.std, 0.0)
    assert "<- best" in res.table().splitlines()[3]


def test_knn_cross_validation_equals_manual_loop():
    X, y = load_digits(return_X_y=True)
    X, y = X[:500], y[:500]
    res = cross_validate(KNearestNeighbor, X, y, {"k": [1, 5, 20]}, num_folds=5, seed=0)
    perm = np.random.default_rng(0).permutation(500)
    Xf, yf = np.array_split(X[perm], 5), np.array_split(y[perm], 5)
    for s, k in enumerate([1, 5, 20]):
        for f in range(5):
            knn = KNearestNeighbor(k=k).fit(np.concatenate(Xf[:f] + Xf[f + 1:]),
                                            np.concatenate(yf[:f] + yf[f + 1:]))
            assert res.scores[s, f] == knn.score(Xf[f], yf[f])
    np.testing.assert_allclose(res.mean, res.scores.mean(axis=1))
    # k=1 and k=5 both get 493/500 right; their means differ only in the last bit
    # (summed in another order) and the tie goes to the first setting.
    assert res.mean[0] == pytest.approx(res.mean[1], abs=1e-12) and res.mean[0] > res.mean[2]
    assert res.best_params == {"k": 1}
    assert res.mean[0] > 0.9


def test_cross_validate_errors():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match=r"expected 2 <= num_folds <= 10 \(the number of samples\), got 1"):
        cross_validate(Recorder, X, y, {"a": [1]}, num_folds=1)
    with pytest.raises(ValueError, match="got 11"):
        cross_validate(Recorder, X, y, {"a": [1]}, num_folds=11)
    with pytest.raises(ValueError, match="different lengths"):
        cross_validate(Recorder, X, y[:5], {"a": [1]})
    with pytest.raises(ValueError, match="non-empty dict of lists"):
        parameter_grid({})
    with pytest.raises(ValueError, match="non-empty list of values for 'a'"):
        parameter_grid({"a": []})


def _fitted_softmax(shape, c=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30,) + shape)
    return Softmax(lr=0.1, num_iters=20).fit(X, np.arange(30) % c)


def test_templates_grey(tmp_path):
    clf = _fitted_softmax((1, 4, 5))
    path = tmp_path / "t.png"
    t = visualize_templates(clf, (1, 4, 5), path=str(path), class_names=["a", "b", "c"])
    assert t.shape == (3, 4, 5) and t.dtype == np.uint8
    assert t.reshape(3, -1).min(axis=1).tolist() == [0, 0, 0]
    assert t.reshape(3, -1).max(axis=1).tolist() == [255, 255, 255]
    w = clf.W_[:-1, 1]
    np.testing.assert_array_equal(t[1].ravel(), np.round(255 * (w - w.min()) / (w.max() - w.min())))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_templates_colour_channels_first_and_last():
    clf = _fitted_softmax((3, 2, 2))
    first = visualize_templates(clf, (3, 2, 2))
    assert first.shape == (3, 2, 2, 3)
    w = clf.W_[:-1, 0].reshape(3, 2, 2)
    assert np.argmax(first[0]) == np.argmax(np.moveaxis(w, 0, -1))
    assert visualize_templates(clf, (2, 2, 3)).shape == (3, 2, 2, 3)
    with pytest.raises(ValueError, match=r"image_shape \(5, 5\) has 25 values but the classifier has 12"):
        visualize_templates(clf, (5, 5))


def test_cross_validate_linear_learning_rate_and_reg():
    from functools import partial

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0 - (X[:600] / 16.0).mean(axis=0)
    res = cross_validate(partial(Softmax, num_iters=100), X, y[:600],
                         {"lr": [1e-4, 0.5], "reg": [1e-4, 10.0]}, num_folds=3)
    assert [p["lr"] for p in res.params] == [1e-4, 1e-4, 0.5, 0.5]
    assert res.best_params == {"lr": 0.5, "reg": 1e-4}
    # lr too small underfits; lr * 2 reg = 10 > 2 makes W oscillate and grow (W *= -9 per step).
    assert res.best_score > 0.9 and res.mean[0] < 0.85 and res.mean[3] < 0.5
