"""How much does a model ensemble gain over its best member? (the notes: "a few percent")

    python examples/ensemble_gain.py --data fashion-mnist --data-dir ../shared/data/fashion-mnist
    python examples/ensemble_gain.py --data cifar10 --data-dir ../shared/data/cifar-10-subset-batches-py
    python examples/ensemble_gain.py --data digits --members 3 --epochs 3      # seconds, no download

Trains `--members` copies of one small CNN that differ only in their seed (initial
weights, batch order, augmentation, dropout masks), then scores on the test split:

- each member, and the ensemble that averages their softmax probabilities
  (cr.models.Ensemble; the gain is over the best member, the notes' comparison);
- the cheap variants, from the first member's run alone: a snapshot ensemble of its
  last `--snapshots` epochs' checkpoints (Ensemble.from_checkpoints), an exponential
  moving average of its weights (cr.optim.swa_utils.AveragedModel, updated after
  every step), and Monte-Carlo dropout (mc_dropout_predict, `--mc` passes).

Prints a table and writes it as JSON (--json). docs/ensembles.md has measured numbers.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import transforms as T
from chainrule.metrics import predict_scores
from chainrule.models.ensemble import Ensemble, average_probabilities, mc_dropout_predict
from chainrule.ops.activation import softmax_array
from chainrule.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_net(in_channels: int, size: int, width: int = 16, dropout: float = 0.3) -> nn.Sequential:
    """[conv3x3-bn-relu-maxpool2] x 2 (width, 2 x width filters) - dropout - linear."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * (size // 4) ** 2, 10))


def load(args):
    if args.data == "digits":
        return cr.data.load_digits(subsample=args.subsample, seed=0)
    if args.data == "fashion-mnist":
        return cr.data.load_fashion_mnist(root=args.data_dir, subsample=args.subsample, seed=0)
    return cr.data.load_cifar10(root=args.data_dir, subsample=args.subsample, seed=0)


def probabilities(model: nn.Module, X: np.ndarray) -> np.ndarray:
    return softmax_array(predict_scores(model, X, 500).astype(np.float64), axis=1)


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(p.argmax(1) == y))


def train_member(data, pre, seed: int, args, checkpoints: Path | None = None, ema: bool = False):
    """One member; with `checkpoints` a checkpoint per epoch, with `ema` an EMA of its weights."""
    _, C, H, _ = data.X_train.shape
    cr.manual_seed(seed)
    model = make_net(C, H, args.width, args.dropout)
    callbacks, averaged = [], None
    if checkpoints is not None:
        callbacks.append(cr.callbacks.ModelCheckpoint(checkpoints))
    if ema:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)
        callbacks.append(cr.callbacks.LambdaCallback(on_batch_end=lambda step, logs: averaged.update_parameters(model)))
    augment = T.Compose([T.RandomCrop(H, padding=2), T.RandomHorizontalFlip()]) if args.augment else None
    solver = cr.Solver(model, data, optimizer="adam", lr=args.lr, lr_schedule="cosine", num_epochs=args.epochs,
                       batch_size=args.batch_size, preprocess=pre, augment=augment, seed=seed, verbose=False,
                       callbacks=callbacks)
    solver.train()  # keeps the epoch with the best validation accuracy
    return model, averaged


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=("digits", "fashion-mnist", "cifar10"), default="digits")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--subsample", type=int, default=None, help="training images per member run")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--augment", action="store_true", help="random crop (pad 2) and horizontal flip")
    ap.add_argument("--snapshots", type=int, default=3, help="last epochs in the snapshot ensemble")
    ap.add_argument("--ema-decay", type=float, default=0.99)
    ap.add_argument("--mc", type=int, default=20, help="Monte-Carlo dropout passes")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = load(args)
    pre = T.PerChannelNormalize().fit(data.X_train)
    X, y = pre(data.X_test).astype(np.float32), data.y_test
    out = {"data": args.data, "train_images": int(len(data.y_train)), "test_images": int(len(y)),
           "args": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        models, probs = [], []
        for i in range(args.members):
            ck = Path(tmp) / "snapshots" if i == 0 else None
            model, averaged = train_member(data, pre, seed=i, args=args, checkpoints=ck, ema=i == 0)
            models.append(model)
            probs.append(probabilities(model, X))
            print(f"member {i}: test accuracy {accuracy(probs[-1], y):.4f}  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
            if i == 0:
                snaps = sorted(ck.glob("epoch*.safetensors"))[-args.snapshots:]
                out["snapshot"] = accuracy(probabilities(Ensemble.from_checkpoints(snaps), X), y)
                out["snapshot_last_epoch"] = accuracy(probabilities(cr.load(snaps[-1]), X), y)
                out["ema"] = accuracy(probabilities(averaged.module, X), y)
                out["mc_dropout"] = accuracy(mc_dropout_predict(model, X, args.mc, seed=0), y)
    members = [accuracy(p, y) for p in probs]
    ens_p = np.exp(predict_scores(Ensemble(models), X, 500).astype(np.float64))  # eval mode, batched
    assert np.allclose(ens_p, average_probabilities(probs), atol=1e-5)  # the same, from the members' outputs
    out.update(members=members, best_member=max(members), mean_member=float(np.mean(members)),
               ensemble=accuracy(ens_p, y), seconds=round(time.perf_counter() - t0, 1))
    out["gain_over_best"] = out["ensemble"] - out["best_member"]
    for k in range(2, args.members):  # smaller ensembles: the first k members
        out[f"ensemble_{k}"] = accuracy(average_probabilities(probs[:k]), y)

    print(f"\n{args.data}: {out['train_images']} training images, {args.members} members x {args.epochs} epochs")
    print(f"  members        {' '.join(f'{a:.4f}' for a in members)}  (best {out['best_member']:.4f})")
    for k in range(2, args.members):
        print(f"  ensemble of {k}  {out[f'ensemble_{k}']:.4f}")
    print(f"  ensemble of {args.members}  {out['ensemble']:.4f}  gain over the best member "
          f"{100 * out['gain_over_best']:+.2f} points")
    print(f"  member 0 alone: snapshots of its last {args.snapshots} epochs {out['snapshot']:.4f} "
          f"(last epoch {out['snapshot_last_epoch']:.4f}), EMA({args.ema_decay}) {out['ema']:.4f}, "
          f"MC dropout x{args.mc} {out['mc_dropout']:.4f} (member 0: {members[0]:.4f})")
    print(f"  {out['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
