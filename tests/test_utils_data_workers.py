"""DataLoader worker processes: same batches as num_workers=0, shared memory, sharding, failures."""
from __future__ import annotations

import glob
import json
import mmap
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (DataLoader, Dataset, Generator, IterableDataset, TensorDataset, current_rng,
                                  get_worker_info)
from chainrule.utils.data import shm


def _leftovers(pid=None):
    return glob.glob(os.path.join(shm.SHM_DIR, f"crdl_{pid or os.getpid()}_*"))


def _children():
    """Live (or zombie) children of this process, from /proc; not multiprocessing's resource tracker
    (started once by the 'spawn' context, it lives as long as this process)."""
    path = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    if not os.path.exists(path):
        return []
    out = []
    for p in open(path).read().split():
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read()
        except OSError:
            cmd = b""
        if b"resource_tracker" not in cmd:
            out.append(int(p))
    return out


@pytest.fixture(autouse=True)
def _no_leaks():
    before = set(_children())
    yield
    assert _leftovers() == []
    deadline = time.time() + 5
    while set(_children()) - before and time.time() < deadline:
        time.sleep(0.05)
    assert set(_children()) - before == set()


class Augmented(Dataset):
    """An image-like sample with random noise from current_rng(), and who made it."""
    def __init__(self, n=26, fail_at=None, kill_at=None, sleep=0.0):
        self.n, self.fail_at, self.kill_at, self.sleep = n, fail_at, kill_at, sleep

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        if i == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.sleep)
        x = np.full((3, 4, 4), i, np.float32) + current_rng().standard_normal((3, 4, 4)).astype(np.float32)
        info = get_worker_info()
        return x, i, -1 if info is None else info.id

    def __len__(self):
        return self.n


def _epoch(L):
    return [(b[0].data.copy(), b[1].data.tolist()) for b in L]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b))


def test_workers_give_the_batches_of_the_main_process():
    make = lambda nw: DataLoader(Augmented(), 4, shuffle=True, num_workers=nw,  # noqa: E731
                                 generator=Generator().manual_seed(3))
    ref = _epoch(make(0))
    for nw in (1, 3):
        assert _same(_epoch(make(nw)), ref)


def test_batches_arrive_in_shared_memory_and_leave_no_file():
    L = DataLoader(Augmented(8), 4, num_workers=2)
    batches = list(L)
    x = batches[0][0].data
    base = x
    while getattr(base, "base", None) is not None and not isinstance(base, mmap.mmap):
        base = base.base
    assert isinstance(base, mmap.mmap)           # a view of the worker's mapping, not an unpickled copy
    assert sorted(set(v for b in batches for v in b[2].data.tolist())) == [0, 1]
    x += 1                                         # writable like any batch
    assert _leftovers() == []


def test_reused_buffers_never_overwrite_a_batch_still_in_use():
    """Workers reuse their shared buffers once the main process drops a batch: a batch (or a view
    of one) that is kept must keep its values while many later batches go through."""
    L = DataLoader(Augmented(40), 2, num_workers=2, generator=Generator().manual_seed(0))
    R = DataLoader(Augmented(40), 2, generator=Generator().manual_seed(0))
    ref, ref2 = [b[0].data.copy() for b in R], [b[0].data.copy() for b in R]
    it = iter(L)
    first = next(it)[0].data
    view = next(it)[0].data[1:]          # only a slice of batch 1 is kept
    rest = [b[0].data.sum() for b in it]  # the other batches are dropped as we go: their buffers recycle
    assert np.array_equal(first, ref[0]) and np.array_equal(view, ref[1][1:])
    assert np.allclose(rest, [r.sum() for r in ref[2:]])
    kept = list(L)                        # all kept: no buffer may be reused
    assert len(kept) == 20 and all(np.array_equal(k[0].data, r) for k, r in zip(kept, ref2))


