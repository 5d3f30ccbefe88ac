"""Transfer learning, small: features learned on Fashion-MNIST reused for MNIST
digits with only 1,000 labelled images.

    python examples/transfer.py --data-dir ../shared/data     # folder with fashion-mnist/ and mnist/

1. Pretrain a small CNN on (a subsample of) Fashion-MNIST.
2. Freeze its convolutional body (`requires_grad_(False)`, eval mode), give it a
   new head (`cr.models.reset_classifier`) and train only the head on 1,000
   labelled MNIST images. The frozen body's features are computed once.
3. Fine-tune everything on the same 1,000 images, the body at a tenth of the
   head's learning rate (optimiser parameter groups).
4. Train the same network from scratch on those 1,000 images.

All three are scored on the MNIST test set. The training loop is kept minimal on
purpose (cr.optim + chainrule.utils.data.DataLoader); chainrule's Solver does the same with
checkpoints and logging.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.utils.data import DataLoader, TensorDataset


def make_cnn(num_classes: int = 10) -> nn.Sequential:
    """body: [conv3x3 - bn - relu - 2x2 max pool] x 2 (28 -> 14 -> 7), head: flatten - linear.

    The head sees the 64x7x7 feature maps (not a global average), so a new
    linear head can still use where in the image a feature fired.
    """
    body = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
    )
    head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, num_classes))
    return nn.Sequential(body, head)


def load(name: str, data_dir: str | None, n_train: int | None, n_test: int | None, seed: int):
    """(X_train, y_train, X_test, y_test) as float32 in [0, 1] (N, 1, 28, 28), seeded subsamples."""
    loader = cr.data.load_fashion_mnist if name == "fashion-mnist" else cr.data.load_mnist
    root = None if data_dir is None else Path(data_dir) / name
    d = loader(root=root, val_size=0)
    rng = np.random.default_rng(seed)
    tr = rng.permutation(len(d.y_train))[:n_train]
    te = rng.permutation(len(d.y_test))[:n_test]
    f = lambda X: X.astype(np.float32) / 255.0  # noqa: E731
    return f(d.X_train[tr]), d.y_train[tr], f(d.X_test[te]), d.y_test[te]


def normalise(X: np.ndarray, mean: float, std: float) -> np.ndarray:
    return (X - mean) / std


def train(model: nn.Module, optimizer, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
          seed: int) -> None:
    """The minimal loop: shuffled batches, forward, cross-entropy, backward, step."""
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                        generator=cr.Generator().manual_seed(seed))
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:  # Tensors
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()


@cr.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
    model.eval()
    return np.concatenate([model(cr.tensor(X[i:i + batch_size])).data.argmax(1)
                           for i in range(0, len(X), batch_size)])


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, X) == y).mean())


def run(data_dir: str | None = None, fashion_train: int = 12000, fashion_test: int = 2000,
        pretrain_epochs: int = 2, labelled: int = 1000, mnist_test: int = 10000, head_epochs: int = 100,
        finetune_epochs: int = 10, scratch_epochs: int = 20, batch_size: int = 64, seed: int = 0,
        verbose: bool = True) -> dict:
    """Run the whole comparison; returns the accuracies and times as a dict."""
    say = print if verbose else (lambda *a, **k: None)
    results: dict = {"settings": dict(fashion_train=fashion_train, pretrain_epochs=pretrain_epochs,
                                      labelled=labelled, mnist_test=mnist_test, head_epochs=head_epochs,
                                      finetune_epochs=finetune_epochs, scratch_epochs=scratch_epochs,
                                      batch_size=batch_size, seed=seed)}
    t_all = time.perf_counter()

    # 1. pretrain on Fashion-MNIST
    Xf, yf, Xf_test, yf_test = load("fashion-mnist", data_dir, fashion_train, fashion_test, seed)
    mean, std = float(Xf.mean()), float(Xf.std())
    Xf, Xf_test = normalise(Xf, mean, std), normalise(Xf_test, mean, std)
    cr.manual_seed(seed)
    net = make_cnn(10)
    t = time.perf_counter()
    train(net, cr.optim.Adam(net.parameters(), lr=1e-3), Xf, yf, pretrain_epochs, batch_size, seed)
    results["pretrain_s"] = time.perf_counter() - t
    results["fashion_test_acc"] = accuracy(net, Xf_test, yf_test)
    say(f"pretrained on {len(yf)} Fashion-MNIST images, {pretrain_epochs} epochs "
        f"({results['pretrain_s']:.0f} s): Fashion-MNIST test accuracy {results['fashion_test_acc']:.3f}")
    pretrained = {k: v.clone() for k, v in net.state_dict().items()}

    # The MNIST subset, normalised as the pretraining data was (the body expects that scale).
    Xm, ym, Xm_test, ym_test = load("mnist", data_dir, None, mnist_test, seed + 1)
    pick = np.random.default_rng(seed + 2).permutation(len(ym))[:labelled]
    Xm, ym = normalise(Xm[pick], mean, std), ym[pick]
    Xm_test = normalise(Xm_test, mean, std)

    # 2. frozen body, new head: the features never change, so compute them once.
    body = net[0]
    body.requires_grad_(False)
    body.eval()  # frozen batch-norm statistics too
    head = cr.models.reset_classifier(net, 10)
    t = time.perf_counter()
    with cr.no_grad():
        feats = np.concatenate([body(cr.tensor(Xm[i:i + 500])).data for i in range(0, len(Xm), 500)])
    train(net[1], cr.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4), feats, ym, head_epochs,
          batch_size, seed)
    results["frozen_head_s"] = time.perf_counter() - t
    results["frozen_head_acc"] = accuracy(net, Xm_test, ym_test)
    assert all(np.array_equal(v, pretrained["0." + k]) for k, v in body.state_dict().items())
    say(f"frozen Fashion features + new head on {labelled} MNIST images ({results['frozen_head_s']:.0f} s): "
        f"MNIST test accuracy {results['frozen_head_acc']:.3f}")

    # 3. fine-tune all layers from the pretrained weights, the body 10x slower than the head.
    cr.manual_seed(seed)
    ft = make_cnn(10)
    ft.load_state_dict(pretrained)
    new_head = cr.models.reset_classifier(ft, 10)
    opt = cr.optim.Adam([{"params": ft[0].parameters(), "lr": 1e-4},
                         {"params": new_head.parameters(), "lr": 1e-3}], lr=1e-3)
    t = time.perf_counter()
    train(ft, opt, Xm, ym, finetune_epochs, batch_size, seed)
    results["finetune_s"] = time.perf_counter() - t
    results["finetune_acc"] = accuracy(ft, Xm_test, ym_test)
    say(f"fine-tuned all layers (body lr 1e-4, head lr 1e-3), {finetune_epochs} epochs "
        f"({results['finetune_s']:.0f} s): MNIST test accuracy {results['finetune_acc']:.3f}")

    # 4. the same network from scratch on the same 1,000 images
    cr.manual_seed(seed)
    scratch = make_cnn(10)
    t = time.perf_counter()
    train(scratch, cr.optim.Adam(scratch.parameters(), lr=1e-3), Xm, ym, scratch_epochs, batch_size, seed)
    results["scratch_s"] = time.perf_counter() - t
    results["scratch_acc"] = accuracy(scratch, Xm_test, ym_test)
    say(f"from scratch on the same {labelled} images, {scratch_epochs} epochs ({results['scratch_s']:.0f} s): "
        f"MNIST test accuracy {results['scratch_acc']:.3f}")
    results["total_s"] = time.perf_counter() - t_all
    say(f"total {results['total_s']:.0f} s")
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="folder holding fashion-mnist/ and mnist/ (IDX .gz files); default: $CHAINRULE_DATA "
                        "or chainrule's download cache")
    p.add_argument("--fashion-train", type=int, default=12000, help="Fashion-MNIST training subsample (of 60,000)")
    p.add_argument("--fashion-test", type=int, default=2000, help="Fashion-MNIST test images scored")
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--labelled", type=int, default=1000, help="labelled MNIST training images")
    p.add_argument("--mnist-test", type=int, default=10000, help="MNIST test images scored")
    p.add_argument("--head-epochs", type=int, default=100, help="epochs for the new head on frozen features")
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--scratch-epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="limit NumPy's BLAS threads (needs threadpoolctl); 1 is much faster on a busy machine")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = p.parse_args(argv)
    if a.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(a.threads)
    res = run(a.data_dir, a.fashion_train, a.fashion_test, a.pretrain_epochs, a.labelled, a.mnist_test,
              a.head_epochs, a.finetune_epochs, a.scratch_epochs, a.batch_size, a.seed)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
