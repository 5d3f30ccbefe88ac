"""Jobs that tests/test_distributed.py runs under `mpiexec -n N python tests/mpi_job.py MODE OUT [...]`.
Rank 0 writes its results to OUT (a .npz file); each job is also run in one process to compare."""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn


def net(seed: int = 0, bn: bool = True) -> nn.Module:
    cr.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(64, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.ReLU(), nn.Linear(16, 10)]
    return nn.Sequential(*layers).double()


def digits():
    return cr.data.load_digits(subsample=240, seed=0)


def solver(epochs: int, ckdir: str | None, **kw) -> cr.Solver:
    """A seeded float64 Solver whose global batch (40) splits evenly over 1, 2 or 4 ranks."""
    return cr.Solver(net(0), digits(), optimizer="momentum", lr=5e-2, batch_size=40, num_epochs=epochs,
                     verbose=False, checkpoint_dir=ckdir, lr_schedule="step:1:0.5", **kw)


def weights(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in model.state_dict().items()}


def main(mode: str, out: str, *rest: str) -> None:
    dist.init_process_group("mpi")
    rank = dist.get_rank()
    result: dict[str, np.ndarray] = {}
    if mode == "allreduce":
        t = cr.tensor(np.array(float(rank + 1)))
        dist.all_reduce(t)
        result["sum"] = np.asarray(t.data)
        result["size"] = np.array(dist.get_world_size())
    elif mode == "raise":
        if rank == 1:
            time.sleep(0.3)
            raise RuntimeError("rank one broke on purpose")
        while True:
            dist.all_reduce(np.ones(4))
    elif mode == "kill":
        if rank == 1:
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGKILL)
        while True:
            dist.all_reduce(np.ones(4))
    elif mode == "train":  # epochs, checkpoint dir
        s = solver(int(rest[0]), rest[1])
        s.train()
        result.update(weights(s.model))
        result["loss_history"] = np.array(s.loss_history)
        result["val_acc_history"] = np.array(s.val_acc_history)
    elif mode == "resume":  # checkpoint, epochs
        s = cr.Solver.resume(rest[0], digits(), model=net(0), num_epochs=int(rest[1]), verbose=False,
                             sync_batchnorm=True)
        s.train()
        result.update(weights(s.model))
        result["loss_history"] = np.array(s.loss_history)
    if rank == 0:
        np.savez(out, **result)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
