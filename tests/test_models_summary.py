"""cr.summary against the lecture's VGG-16 walk-through, and receptive fields."""
import io

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

# The lecture's per-layer lines for VGG-16 (CS231n, "VGGNet in detail"): memory per
# image (output numbers of INPUT, each CONV and POOL, and each FC) and weights
# without biases.
LECTURE_MEMORY = [224 * 224 * 3] + [224 * 224 * 64] * 2 + [112 * 112 * 64] + [112 * 112 * 128] * 2 \
    + [56 * 56 * 128] + [56 * 56 * 256] * 3 + [28 * 28 * 256] + [28 * 28 * 512] * 3 + [14 * 14 * 512] \
    + [14 * 14 * 512] * 3 + [7 * 7 * 512] + [4096, 4096, 1000]
LECTURE_WEIGHTS = [1_728, 36_864, 73_728, 147_456, 294_912, 589_824, 589_824, 1_179_648, 2_359_296,
                   2_359_296, 2_359_296, 2_359_296, 2_359_296, 102_760_448, 16_777_216, 4_096_000]


@pytest.fixture(scope="module")
def vgg16_summary():
    with cr.models.skip_init():
        m = cr.models.vgg16()
    out = io.StringIO()
    rows = cr.summary(m, (3, 224, 224), style="lecture", file=out)
    return m, rows, out.getvalue()


def test_vgg16_matches_the_lecture(vgg16_summary):
    m, rows, text = vgg16_summary
    t = rows.totals
    assert t["params"] == 138_357_544 and t["trainable_params"] == 138_357_544
    stored = [r for r in rows if r["stored"]]
    assert [r["activations"] for r in stored] == LECTURE_MEMORY
    # The lecture's lines add up to 15.2M numbers (its "24M" total is a slip, see docs/models.md).
    assert t["activations"] == sum(LECTURE_MEMORY) == 15_237_608
    assert t["forward_bytes"] == 4 * 15_237_608 and t["forward_backward_bytes"] == 8 * 15_237_608
    weights = [r["module"].weight.numel() for r in stored if r["module"] is not None and r["params"]]
    assert weights == LECTURE_WEIGHTS
    # most memory early (the two 224x224x64 convs), most parameters in the first FC
    assert max(stored, key=lambda r: r["activations"])["name"] == "features.0"
    fc1 = max(rows, key=lambda r: r["params"])
    assert fc1["name"] == "classifier.0" and fc1["params"] == 102_764_544
    # multiply-adds: 15.47 G per image (conv + fc)
    assert t["macs"] == 15_470_264_320
    assert rows[1]["macs"] == 224 * 224 * 64 * 3 * 3 * 3
    # the printed lines in the lecture's form
    assert "CONV3-64: [224x224x64]  memory: 224*224*64=3.2M  params: (3*3*3)*64 = 1,728" in text
    assert "FC: [1x1x4096]  memory: 4096  params: 7*7*512*4096 = 102,760,448" in text
    assert "POOL2: [112x112x64]" in text
    assert "TOTAL memory: 15.2M * 4 bytes ~= 61MB / image" in text


def test_summary_table_and_rows(capsys):
    cr.manual_seed(0)
    m = cr.models.small_cnn(in_channels=1, num_classes=10, channels=(16, 32, 32))
    m.train()
    rows = cr.summary(m, (1, 8, 8))
    printed = capsys.readouterr().out
    assert m.training and all(x.training for x in m.modules())  # mode restored
    # convs 1*16*9 + 16*32*9 + 32*32*9, BNs 2*(16+32+32), fc 32*10 + 10
    assert "Total params: 14,458 (trainable: 14,458)" in printed
    names = [r["name"] for r in rows]
    assert names[:4] == ["input", "0", "1", "2"]
    conv0 = rows[1]
    assert conv0["type"] == "Conv2d" and conv0["output_shape"] == (16, 8, 8)
    assert conv0["params"] == 16 * 9 and conv0["macs"] == 16 * 8 * 8 * 9
    assert rows[-1]["output_shape"] == (10,) and rows[-1]["params"] == 32 * 10 + 10
    assert rows.totals["params"] == sum(p.numel() for p in m.parameters())
    assert set(rows[1]) >= {"name", "type", "output_shape", "params", "activations", "macs"}


