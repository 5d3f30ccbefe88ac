"""Linear SVM and softmax: losses (naive = vectorised, gradients, lecture examples), SGD training."""
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import chainrule as cr
from chainrule.classifiers import (LinearSVM, Softmax, augment, regularization, softmax_loss_naive,
                                   softmax_loss_vectorized, svm_loss_naive, svm_loss_vectorized)

LOSSES = {"svm": (svm_loss_naive, svm_loss_vectorized),
          "softmax": (softmax_loss_naive, softmax_loss_vectorized)}
REG_TYPES = ["l2", "l1", "elastic"]


def _problem(seed=0, n=12, d=6, c=4):
    rng = np.random.default_rng(seed)
    X = augment(rng.standard_normal((n, d)))
    W = rng.standard_normal((d + 1, c))
    y = rng.integers(0, c, n)
    return W, X, y


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reg_type", REG_TYPES)
@pytest.mark.parametrize("bias_row", [True, False])
def test_naive_equals_vectorized(loss, reg_type, bias_row):
    naive, vec = LOSSES[loss]
    rng = np.random.default_rng(3)
    X = augment(rng.standard_normal((50, 20)))
    W = 0.1 * rng.standard_normal((21, 10))
    y = rng.integers(0, 10, 50)
    l_n, g_n = naive(W, X, y, 0.3, reg_type, 0.7, bias_row)
    l_v, g_v = vec(W, X, y, 0.3, reg_type, 0.7, bias_row)
    assert abs(l_n - l_v) < 1e-10
    np.testing.assert_allclose(g_n, g_v, atol=1e-10, rtol=0)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reg_type", REG_TYPES)
def test_gradient_matches_central_differences(loss, reg_type):
    _, vec = LOSSES[loss]
    W, X, y = _problem()
    f = lambda w: vec(w, X, y, 0.2, reg_type, 0.5, True)[0]  # noqa: E731
    _, dW = vec(W, X, y, 0.2, reg_type, 0.5, True)
    num = cr.numerical_gradient(f, W.copy(), h=1e-6)
    np.testing.assert_allclose(dW, num, atol=1e-6, rtol=1e-5)


def _cr_loss(loss, W, X, y):
    """The same data losses written in chainrule ops, for autograd to differentiate."""
    onehot = cr.tensor(np.eye(W.shape[1])[y])
    scores = cr.tensor(X) @ W
    correct = (scores * onehot).sum(axis=1, keepdims=True)
    if loss == "svm":
        return ((scores - correct + 1.0).relu() * (1.0 - onehot)).sum() / X.shape[0]
    m = scores.max(axis=1, keepdims=True)
    lse = ((scores - m).exp().sum(axis=1, keepdims=True)).log() + m
    return (lse - correct).sum() / X.shape[0]


@pytest.mark.parametrize("loss", LOSSES)
def test_analytic_gradient_equals_chainrule_autograd(loss):
    _, vec = LOSSES[loss]
    W, X, y = _problem(seed=5)
    Wt = cr.tensor(W, requires_grad=True)
    out = _cr_loss(loss, Wt, X, y)
    out.backward()
    ours, dW = vec(W, X, y, 0.0)
    assert out.item() == pytest.approx(ours, rel=1e-12)
    np.testing.assert_allclose(dW, Wt.grad, atol=1e-12)
    assert cr.gradcheck(lambda w: _cr_loss(loss, w, X, y), [cr.tensor(W, requires_grad=True)])


@pytest.mark.parametrize("loss", LOSSES)
def test_matches_pytorch(loss):
    torch = pytest.importorskip("torch")
    _, vec = LOSSES[loss]
    W, X, y = _problem(seed=7, n=30, d=8, c=5)
    Wt = torch.tensor(W, requires_grad=True)
    scores = torch.tensor(X) @ Wt
    if loss == "svm":
        # multi_margin_loss averages the hinge terms over classes too: multiply back by C.
        ref = torch.nn.functional.multi_margin_loss(scores, torch.tensor(y), margin=1.0) * W.shape[1]
    else:
        ref = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
    ref = ref + 0.1 * (Wt[:-1] ** 2).sum()  # L2, bias row not regularised
    ref.backward()
    ours, dW = vec(W, X, y, 0.1, "l2", 0.5, True)
    assert ours == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), atol=1e-12)


