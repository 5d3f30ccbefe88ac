"""KNearestNeighbor: equals scikit-learn's brute-force kNN, loop/vectorised/chunked distances agree."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier

from chainrule.classifiers import KNearestNeighbor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = X[perm].reshape(-1, 1, 8, 8), y[perm]  # image-shaped input is flattened by the classifier
    return X[:1400], y[:1400], X[1400:1650], y[1400:1650]


@pytest.mark.parametrize("metric,p", [("l2", 2), ("l1", 1)])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_sklearn_brute_force(digits, metric, p, k):
    Xtr, ytr, Xte, yte = digits
    ours = KNearestNeighbor(k=k, metric=metric).fit(Xtr, ytr)
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute", p=p).fit(Xtr.reshape(len(Xtr), -1), ytr)
    Xte2 = Xte.reshape(len(Xte), -1)
    np.testing.assert_array_equal(ours.predict(Xte), sk.predict(Xte2))
    assert ours.score(Xte, yte) == pytest.approx(sk.score(Xte2, yte))
    d_ours, _ = ours.kneighbors(Xte)
    d_sk, _ = sk.kneighbors(Xte2)
    np.testing.assert_allclose(d_ours, d_sk, rtol=1e-10, atol=1e-9)
    # The neighbour SET is only defined where the k-th and (k+1)-th distances differ
    # (scikit-learn leaves ties at the boundary unspecified): compare the votes there.
    dk, _ = KNearestNeighbor(k=k + 1, metric=metric).fit(Xtr, ytr).kneighbors(Xte)
    clear = dk[:, k - 1] < dk[:, k]
    assert clear.mean() > 0.7
    np.testing.assert_allclose(ours.predict_proba(Xte)[clear], sk.predict_proba(Xte2)[clear])


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_three_distance_implementations_agree(digits, metric):
    Xtr, ytr, Xte, _ = digits
    knn = KNearestNeighbor(metric=metric).fit(Xtr[:150], ytr[:150])
    d2 = knn.compute_distances(Xte[:20], num_loops=2)
    d1 = knn.compute_distances(Xte[:20], num_loops=1)
    d0 = knn.compute_distances(Xte[:20], num_loops=0)
    assert d0.shape == (20, 150)
    np.testing.assert_allclose(d1, d2, rtol=1e-12)
    np.testing.assert_allclose(d0, d2, rtol=1e-10, atol=1e-9)
    a, b = Xte[0].ravel(), Xtr[7].ravel()
    expected = np.sqrt(np.sum((a - b) ** 2)) if metric == "l2" else np.sum(np.abs(a - b))
    assert d0[0, 7] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(knn.predict(Xte[:20], num_loops=2), knn.predict(Xte[:20]))


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_chunked_equals_unchunked(digits, metric):
    Xtr, ytr, Xte, _ = digits
    whole = KNearestNeighbor(k=3, metric=metric, memory_mb=4096).fit(Xtr, ytr)
    # 0.2 MB: one test row per chunk, and for L1 also blocks of training rows.
    chunked = KNearestNeighbor(k=3, metric=metric, memory_mb=0.2).fit(Xtr, ytr)
    assert len(list(chunked._distance_chunks(Xte[:50].reshape(50, -1).astype(float)))) > 5
    if metric == "l2":  # L1 blocks are capped at 2 MB whatever the budget (cache-sized)
        assert len(list(whole._distance_chunks(Xte[:50].reshape(50, -1).astype(float)))) == 1
    np.testing.assert_allclose(chunked.compute_distances(Xte[:100]),
                               whole.compute_distances(Xte[:100], num_loops=1), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(chunked.compute_distances(Xte[:100]), whole.compute_distances(Xte[:100]),
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(chunked.predict(Xte[:100]), whole.predict(Xte[:100]))


def test_ties_training_order_and_smallest_label():
    # Training points at distance 1 from the test point 0, in training order 0, 1, 2, 3.
    X = np.array([[1.0], [-1.0], [1.0], [-1.0], [5.0]])
    y = np.array([7, 3, 9, 3, 1])
    knn = KNearestNeighbor(k=1).fit(X, y)
    dist, ind = knn.kneighbors(np.array([[0.0]]))
    assert ind.tolist() == [[0]] and dist.tolist() == [[1.0]]
    assert knn.predict(np.array([[0.0]])).tolist() == [7]          # first in training order
    knn.set_params(k=2).fit(X, y)
    assert knn.kneighbors(np.array([[0.0]]))[1].tolist() == [[0, 1]]
    assert knn.predict(np.array([[0.0]])).tolist() == [3]          # vote 7 vs 3: the smaller label
    np.testing.assert_allclose(knn.predict_proba(np.array([[0.0]])), [[0.0, 0.5, 0.5, 0.0]])
    assert knn.classes_.tolist() == [1, 3, 7, 9]


def test_k_smallest_equals_stable_argsort():
    rng = np.random.default_rng(1)
    d = rng.integers(0, 6, size=(40, 30)).astype(float)  # many ties
    for k in (1, 2, 5, 29, 30):
        np.testing.assert_array_equal(KNearestNeighbor._k_smallest(d, k),
                                      np.argsort(d, axis=1, kind="stable")[:, :k])


def test_predict_labels_from_precomputed_distances(digits):
    Xtr, ytr, Xte, _ = digits
    knn = KNearestNeighbor(k=1).fit(Xtr, ytr)
    dists = knn.compute_distances(Xte)
    for k in (1, 5):
        np.testing.assert_array_equal(knn.predict_labels(dists, k=k),
                                      KNearestNeighbor(k=k).fit(Xtr, ytr).predict(Xte))


def test_string_labels_and_sklearn_conventions(digits):
    Xtr, ytr, Xte, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    knn = KNearestNeighbor(k=3, metric="l1")
    assert knn.get_params() == {"k": 3, "metric": "l1", "memory_mb": 128.0}
    assert knn.fit(Xtr[:300], names[ytr[:300]]) is knn
    pred = knn.predict(Xte[:50])
    np.testing.assert_array_equal(pred, names[KNearestNeighbor(k=3, metric="l1").fit(
        Xtr[:300], ytr[:300]).predict(Xte[:50])])
    other = clone(knn)
    assert other.get_params() == knn.get_params() and not hasattr(other, "X_train_")


def test_bad_input_errors():
    X = np.random.default_rng(0).standard_normal((10, 4))
    y = np.arange(10) % 3
    with pytest.raises(NotFittedError):
        KNearestNeighbor().predict(X)
    with pytest.raises(ValueError, match="different lengths: X has 10 samples, y has 9"):
        KNearestNeighbor().fit(X, y[:9])
    with pytest.raises(ValueError, match=r"k=11 is larger than the training set \(10 samples\)"):
        KNearestNeighbor(k=11).fit(X, y)
    with pytest.raises(ValueError, match="positive integer"):
        KNearestNeighbor(k=0).fit(X, y)
    with pytest.raises(ValueError, match=r"metric in \('l2', 'l1'\), got 'cosine'"):
        KNearestNeighbor(metric="cosine").fit(X, y)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="finite features.*1 NaN or infinite"):
        KNearestNeighbor().fit(bad, y)
    knn = KNearestNeighbor().fit(X, y)
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="finite features.*2 NaN or infinite"):
        knn.predict(bad)
    with pytest.raises(ValueError, match="X has 5 features per sample but the model was fit with 4"):
        knn.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"shape \(N, \.\.\.\)"):
        knn.predict(np.zeros(4))
    with pytest.raises(ValueError, match="num_loops in"):
        knn.compute_distances(X, num_loops=3)