def test_iterable_dataset_is_sharded_with_get_worker_info():
    class Shards(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            k, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(range(k, 21, step))

    got = [v for b in DataLoader(Shards(), 4, num_workers=3) for v in b.data.tolist()]
    assert sorted(got) == list(range(21))


def test_blas_is_pinned_and_workers_are_seeded():
    class Probe(Dataset):
        def __getitem__(self, i):
            from threadpoolctl import threadpool_info
            info = get_worker_info()
            return max([p["num_threads"] for p in threadpool_info()] + [1]), info.seed, np.random.randint(1 << 30)

        def __len__(self):
            return 4

    seen = []
    L = DataLoader(Probe(), 1, num_workers=2, generator=Generator().manual_seed(0),
                   worker_init_fn=lambda wid: seen.append(wid))
    batches = [[t.data.item() for t in b] for b in L]
    assert {b[0] for b in batches} == {1}
    assert len({b[1] for b in batches}) == 2   # base_seed + worker id
    again = [[t.data.item() for t in b] for b in DataLoader(Probe(), 1, num_workers=2, generator=Generator().manual_seed(0))]
    assert [b[2] for b in batches] == [b[2] for b in again]   # NumPy's global generator seeded per worker


def test_a_worker_exception_is_raised_here_with_its_traceback():
    with pytest.raises(ValueError, match="(?s)Caught ValueError in DataLoader worker process.*__getitem__.*bad sample 5"):
        list(DataLoader(Augmented(fail_at=5), 2, num_workers=2))


def test_worker_init_fn_errors_are_reported():
    def boom(wid):
        raise KeyError("no config")
    with pytest.raises(KeyError, match="worker_init_fn"):
        list(DataLoader(Augmented(), 2, num_workers=1, worker_init_fn=boom))


def test_a_killed_worker_is_named_never_a_hang():
    t = time.time()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d \(pid \d+\) was killed by SIGKILL"):
        list(DataLoader(Augmented(kill_at=9), 2, num_workers=2, timeout=60))
    assert time.time() - t < 30


def test_timeout_is_honoured():
    with pytest.raises(RuntimeError, match="timed out after 0.3 seconds"):
        list(DataLoader(Augmented(sleep=3.0), 1, num_workers=1, timeout=0.3))


def test_persistent_workers_keep_their_processes_and_batches():
    class Pid(Dataset):
        def __getitem__(self, i):
            return os.getpid(), i

        def __len__(self):
            return 6

    L = DataLoader(Pid(), 2, num_workers=2, persistent_workers=True)
    e1 = [b[0].data.tolist() for b in L]
    it = iter(L)
    next(it)                                   # abandon an epoch half way
    e2 = [b[0].data.tolist() for b in L]
    assert sorted(set(sum(e1, []))) == sorted(set(sum(e2, [])))
    assert [b[1].data.tolist() for b in L] == [[0, 1], [2, 3], [4, 5]]
    del L, it


def test_resume_mid_epoch_with_workers_is_exact():
    make = lambda nw: DataLoader(Augmented(), 4, shuffle=True, num_workers=nw,  # noqa: E731
                                 generator=Generator().manual_seed(11))
    ref = make(0)
    epochs = [_epoch(ref), _epoch(ref)]
    run = make(2)
    it = iter(run)
    first = [(b[0].data.copy(), b[1].data.tolist()) for b in (next(it), next(it), next(it))]
    state = json.loads(json.dumps(run.state_dict()))
    del it
    resumed = make(2)
    resumed.load_state_dict(state)
    assert _same(first + _epoch(resumed), epochs[0])
    assert _same(_epoch(resumed), epochs[1])


def test_a_tensor_dataset_through_workers():
    X, y = np.random.default_rng(0).standard_normal((50, 3)), np.arange(50)
    got = [b for b in DataLoader(TensorDataset(X, y), 8, num_workers=2)]
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in got]), X)
    assert isinstance(got[0][1], cr.Tensor) and got[0][1].data.dtype == y.dtype


SCRIPT = """
import os, sys, time
import numpy as np
from chainrule.utils.data import DataLoader, Dataset

class Slow(Dataset):
    def __getitem__(self, i):
        time.sleep(0.05)
        return np.zeros((64, 64), np.float32) + i
    def __len__(self):
        return 10 ** 6

loader = DataLoader(Slow(), 4, num_workers=2, prefetch_factor=4)
for k, b in enumerate(loader):
    if k == 2:
        pids = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
        print("PIDS", " ".join(pids), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /dev/shm are Linux's")
@pytest.mark.parametrize("caught", [False, True])
def test_ctrl_c_stops_every_worker_and_leaks_no_shared_memory(tmp_path, caught):
    code = SCRIPT
    if caught:  # the program goes on after Ctrl-C: the workers must be gone already
        code = "try:\n" + textwrap.indent(SCRIPT, "    ") + (
            "\nexcept KeyboardInterrupt:\n    import glob, multiprocessing\n"
            "    print('AFTER', len(multiprocessing.active_children()),"
            " len(glob.glob(f'/dev/shm/crdl_{os.getpid()}_*')), flush=True)\n    time.sleep(0.5)\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=os.getcwd())
    line = p.stdout.readline()
    assert line.startswith("PIDS"), p.stderr.read()
    pids = [int(x) for x in line.split()[1:]]
    assert len(pids) == 2
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)                   # to the main process only
    out, err = p.communicate(timeout=30)
    if caught:
        assert "AFTER 0 0" in out, err
    else:
        assert p.returncode != 0 and "KeyboardInterrupt" in err
        assert "Traceback" not in err.split("KeyboardInterrupt")[-1]
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived Ctrl-C"
    assert glob.glob(os.path.join(shm.SHM_DIR, f"crdl_{p.pid}_*")) == []


class _Shards(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        k, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(k, 23, step))


@pytest.mark.parametrize("nw", [0, 2])
def test_an_iterable_dataset_resumes_mid_epoch(nw):
    full = [b.data.tolist() for b in DataLoader(_Shards(), 3, num_workers=nw)]
    run = DataLoader(_Shards(), 3, num_workers=nw)
    it = iter(run)
    head = [next(it).data.tolist() for _ in range(3)]
    state = json.loads(json.dumps(run.state_dict()))
    del it
    resumed = DataLoader(_Shards(), 3, num_workers=nw)
    resumed.load_state_dict(state)
    assert head + [b.data.tolist() for b in resumed] == full


@pytest.mark.slow
def test_spawned_workers_give_the_same_batches():
    """multiprocessing_context='spawn': the dataset travels pickled; the batches do not change."""
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    make = lambda nw, ctx=None: DataLoader(TensorDataset(X, np.arange(20)), 6, shuffle=True, num_workers=nw,  # noqa: E731
                                           generator=Generator().manual_seed(2), multiprocessing_context=ctx)
    ref = [b[0].data.tolist() for b in make(0)]
    assert [b[0].data.tolist() for b in make(2, "spawn")] == ref
