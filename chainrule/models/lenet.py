"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), the notes' first ConvNet, for 32x32 MNIST.

    C1: 6 5x5 convolutions           32x32x1 -> 28x28x6       156 params
    S2: 2x2 average pooling                  -> 14x14x6
    C3: 16 5x5 convolutions                  -> 10x10x16    2,416
    S4: 2x2 average pooling                  -> 5x5x16
    C5: 120 5x5 convolutions                 -> 1x1x120    48,120
    F6: 84 units                                           10,164
    output: 10 class scores                                   850
                                                   total:  61,706

tanh after C1, C3, C5 and F6. Three simplifications of the paper, as most
re-implementations: C3 sees all 6 maps (the paper's sparse table gives 1,516
weights), S2/S4 are plain averages (the paper's had a trainable gain and bias per
map, 12 and 32 parameters), and the output is a linear layer for softmax
cross-entropy (the paper's Euclidean RBF units held 840 fixed weights). MNIST's
28x28 digits are padded by 2 to 32x32 as in the paper (`pad_input=True` does it).
"""
from __future__ import annotations

from .. import nn
from .registry import register_model
from .small import activation_layer as _activation


@register_model
def lenet5(num_classes: int = 10, in_channels: int = 1, activation: str = "tanh",
           pad_input: bool = False) -> nn.Sequential:
    """x: (N, in_channels, 32, 32) (or 28x28 with pad_input=True) -> (N, num_classes)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, 6, 5, padding=2 if pad_input else 0), _activation(activation),   # C1
        nn.AvgPool2d(2),                                                                       # S2
        nn.Conv2d(6, 16, 5), _activation(activation),                                          # C3
        nn.AvgPool2d(2),                                                                       # S4
        nn.Conv2d(16, 120, 5), _activation(activation),                                        # C5
        nn.Flatten(),
        nn.Linear(120, 84), _activation(activation),                                           # F6
        nn.Linear(84, num_classes),                                                            # output
    ]
    return nn.Sequential(*layers)
