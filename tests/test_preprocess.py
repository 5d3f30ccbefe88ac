"""Preprocessors (fitted on the training split): values, scikit-learn conventions, saving."""
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.checkpoint import save_state
from chainrule.data import transforms as T


def _imgs(n=6, c=3, h=9, w=11, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_mean_image_exact_and_roundtrip():
    Xtr = np.random.default_rng(0).integers(0, 256, (20, 3, 4, 5), dtype=np.uint8)
    Xte = np.random.default_rng(1).integers(0, 256, (7, 3, 4, 5), dtype=np.uint8)
    m = T.MeanImage().fit(Xtr)
    ref_mean = Xtr.astype(np.float64).mean(axis=0)
    out = m(Xte)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, Xte - ref_mean, atol=1e-4)
    np.testing.assert_allclose(m.inverse(out), Xte, atol=1e-4)
    with pytest.raises(ValueError, match=r"fitted on images \(3, 4, 5\)"):
        m(Xte[:, :, :3])
    with pytest.raises(T.NotFittedError, match="MeanImage is not fitted"):
        T.MeanImage()(Xte)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        m(Xte[0])


def test_per_channel_normalize_matches_direct_and_saves(tmp_path):
    from safetensors.numpy import load_file, save_file
    X = _imgs(30) * 50 + 3
    n = T.PerChannelNormalize().fit(X)
    mu = X.astype(np.float64).mean(axis=(0, 2, 3))
    sd = X.astype(np.float64).std(axis=(0, 2, 3))
    np.testing.assert_allclose(n(X), (X - mu[None, :, None, None]) / sd[None, :, None, None], atol=1e-4)
    z = n(X)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(n.inverse(z), X, atol=1e-3)
    # VGG: mean only
    v = T.PerChannelNormalize(std=False).fit(X)
    np.testing.assert_allclose(v(X), X - mu[None, :, None, None], atol=1e-4)
    # saved as safetensors arrays + a JSON config, rebuilt unchanged
    save_file(n.state_dict(), str(tmp_path / "pre.safetensors"))
    cfg = json.loads(json.dumps(n.to_config()))
    assert cfg == {"class": "PerChannelNormalize", "std": True, "eps": 1e-8}
    n2 = T.preprocessor_from_config(cfg, load_file(str(tmp_path / "pre.safetensors")))
    assert isinstance(n2, T.PerChannelNormalize)
    assert np.array_equal(n2(X[:3]), n(X[:3]))
    with pytest.raises(ValueError, match="expected 3 channels"):
        n(X[:, :2])


@pytest.mark.parametrize("zca", [False, True])
def test_pca_whiten_identity_covariance_and_inverse(zca, tmp_path):
    rng = np.random.default_rng(0)
    A = np.eye(12) * 2 + 0.5 * rng.standard_normal((12, 12))   # correlated, well conditioned
    X = (rng.standard_normal((500, 12)) @ A + 5).astype(np.float32).reshape(500, 3, 2, 2)
    p = T.PCAWhiten(zca=zca, eps=1e-9).fit(X)   # eps only guards tiny eigenvalues
    Z = p(X)
    assert Z.shape == ((500, 3, 2, 2) if zca else (500, 12)) and Z.dtype == np.float32
    F = Z.reshape(500, -1).astype(np.float64)
    np.testing.assert_allclose(np.cov(F.T), np.eye(12), atol=2e-3)
    np.testing.assert_allclose(p.inverse(Z), X, atol=2e-3)
    if not zca:   # the same subspace/variances as scikit-learn's whitened PCA (up to sign)
        from sklearn.decomposition import PCA
        sk = PCA(whiten=True).fit(X.reshape(500, -1))
        np.testing.assert_allclose(np.abs(sk.transform(X.reshape(500, -1))), np.abs(F), atol=2e-3)
    q = T.PCAWhiten.from_config(p.to_config(), p.state_dict())
    np.testing.assert_allclose(q(X[:5]), Z[:5], atol=1e-5)
    k3 = T.PCAWhiten(n_components=3, whiten=False).fit(X)
    assert k3(X).shape == (500, 3)
    with pytest.raises(ValueError, match="n_components"):
        T.PCAWhiten(n_components=13).fit(X)


# ------------------------------------------------------------ scikit-learn conventions
ALL = [T.MeanImage(), T.PerChannelNormalize(), T.PerChannelNormalize(std=False), T.PCAWhiten(n_components=4),
       T.PCAWhiten(zca=True)]
