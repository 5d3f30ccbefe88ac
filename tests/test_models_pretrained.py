"""Transfer learning: load_pretrained's reports, reset_classifier, freezing with
parameter groups, and `chainrule convert-weights` from a real torch checkpoint."""
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import chainrule as cr
from chainrule import nn
from chainrule.cli import main


def _weights_of(model):
    return {k: np.asarray(v) for k, v in model.state_dict().items()}


def test_load_pretrained_round_trip(tmp_path, capsys):
    cr.manual_seed(0)
    src = cr.models.resnet20(num_classes=10)
    path = tmp_path / "r20.safetensors"
    save_file(_weights_of(src), str(path))
    cr.manual_seed(1)
    dst = cr.models.resnet20(num_classes=10)
    report = cr.models.load_pretrained(dst, path)
    assert f"loaded {len(src.state_dict())} tensors" in capsys.readouterr().out  # 19 convs, 19 BNs x 5, fc x 2
    assert not report.missing and not report.unexpected and not report.mismatched
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[k], v)
    x = cr.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(src.eval()(x).data, dst.eval()(x).data)


def test_load_pretrained_reports_missing_unexpected_and_mismatched(tmp_path):
    src = _weights_of(cr.models.resnet20(num_classes=100))
    src["extra.weight"] = np.zeros(3, np.float32)
    del src["layer1.0.conv1.weight"]
    path = tmp_path / "w.safetensors"
    save_file(src, str(path))
    dst = cr.models.resnet20(num_classes=10)

    with pytest.raises(ValueError, match=r"shape mismatch for fc.weight: model \(10, 64\), file \(100, 64\); "
                                         r"fc.bias: model \(10,\), file \(100,\).*skip_mismatched=True"):
        cr.models.load_pretrained(dst, path, verbose=False)
    with pytest.raises(ValueError, match=r"(?s)strict=True.*missing in the file \(1.*layer1.0.conv1.weight"
                                         r".*unexpected in the file \(1, ignored\): extra.weight"):
        cr.models.load_pretrained(dst, path, skip_mismatched=True, verbose=False)
    before = dst.layer1[0].conv1.weight.data.copy()
    fc_before = dst.fc.weight.data.copy()
    report = cr.models.load_pretrained(dst, path, skip_mismatched=True, strict=False, verbose=False)
    assert report.missing == ["layer1.0.conv1.weight"] and report.unexpected == ["extra.weight"]
    assert report.mismatched == [("fc.weight", (10, 64), (100, 64)), ("fc.bias", (10,), (100,))]
    assert len(report.loaded) == 116 - 1 - 2  # 116 = 19 convs + 19 BNs x 5 + fc weight and bias
    np.testing.assert_array_equal(dst.layer1[0].conv1.weight.data, before)  # left as it was
    np.testing.assert_array_equal(dst.fc.weight.data, fc_before)
    np.testing.assert_array_equal(dst.layer2[0].conv1.weight.data, src["layer2.0.conv1.weight"])
    text = str(report)
    assert "shape mismatch, skipped: fc.weight: model (10, 64), file (100, 64)" in text


def test_load_pretrained_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        cr.models.load_pretrained(cr.models.resnet20(), tmp_path / "nope.safetensors")


def test_reset_classifier_finds_the_head():
    with cr.models.skip_init():
        r, v, g = cr.models.resnet18(), cr.models.vgg11(), cr.models.googlenet(aux_logits=True)
    head = cr.models.reset_classifier(r, 7)
    assert r.fc is head and head.weight.shape == (7, 512) and np.isfinite(head.weight.data).all()
    head = cr.models.reset_classifier(v, 5)
    assert v.classifier[6] is head and head.weight.shape == (5, 4096)
    cr.models.reset_classifier(g, 3)
    assert g.fc.out_features == 3 and g.aux1.fc2.out_features == 3 and g.aux2.fc2.out_features == 3
    s = cr.models.small_cnn(num_classes=10)
    assert cr.models.reset_classifier(s, 4) is s[-1] and s[-1].out_features == 4
    with pytest.raises(ValueError, match="no Linear layer"):
        cr.models.reset_classifier(nn.Sequential(nn.Conv2d(1, 1, 3)), 2)


def test_freeze_body_train_head_with_param_groups():
    """Frozen body: no gradients, no change. Param groups: a smaller lr for the body."""
    cr.manual_seed(0)
    m = cr.models.small_cnn(in_channels=1, num_classes=10)
    m.requires_grad_(False)
    head = cr.models.reset_classifier(m, 3)
    body_before = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("12.")}
    opt = cr.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    x, y = cr.randn(4, 1, 8, 8), np.array([0, 1, 2, 0])
    m.eval()  # frozen BN statistics too
    loss = cr.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    assert all(p.grad is None for n, p in m.named_parameters() if not n.startswith("12."))
    assert head.weight.grad is not None
    after = m.state_dict()
    assert all(np.array_equal(after[k], v) for k, v in body_before.items())

    # fine-tuning everything, the body at a tenth of the head's learning rate
    m.requires_grad_(True)
    body = [p for n, p in m.named_parameters() if not n.startswith("12.")]
    opt = cr.optim.SGD([{"params": body, "lr": 0.01}, {"params": head.parameters()}], lr=0.1)
    assert [gr["lr"] for gr in opt.param_groups] == [0.01, 0.1]
    m.zero_grad()
    cr.nn.functional.cross_entropy(m.train()(x), y).backward()
    w0, h0 = m[0].weight.data.copy(), head.weight.data.copy()
    g0, gh = m[0].weight.grad.data.copy(), head.weight.grad.data.copy()
    opt.step()
    np.testing.assert_allclose(m[0].weight.data, w0 - 0.01 * g0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(head.weight.data, h0 - 0.1 * gh, rtol=1e-6, atol=1e-7)


def test_convert_weights_round_trip(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16))
    sd = tm.state_dict()
    pth = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3}, pth)
    out = tmp_path / "ckpt.safetensors"
    assert main(["convert-weights", str(pth), str(out), "--strip-prefix", "module."]) == 0
    assert "wrote 6 tensors" in capsys.readouterr().out
    loaded = load_file(str(out))
    assert set(loaded) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(loaded[k], v.numpy())
    assert loaded["1.num_batches_tracked"].dtype == np.int64
    # ... and into the matching chainrule layers
    ours = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
    report = cr.models.load_pretrained(ours, out, verbose=False)
    assert len(report.loaded) == 6
    np.testing.assert_array_equal(ours[0].weight.data, sd["0.weight"].numpy())


def test_convert_weights_errors(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["convert-weights", str(tmp_path / "missing.pth"), str(tmp_path / "o.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["convert-weights", str(bad), str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "torch.load(weights_only=True) could not read" in err and err.count("\n") == 1


def test_convert_weights_without_torch_says_pip_install(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert main(["convert-weights", str(tmp_path / "a.pth"), str(tmp_path / "b.safetensors")]) == 2
    assert "pip install torch" in capsys.readouterr().err