def test_svm_lecture_example():
    # Rows: the cat, car and frog images; columns: scores for cat, car, frog.
    # With X = I the scores X W are W itself.
    W = np.array([[3.2, 5.1, -1.7],
                  [1.3, 4.9, 2.0],
                  [2.2, 2.5, -3.1]])
    X, y = np.eye(3), np.array([0, 1, 2])
    per_image = [svm_loss_vectorized(W, X[i:i + 1], y[i:i + 1], 0.0)[0] for i in range(3)]
    np.testing.assert_allclose(per_image, [2.9, 0.0, 12.9], atol=1e-12)
    loss, _ = svm_loss_vectorized(W, X, y, 0.0)
    assert loss == pytest.approx(15.8 / 3) and round(loss, 2) == 5.27
    assert svm_loss_naive(W, X, y, 0.0)[0] == pytest.approx(loss, abs=1e-12)


def test_softmax_lecture_example():
    W = np.array([[3.2, 5.1, -1.7]])
    loss, _ = softmax_loss_vectorized(W, np.ones((1, 1)), np.array([0]), 0.0)
    p_cat = math.exp(3.2) / (math.exp(3.2) + math.exp(5.1) + math.exp(-1.7))
    assert loss == pytest.approx(-math.log(p_cat), rel=1e-12)
    assert round(loss, 2) == 2.04


def test_regularization_values_and_bias_not_penalised():
    W = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, -4.0]])  # last row: bias
    assert regularization(W, 0.1, "l2", bias_row=True)[0] == pytest.approx(0.1 * (1 + 4 + 0.25))
    assert regularization(W, 0.1, "l1", bias_row=True)[0] == pytest.approx(0.1 * 3.5)
    R, dR = regularization(W, 0.1, "elastic", beta=0.5, bias_row=True)
    assert R == pytest.approx(0.1 * (0.5 * 5.25 + 3.5))
    # 2 beta W + sign(W) on the weights (sign(0) = 0), zero on the bias row
    np.testing.assert_allclose(dR, 0.1 * np.array([[2.0, -3.0], [1.5, 0.0], [0.0, 0.0]]))
    assert regularization(W, 0.1, "l2", bias_row=False)[0] == pytest.approx(0.1 * 30.25)


@pytest.fixture(scope="module")
def digits():
    """The data package's fixed seeded split, mean image (of train) subtracted."""
    d = cr.data.load_digits()
    mean = d.X_train.mean(axis=0)
    return (d.X_train - mean, d.y_train, d.X_test - mean, d.y_test)


def test_initial_loss_sanity_checks(digits):
    Xtr, ytr, _, _ = digits
    rng = np.random.default_rng(0)
    W = 0.0001 * rng.standard_normal((65, 10))
    X = augment(Xtr.reshape(len(Xtr), -1).astype(np.float64))
    assert softmax_loss_vectorized(W, X, ytr, 0.0)[0] == pytest.approx(math.log(10), abs=0.01)
    assert svm_loss_vectorized(W, X, ytr, 0.0)[0] == pytest.approx(9.0, abs=0.01)
    assert Softmax(num_iters=1).fit(Xtr, ytr).loss_history_[0] == pytest.approx(math.log(10), abs=0.01)
    assert LinearSVM(num_iters=1).fit(Xtr, ytr).loss_history_[0] == pytest.approx(9.0, abs=0.01)


@pytest.mark.parametrize("cls,ref", [(LinearSVM, LinearSVC(max_iter=5000)),
                                     (Softmax, LogisticRegression(solver="newton-cg"))])
def test_digits_accuracy_close_to_sklearn(digits, cls, ref):
    Xtr, ytr, Xte, yte = digits
    clf = cls(lr=0.5, reg=1e-4, num_iters=1500, batch_size=200, seed=0).fit(Xtr, ytr)
    acc = clf.score(Xte, yte)
    ref_acc = clone(ref).fit(Xtr.reshape(len(Xtr), -1), ytr).score(Xte.reshape(len(Xte), -1), yte)
    assert acc >= 0.90
    assert acc >= ref_acc - 0.03
    assert clf.W_.shape == (65, 10) and clf.loss_history_.shape == (1500,)
    assert clf.loss_history_[-100:].mean() < 0.2 * clf.loss_history_[0]
    np.testing.assert_allclose(clf.b_, clf.W_[-1])
    scores = clf.decision_function(Xte)
    np.testing.assert_allclose(scores, Xte.reshape(len(Xte), -1) @ clf.W_[:-1] + clf.W_[-1], rtol=1e-6)


