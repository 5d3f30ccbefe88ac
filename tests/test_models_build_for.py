"""cr.models.build_for: a registry model sized for a dataset (timm's create_model shape)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def fake(shape, classes=3, n=6):
    X = np.zeros((n, *shape), np.float32)
    return cr.data.Splits(X, np.arange(n) % classes, X[:2], np.zeros(2), X[:2], np.zeros(2),
                          classes=[str(c) for c in range(classes)])


def test_conv_models_get_channels_size_and_classes():
    m = cr.models.build_for("three_layer_convnet", fake((2, 12, 12)), num_filters=4, hidden_dim=8)
    assert m[0].in_channels == 2 and m[0].out_channels == 4
    assert m[4].in_features == 4 * 6 * 6 and m[-1].out_features == 3
    assert m(cr.zeros(1, 2, 12, 12)).shape == (1, 3)


def test_mlps_get_a_flatten_in_front():
    m = cr.models.build_for("two_layer_net", fake((1, 8, 8), classes=5), hidden_dim=7)
    assert isinstance(m[0], nn.Flatten) and m[1][0].in_features == 64 and m[1][-1].out_features == 5
    assert m(cr.zeros(2, 1, 8, 8)).shape == (2, 5)
    v = cr.models.build_for("fc_net", fake((1, 8, 8)), input_shape=(10,), hidden_dims=[4])
    assert v(cr.zeros(2, 10)).shape == (2, 3)


def test_kwargs_win_and_errors_are_clear():
    m = cr.models.build_for("small_cnn", fake((1, 8, 8)), num_classes=7, channels=[2, 2, 2])
    assert m[-1].out_features == 7
    with pytest.raises(ValueError, match="unknown model 'nope'; available:.*small_cnn"):
        cr.models.build_for("nope", fake((1, 8, 8)))
    with pytest.raises(ValueError, match="takes images.*vectors"):
        cr.models.build_for("small_cnn", fake((1, 8, 8)), input_shape=(10,))
    assert cr.models.get_builder("resnet20") is cr.models.resnet20
