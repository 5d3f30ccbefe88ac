"""cr.metrics: batched eval-mode scores in the parameters' dtype, and accuracy."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.metrics import accuracy, predict_scores


def test_accuracy_from_scores_and_labels():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(np.array([1, 1, 0]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert np.isnan(accuracy(np.zeros((0, 3)), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="do not match"):
        accuracy(np.zeros((4, 3)), np.zeros(3, np.int64))


def test_predict_scores_batches_in_eval_mode_and_restores_modes():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3)).to(cr.float64)
    model.train()
    model[1].eval()  # a mixed state must come back as it was
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    s = predict_scores(model, X, batch_size=3)
    assert s.dtype == np.float64 and s.shape == (10, 3)
    W1, b1 = model[0].weight.data, model[0].bias.data
    W2, b2 = model[2].weight.data, model[2].bias.data
    np.testing.assert_allclose(s, (X.astype(np.float64) @ W1.T + b1) @ W2.T + b2, rtol=1e-12)
    assert model.training and model[0].training and not model[1].training
    with pytest.raises(ValueError, match="batch_size"):
        predict_scores(model, X, batch_size=0)


def test_topk_accuracy_equals_torch_topk():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 10))
    y = rng.integers(0, 10, 200)
    top1, top5 = accuracy(scores, y, topk=(1, 5))
    assert top1 == accuracy(scores, y)
    # by hand: the label among the 5 largest
    want5 = np.mean([y[i] in np.argsort(-scores[i])[:5] for i in range(200)])
    assert top5 == pytest.approx(want5)
    assert accuracy(scores, y, topk=5) == top5
    assert accuracy(scores, y, topk=(10,)) == (1.0,)
    torch = pytest.importorskip("torch")
    _, idx = torch.tensor(scores).topk(5, dim=1)
    assert top5 == pytest.approx((idx == torch.tensor(y)[:, None]).any(dim=1).double().mean().item())


def test_topk_ties_rank_like_argmax_and_errors():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert accuracy(scores, np.array([1, 2]), topk=(1, 2)) == (0.0, 1.0)
    assert accuracy(scores, np.array([0, 1]), topk=1) == accuracy(scores, np.array([0, 1])) == 1.0
    with pytest.raises(ValueError, match="from 1 to the number of classes"):
        accuracy(scores, np.array([0, 1]), topk=(1, 5))
    with pytest.raises(ValueError, match=r"\(N, K\) scores"):
        accuracy(np.array([0, 1]), np.array([0, 1]), topk=1)
    with pytest.raises(ValueError, match="labels must lie"):
        accuracy(scores, np.array([0, 3]), topk=1)
    assert all(np.isnan(v) for v in accuracy(np.zeros((0, 3)), np.zeros(0, np.int64), topk=(1, 2)))
