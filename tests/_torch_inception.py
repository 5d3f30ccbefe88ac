"""A compact PyTorch Inception-v3 written from the paper's / torchvision's layer table in plain
torch.nn (torchvision is not installed), independent of chainrule's, as the oracle for
parameter names, shapes, count and outputs. Only imported by tests that have torch."""
import torch
from torch import nn
import torch.nn.functional as F


class C(nn.Module):  # conv (no bias) - bn (eps 1e-3) - relu, named conv / bn as torchvision
    def __init__(self, cin, cout, k, s=1, p=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _pool(x):
    return F.avg_pool2d(x, 3, 1, 1)


class Branches(nn.Module):
    """children in torchvision's order; `paths` lists, per output branch, the chain of child names
    (a tuple inside a chain = children applied to the same input and concatenated), or 'max' / 'avg:name'."""
    def __init__(self, layers, paths):
        super().__init__()
        for name, mod in layers:
            self.add_module(name, mod)
        self.paths = paths

    def forward(self, x):
        outs = []
        for path in self.paths:
            if path == "max":
                outs.append(F.max_pool2d(x, 3, 2))
                continue
            y = x
            for step in path:
                if isinstance(step, tuple):
                    y = torch.cat([getattr(self, s)(y) for s in step], 1)
                elif step.startswith("avg:"):
                    y = getattr(self, step[4:])(_pool(y))
                else:
                    y = getattr(self, step)(y)
            outs.append(y)
        return torch.cat(outs, 1)


def A(cin, pf):
    return Branches([("branch1x1", C(cin, 64, 1)), ("branch5x5_1", C(cin, 48, 1)), ("branch5x5_2", C(48, 64, 5, p=2)),
                     ("branch3x3dbl_1", C(cin, 64, 1)), ("branch3x3dbl_2", C(64, 96, 3, p=1)),
                     ("branch3x3dbl_3", C(96, 96, 3, p=1)), ("branch_pool", C(cin, pf, 1))],
                    [["branch1x1"], ["branch5x5_1", "branch5x5_2"],
                     ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["avg:branch_pool"]])


def B(cin):
    return Branches([("branch3x3", C(cin, 384, 3, 2)), ("branch3x3dbl_1", C(cin, 64, 1)),
                     ("branch3x3dbl_2", C(64, 96, 3, p=1)), ("branch3x3dbl_3", C(96, 96, 3, 2))],
                    [["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], "max"])


def Cb(cin, c7):
    r, c = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    return Branches([("branch1x1", C(cin, 192, 1)), ("branch7x7_1", C(cin, c7, 1)),
                     ("branch7x7_2", C(c7, c7, r[0], p=r[1])), ("branch7x7_3", C(c7, 192, c[0], p=c[1])),
                     ("branch7x7dbl_1", C(cin, c7, 1)), ("branch7x7dbl_2", C(c7, c7, c[0], p=c[1])),
                     ("branch7x7dbl_3", C(c7, c7, r[0], p=r[1])), ("branch7x7dbl_4", C(c7, c7, c[0], p=c[1])),
                     ("branch7x7dbl_5", C(c7, 192, r[0], p=r[1])), ("branch_pool", C(cin, 192, 1))],
                    [["branch1x1"], ["branch7x7_1", "branch7x7_2", "branch7x7_3"],
                     ["branch7x7dbl_%d" % i for i in range(1, 6)], ["avg:branch_pool"]])


def D(cin):
    return Branches([("branch3x3_1", C(cin, 192, 1)), ("branch3x3_2", C(192, 320, 3, 2)),
                     ("branch7x7x3_1", C(cin, 192, 1)), ("branch7x7x3_2", C(192, 192, (1, 7), p=(0, 3))),
                     ("branch7x7x3_3", C(192, 192, (7, 1), p=(3, 0))), ("branch7x7x3_4", C(192, 192, 3, 2))],
                    [["branch3x3_1", "branch3x3_2"], ["branch7x7x3_%d" % i for i in range(1, 5)], "max"])


def E(cin):
    return Branches([("branch1x1", C(cin, 320, 1)), ("branch3x3_1", C(cin, 384, 1)),
                     ("branch3x3_2a", C(384, 384, (1, 3), p=(0, 1))), ("branch3x3_2b", C(384, 384, (3, 1), p=(1, 0))),
                     ("branch3x3dbl_1", C(cin, 448, 1)), ("branch3x3dbl_2", C(448, 384, 3, p=1)),
                     ("branch3x3dbl_3a", C(384, 384, (1, 3), p=(0, 1))),
                     ("branch3x3dbl_3b", C(384, 384, (3, 1), p=(1, 0))), ("branch_pool", C(cin, 192, 1))],
                    [["branch1x1"], ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
                     ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")], ["avg:branch_pool"]])


class Aux(nn.Module):
    def __init__(self, cin, n):
        super().__init__()
        self.conv0, self.conv1, self.fc = C(cin, 128, 1), C(128, 768, 5), nn.Linear(768, n)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, 3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True):
        super().__init__()
        self.Conv2d_1a_3x3, self.Conv2d_2a_3x3 = C(3, 32, 3, 2), C(32, 32, 3)
        self.Conv2d_2b_3x3, self.maxpool1 = C(32, 64, 3, p=1), nn.MaxPool2d(3, 2)
        self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2 = C(64, 80, 1), C(80, 192, 3), nn.MaxPool2d(3, 2)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
        self.Mixed_6a = B(288)
        self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = Cb(768, 128), Cb(768, 160), Cb(768, 160), Cb(768, 192)
        self.AuxLogits = Aux(768, num_classes) if aux_logits else None
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = D(768), E(1280), E(2048)
        self.avgpool, self.dropout, self.fc = nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5), nn.Linear(2048, num_classes)

    def forward(self, x):
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                     "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        return (x, aux) if aux is not None else x