@pytest.mark.parametrize("name,shape", [("resnet18", (3, 64, 64)), ("googlenet", (3, 64, 64)),
                                        ("resnet20", (3, 32, 32))])
def test_shapes_only_agrees_with_real_forward(name, shape):
    cr.manual_seed(0)
    m = cr.models.get(name)
    fast = cr.summary(m, shape, print_table=False)
    slow = cr.summary(m, shape, print_table=False, shapes_only=False)
    keys = ("name", "type", "output_shape", "params", "activations", "macs", "stored")
    assert [tuple(r[k] for k in keys) for r in fast] == [tuple(r[k] for k in keys) for r in slow]
    assert fast.totals == slow.totals
    # a module called twice (torchvision's shared ReLU in a block) counts its parameters once
    assert sum(r["params"] for r in fast) == fast.totals["params"]


def test_summary_reports_a_wrong_input_shape():
    m = cr.models.small_cnn(in_channels=1)
    with pytest.raises(ValueError, match=r"0 \(Conv2d\): expected input \(N, 1, H, W\), got \(1, 3, 8, 8\)"):
        cr.summary(m, (3, 8, 8), print_table=False)
    # ... and leaves the model usable (hooks and patched forwards removed)
    assert all(not mod._forward_hooks and "forward" not in mod.__dict__ for mod in m.modules())
    assert m(cr.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_receptive_field_of_stacked_3x3_convs():
    three = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    rf = cr.models.receptive_field(three)
    assert rf.size == (7, 7) and rf.jump == (1, 1)  # = one 7x7 conv
    assert [r[2] for r in rf.rows] == [(3, 3), (5, 5), (7, 7)]
    # pools multiply the jump: conv3 - pool2 - conv3 sees 3 + 1 + 2*2 = 8
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    rf = cr.models.receptive_field(net)
    assert rf.size == (8, 8) and rf.jump == (2, 2) and rf.layer == "3"


def test_receptive_field_brute_force_agrees():
    """The field is the set of input pixels with a nonzero gradient for the centre unit."""
    cr.manual_seed(0)
    # (average pooling: a max pool's gradient reaches only the argmax, not its whole window)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(2, 2, 5, stride=2),
                        nn.Conv2d(2, 1, 3)).double()
    for p in net.parameters():
        p.data[...] = np.abs(p.data) + 0.1  # positive weights: no accidental cancellation
    rf = cr.models.receptive_field(net, (1, 40, 40))
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, (1, 1, 40, 40)), requires_grad=True)
    out = net(x)
    out[0, 0, 1, 1].backward()
    rows, cols = np.nonzero(x.grad[0, 0])
    # 3, then 3 + 1 = 4 (pool), 4 + 4 * 2 = 12 (conv5, jump 2), 12 + 2 * 4 = 20 (conv3, jump 4)
    assert rf.size == (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (20, 20)
    assert rf.jump == (4, 4)


def test_receptive_field_through_residual_and_inception_models():
    m = cr.models.resnet20()
    rf = cr.models.receptive_field(m, (3, 32, 32))
    # the longest path: conv1 (3), 6 convs at jump 1 (+2 each), 6 at jump 2 (+2, then +4 x 5),
    # 6 at jump 4 (+4, then +8 x 5): 3 + 12 + 22 + 44 = 81
    assert rf.jump == (4, 4) and rf.size == (81, 81)
    with cr.models.skip_init():
        vgg = cr.models.vgg16()
    assert cr.models.receptive_field(vgg).size == (212, 212)
    assert cr.models.receptive_field(vgg, (3, 224, 224)).size == (212, 212)
