"""Small networks for the lectures and the assignments' datasets (vectors,
8x8 digits, 28x28 MNIST, 32x32 CIFAR-10).

Everything here is a plain `nn.Sequential` of standard layers, so it prints,
rebuilds from its JSON config and summarises like any other model.
"""
from __future__ import annotations

from typing import Sequence

from .. import nn
from .maxout import GroupMax, parse_activation
from .registry import register_model

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation_layer(name: str) -> nn.Module:
    """A new activation layer by name (relu, leaky_relu, elu, tanh, sigmoid, maxout, maxout:k).
    A maxout layer needs k times the features from the layer before: see `activation_pieces`."""
    base, pieces = parse_activation(name)
    if base == "maxout":
        return GroupMax(pieces)
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{sorted(_ACTIVATIONS) + ['maxout', 'maxout:k']}") from None


def activation_pieces(name: str) -> int:
    """How many times wider the layer before `name` must be: k for maxout:k, else 1."""
    return parse_activation(name)[1]


@register_model
def two_layer_net(input_dim: int = 3 * 32 * 32, hidden_dim: int = 100, num_classes: int = 10) -> nn.Sequential:
    """affine - relu - affine (assignment 1's TwoLayerNet). x: (N, input_dim) -> (N, num_classes)."""
    return nn.Sequential(
        nn.Linear(input_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, num_classes),
    )


@register_model
def fc_net(input_dim: int = 3 * 32 * 32, hidden_dims: Sequence[int] = (100, 100), num_classes: int = 10,
           batchnorm: bool = False, dropout: float = 0.0, activation: str = "relu") -> nn.Sequential:
    """{affine - [batch norm] - activation - [dropout]} x (L - 1) - affine
    (assignment 2's FullyConnectedNet). x: (N, input_dim) -> (N, num_classes).

    activation="maxout" (or "maxout:k"): each hidden affine layer computes k pieces per unit
    (k * hidden_dim outputs) and GroupMax keeps their max, so hidden_dims stay the layer widths."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"fc_net: dropout must be in [0, 1), got {dropout}")
    k = activation_pieces(activation)
    layers: list[nn.Module] = []
    dims = [input_dim, *hidden_dims]
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(d_in, d_out * k))
        if batchnorm:
            layers.append(nn.BatchNorm1d(d_out * k))
        layers.append(activation_layer(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(dims[-1], num_classes))
    return nn.Sequential(*layers)


@register_model
def three_layer_convnet(in_channels: int = 3, num_filters: int = 32, filter_size: int = 7, hidden_dim: int = 100,
                        num_classes: int = 10, input_size: int = 32) -> nn.Sequential:
    """conv - relu - 2x2 max pool - affine - relu - affine (assignment 2's ThreeLayerConvNet).

    The convolution pads by (filter_size - 1) // 2 so an odd filter keeps the
    size; the first affine layer needs the pooled size, hence `input_size`.
    x: (N, in_channels, input_size, input_size) -> (N, num_classes).
    """
    if filter_size % 2 == 0:
        raise ValueError(f"three_layer_convnet: filter_size must be odd to keep the size, got {filter_size}")
    pooled = input_size // 2
    if pooled < 1:
        raise ValueError(f"three_layer_convnet: input_size must be at least 2, got {input_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, num_filters, filter_size, padding=(filter_size - 1) // 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(num_filters * pooled * pooled, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, num_classes),
    )


def _conv_bn_relu(c_in: int, c_out: int, activation: str = "relu") -> list[nn.Module]:
    # No conv bias: the batch norm's shift makes it redundant. Maxout: k pieces per output channel.
    k = activation_pieces(activation)
    return [nn.Conv2d(c_in, c_out * k, 3, padding=1, bias=False), nn.BatchNorm2d(c_out * k),
            activation_layer(activation)]


@register_model
def small_cnn(in_channels: int = 1, num_classes: int = 10, input_size: int = 8,
              channels: Sequence[int] = (16, 32, 32), activation: str = "relu") -> nn.Sequential:
    """conv3x3-bn-relu - conv3x3-bn-relu - 2x2 max pool - conv3x3-bn-relu - global average pool - affine.

    Light enough to train on the 8x8 sklearn digits (and 28x28 MNIST) in
    seconds; the global pool makes it work for any input of at least 2x2
    (`input_size` is only checked). x: (N, in_channels, H, W) -> (N, num_classes).
    activation: relu (default) or another name of `activation_layer`; "maxout[:k]" makes each
    convolution compute k channels per output channel.
    """
    c1, c2, c3 = channels
    if input_size < 2:
        raise ValueError(f"small_cnn: input_size must be at least 2 (one 2x2 pool), got {input_size}")
    return nn.Sequential(
        *_conv_bn_relu(in_channels, c1, activation),
        *_conv_bn_relu(c1, c2, activation),
        nn.MaxPool2d(2),
        *_conv_bn_relu(c2, c3, activation),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c3, num_classes),
    )