FITTED = {"MeanImage": {"mean_"}, "PerChannelNormalize": {"mean_", "std_"},
          "PCAWhiten": {"mean_", "components_", "scale_", "image_shape_"}}


@pytest.mark.parametrize("pre", ALL, ids=repr)
def test_constructor_stores_fit_returns_self_fitted_attributes_end_in_underscore(pre):
    import copy
    pre = copy.deepcopy(pre)
    assert not T.is_fitted(pre)
    assert not [k for k in vars(pre) if k.endswith("_")]        # nothing fitted before fit
    with pytest.raises(T.NotFittedError, match=f"{type(pre).__name__} is not fitted"):
        T.check_is_fitted(pre)
    with pytest.raises(T.NotFittedError):
        pre(_imgs())
    with pytest.raises(ValueError):     # NotFittedError is a ValueError (and an AttributeError), as sklearn's
        pre.state_dict()
    assert pre.fit(_imgs(20)) is pre
    assert T.is_fitted(pre)
    T.check_is_fitted(pre)
    assert {k for k in vars(pre) if k.endswith("_")} == FITTED[type(pre).__name__] == set(pre.state_dict())


def test_plain_callables_count_as_fitted_other_objects_by_sklearn_rule():
    assert T.is_fitted(lambda x: x) and T.is_fitted(T.ToFloat())

    class Scaler:                      # scikit-learn style, without __sklearn_is_fitted__
        def fit(self, X):
            self.scale_ = float(X.max())
            return self

    assert not T.is_fitted(Scaler()) and T.is_fitted(Scaler().fit(np.ones(3)))


@pytest.mark.parametrize("pre", ALL, ids=repr)
def test_state_roundtrip_and_old_key_names(pre):
    import copy
    X = _imgs(30, c=3, h=3, w=3)
    pre = copy.deepcopy(pre).fit(X)
    state = json.loads(json.dumps({"config": T.preprocessor_to_state(pre)["config"]}))
    state["state"] = T.preprocessor_to_state(pre)["state"]
    back = T.preprocessor_from_state(state)
    assert type(back) is type(pre) and np.array_equal(back(X), pre(X))
    # files written before the fitted attributes ended in "_" used the plain names
    old = {k if k == "std_" else k.rstrip("_"): v for k, v in state["state"].items()}
    assert set(old) != set(state["state"])
    assert np.array_equal(T.preprocessor_from_state({"config": state["config"], "state": old})(X), pre(X))
    assert T.preprocessor_to_state(None) is None and T.preprocessor_from_state(None) is None


def test_preprocessor_to_state_errors():
    with pytest.raises(ValueError, match="cannot be saved.*MeanImage"):
        T.preprocessor_to_state(lambda x: x)
    with pytest.raises(T.NotFittedError):
        T.preprocessor_to_state(T.MeanImage())
    with pytest.raises(ValueError, match="unknown or mismatched preprocessor class 'Bogus'"):
        T.preprocessor_from_state({"config": {"class": "Bogus"}, "state": {}})


def test_saved_model_with_preprocessing_loads(tmp_path):
    X = _imgs(20, c=1, h=4, w=4) * 9 + 2
    pre = T.PerChannelNormalize().fit(X)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    m = cr.load(cr.save(model, tmp_path / "m.safetensors", preprocess=pre, classes=["a", "b", "c"]))
    assert isinstance(m.preprocess, T.PerChannelNormalize) and np.array_equal(m.preprocess(X), pre(X))
    np.testing.assert_array_equal(m(cr.tensor(m.preprocess(X))).data, model(cr.tensor(pre(X))).data)


def test_model_saved_before_the_rename_loads(tmp_path):
    """A file as cr.save wrote it before the fitted attributes ended in "_" ("mean", not "mean_")."""
    X = _imgs(20, c=3, h=2, w=2)
    pre = T.MeanImage().fit(X)
    model = nn.Linear(4, 2)
    from chainrule.nn.config import module_to_config
    state = {"model_config": module_to_config(model), "model": dict(model.state_dict()),
             "preprocess": {"config": {"class": "MeanImage"}, "state": {"mean": pre.mean_}},
             "classes": None, "info": {}}
    m = cr.load(save_state(tmp_path / "old.safetensors", state, kind="model"))
    assert np.array_equal(m.preprocess.mean_, pre.mean_) and np.array_equal(m.preprocess(X), pre(X))
