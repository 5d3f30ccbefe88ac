"""examples/transfer.py at a small scale on the real Fashion-MNIST and MNIST files."""
import importlib.util

import pytest

from tests._shared_data import ROOT, shared_data

DATA = shared_data()


def _example():
    spec = importlib.util.spec_from_file_location("transfer_example", ROOT / "examples" / "transfer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not (DATA / "fashion-mnist").is_dir() or not (DATA / "mnist").is_dir(),
                    reason=f"Fashion-MNIST / MNIST IDX files not found under {DATA}")
def test_transfer_example_small(tmp_path):
    ex = _example()
    res = ex.main(["--data-dir", str(DATA), "--fashion-train", "128", "--fashion-test", "200",
                   "--pretrain-epochs", "1", "--labelled", "64", "--mnist-test", "200", "--head-epochs", "10",
                   "--finetune-epochs", "1", "--scratch-epochs", "1", "--json", str(tmp_path / "r.json")])
    for k in ("fashion_test_acc", "frozen_head_acc", "finetune_acc", "scratch_acc"):
        assert 0.0 <= res[k] <= 1.0
    # even 128 Fashion images for one epoch give features a head can use on digits
    assert res["frozen_head_acc"] > 0.3
    assert (tmp_path / "r.json").exists()


def test_make_cnn_shapes():
    import chainrule as cr

    net = _example().make_cnn(10)
    assert net(cr.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert cr.models.find_classifier(net)[2] is net[1][1]
