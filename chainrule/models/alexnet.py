"""AlexNet twice: as in torchvision (the "one weird trick" single-GPU variant:
64-192-384-256-256 filters, no local response norm), same parameter names:
61,100,840 parameters for 1000 classes; and as the lecture notes draw it
(`alexnet_original`: 96-256-384-384-256 filters, LRN, 227x227 input).

The original, layer by layer (the notes' table), for one 227x227x3 image:

    CONV1: 96 11x11 filters at stride 4, pad 0   -> 55x55x96     34,944 params
    MAX POOL1: 3x3 filters at stride 2           -> 27x27x96
    NORM1: local response normalisation          -> 27x27x96
    CONV2: 256 5x5 filters at stride 1, pad 2    -> 27x27x256   614,656
    MAX POOL2: 3x3 filters at stride 2           -> 13x13x256
    NORM2                                        -> 13x13x256
    CONV3: 384 3x3 filters at stride 1, pad 1    -> 13x13x384   885,120
    CONV4: 384 3x3 filters at stride 1, pad 1    -> 13x13x384 1,327,488
    CONV5: 256 3x3 filters at stride 1, pad 1    -> 13x13x256   884,992
    MAX POOL3: 3x3 filters at stride 2           -> 6x6x256
    FC6: 4096 neurons                                       37,752,832
    FC7: 4096 neurons                                       16,781,312
    FC8: 1000 neurons (class scores)                         4,097,000
                                                     total: 62,378,344 (the notes' "60M")

One tower: the paper split CONV2, CONV4, CONV5 into two groups (one per GPU),
which halves their weights (60,965,224 parameters in all); the notes draw it whole.
"""
from __future__ import annotations

from .. import nn
from .registry import register_model


class AlexNet(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 63 (224 as published) -> (N, num_classes)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        # Any input size >= 63 gives a 6x6 map here, as the classifier expects.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    return AlexNet(num_classes=num_classes, dropout=dropout, in_channels=in_channels)


# The paper's LRN: k = 2, n = 5, alpha = 1e-4, beta = 0.75 with alpha multiplying the plain
# sum of squares; PyTorch's (and chainrule's) LocalResponseNorm divides alpha by n, hence 5e-4.
def paper_lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNetOriginal(nn.Module):
    """The notes' AlexNet. x: (N, in_channels, 227, 227) -> (N, num_classes).

    ReLU after every convolution and hidden fully connected layer, dropout before
    FC6 and FC7 (the paper's). No adaptive pool: the input must give a 6x6x256 map
    after POOL3, i.e. 227x227 (up to 234x234: stride 4 ignores a few extra pixels).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=0),   # conv1
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                            # pool1
            paper_lrn(),                                                      # norm1
            nn.Conv2d(96, 256, kernel_size=5, padding=2),                     # conv2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                            # pool2
            paper_lrn(),                                                      # norm2
            nn.Conv2d(256, 384, kernel_size=3, padding=1),                    # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),                    # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),                    # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                            # pool3
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),                                     # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),                                            # fc7
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),                                     # fc8
        )

    def forward(self, x):
        x = self.features(x)
        if tuple(x.shape[1:]) != (256, 6, 6):
            raise ValueError(f"alexnet_original expects 227x227 inputs (a 6x6x256 map after pool3), got a "
                             f"{'x'.join(map(str, x.shape[2:]))} map; use alexnet() for other sizes")
        return self.classifier(x.flatten(1))


@register_model
def alexnet_original(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNetOriginal:
    """The lecture notes' AlexNet (227x227x3, 96 filters, LRN, one tower): 62,378,344 parameters."""
    return AlexNetOriginal(num_classes=num_classes, dropout=dropout, in_channels=in_channels)