def test_minibatches_without_replacement_and_seeded():
    clf = LinearSVM(batch_size=4)
    batches = clf._batches(10, np.random.default_rng(0))
    epoch = [next(batches) for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    second = np.concatenate([next(batches) for _ in range(3)])
    assert sorted(second.tolist()) == list(range(10))
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 3, 40)
    a = Softmax(num_iters=20, batch_size=8, seed=1).fit(X, y)
    b = Softmax(num_iters=20, batch_size=8, seed=1).fit(X, y)
    c = Softmax(num_iters=20, batch_size=8, seed=2).fit(X, y)
    np.testing.assert_array_equal(a.W_, b.W_)
    assert not np.array_equal(a.W_, c.W_)


def test_predict_proba_and_params():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 2, 2)), np.array(["a", "b", "c"] * 10)
    clf = Softmax(lr=0.1, num_iters=50)
    assert clf.fit(X, y) is clf
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[p.argmax(axis=1)], clf.predict(X))
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    assert not hasattr(LinearSVM(), "predict_proba")
    assert clf.get_params()["lr"] == 0.1 and clf.set_params(reg=0.5).reg == 0.5
    assert clone(clf).get_params() == clf.get_params()


def test_loss_methods_use_reg_type():
    W, X, y = _problem()
    clf = LinearSVM(reg_type="l1")
    l_m, g_m = clf.loss(W, X, y, 0.2)
    l_f, g_f = svm_loss_vectorized(W, X, y, 0.2, "l1", 0.5, True)
    assert l_m == l_f and np.array_equal(g_m, g_f)
    assert clf.loss_naive(W, X, y, 0.2)[0] == pytest.approx(l_f, abs=1e-10)


def test_bad_input_errors():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), np.arange(10) % 2
    with pytest.raises(NotFittedError):
        Softmax().predict(X)
    with pytest.raises(ValueError, match="different lengths: X has 10 samples, y has 8"):
        LinearSVM().fit(X, y[:8])
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="LinearSVM: expected finite features"):
        LinearSVM().fit(bad, y)
    with pytest.raises(ValueError, match=r"reg_type in \('l2', 'l1', 'elastic'\), got 'l3'"):
        Softmax(reg_type="l3").fit(X, y)
    with pytest.raises(ValueError, match="expected lr > 0"):
        Softmax(lr=0).fit(X, y)
    with pytest.raises(ValueError, match="num_iters to be a positive integer"):
        Softmax(num_iters=0).fit(X, y)
    clf = Softmax(num_iters=5).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features per sample but the model was fit with 4"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="diverged.*smaller learning rate"):
        LinearSVM(lr=10.0, reg=10.0, num_iters=500).fit(X, y)  # W *= -199 per step


@pytest.mark.parametrize("cls", [Softmax, LinearSVM])
def test_constructor_defaults_work_at_any_pixel_scale(cls):
    """Issue 21 item 11: Softmax() with its defaults scored 0.74-0.88 on digits (fixed lr 1e-3, reg
    1e-5) against 0.958 for `chainrule linear`; lr="auto" scales the step to the data."""
    d = cr.data.load_digits()
    for scale in (1.0, 255.0):  # pixels in [0, 1] and in 0..255: the same accuracy
        clf = cls().fit(d.X_train * scale, d.y_train)
        assert clf.score(d.X_test * scale, d.y_test) >= 0.94
        Xf = d.X_train.reshape(len(d.X_train), -1).astype(np.float64) * scale
        assert clf.lr_ == pytest.approx(16 / (np.mean(np.sum(Xf ** 2, axis=1)) + 1))
    assert cls(lr=0.3).fit(d.X_train, d.y_train).lr_ == 0.3
    with pytest.raises(ValueError, match="'auto'"):
        cls(lr="fast").fit(d.X_train, d.y_train)
