"""chainrule.utils.data without workers: PyTorch's datasets, samplers, collate and DataLoader rules."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, Generator, IterableDataset,
                                  RandomSampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                  WeightedRandomSampler, current_rng, default_collate, get_worker_info,
                                  random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "y": i, "pair": (float(i), "s%d" % i)}

    def __len__(self):
        return self.n


class Noisy(Dataset):
    """A random per-sample transform drawn from current_rng()."""
    def __getitem__(self, i):
        return np.float64(i) + current_rng().standard_normal(2)

    def __len__(self):
        return 23


def _vals(batch):
    return batch.data.tolist() if isinstance(batch, cr.Tensor) else batch


def test_sequential_and_batch_sampler_match_torch():
    torch = pytest.importorskip("torch")
    tud = torch.utils.data
    for n, bs in [(10, 3), (12, 4), (1, 5)]:
        assert list(SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
        for drop in (False, True):
            ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
            theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
            L, T = DataLoader(TensorDataset(np.arange(n)), bs, drop_last=drop), \
                tud.DataLoader(tud.TensorDataset(torch.arange(n)), bs, drop_last=drop)
            assert len(L) == len(T)
            assert [b[0].data.tolist() for b in L] == [b[0].tolist() for b in T]


def test_default_collate_matches_torch_structure_types_and_values():
    torch = pytest.importorskip("torch")
    Point = collections.namedtuple("Point", "a b")
    samples = [{"x": np.full((2, 2), i, np.float32), "y": i, "f": i / 2, "ok": i % 2 == 0,
                "t": (np.int16(i), "s%d" % i), "l": [i, i + 1], "p": Point(i, 1.5)} for i in range(3)]
    ours = default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)
    assert set(ours) == set(theirs)
    for k in ("x", "y", "f", "ok"):
        assert str(ours[k].data.dtype) == str(theirs[k].dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours[k].data, theirs[k].numpy())
    assert type(ours["t"]) is type(theirs["t"]) is list
    np.testing.assert_array_equal(ours["t"][0].data, theirs["t"][0].numpy())
    assert ours["t"][0].data.dtype == np.int16 and ours["t"][1] == theirs["t"][1] == ("s0", "s1", "s2")
    assert type(ours["l"]) is list and [_vals(v) for v in ours["l"]] == [v.tolist() for v in theirs["l"]]
    assert type(ours["p"]) is Point and _vals(ours["p"].b) == theirs["p"].b.tolist()
    assert str(ours["p"].b.data.dtype) == "float64"


def test_default_collate_errors_in_the_users_terms():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


@pytest.mark.parametrize("n, lengths", [(10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6]),
                                        (100, [0.333, 0.333, 0.334]), (5, [2, 3]), (3, [0.1, 0.9])])
def test_random_split_lengths_round_like_torch(n, lengths):
    torch = pytest.importorskip("torch")
    with _no_check():
        ours = random_split(range(n), lengths, generator=Generator().manual_seed(0))
        theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))   # a partition


class _no_check:
    def __enter__(self):
        import warnings
        self.w = warnings.catch_warnings()
        self.w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *a):
        self.w.__exit__(*a)


def test_random_split_is_seeded_and_checks_sums():
    a = [list(s) for s in random_split(range(20), [5, 15], generator=Generator().manual_seed(3))]
    b = [list(s) for s in random_split(range(20), [5, 15], generator=Generator().manual_seed(3))]
    c = [list(s) for s in random_split(range(20), [5, 15], generator=Generator().manual_seed(4))]
    assert a == b and a != c
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(range(20), [5, 5])


def test_random_sampler_permutations_replacement_and_num_samples():
    g = Generator().manual_seed(1)
    s = RandomSampler(range(10), generator=g)
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(e2) == list(range(10)) and e1 != e2
    long = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(rep) == 50 and set(rep) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    sub = list(SubsetRandomSampler([5, 7, 9], generator=g))
    assert sorted(sub) == [5, 7, 9]


def test_weighted_sampler_follows_the_weights():
    w = [0.0, 1.0, 3.0]
    draws = np.array(list(WeightedRandomSampler(w, 4000, generator=Generator().manual_seed(0))))
    assert (draws != 0).all()
    assert abs((draws == 2).mean() - 0.75) < 0.03
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False)) == [0, 1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([0, 1], 2, replacement=False)


def test_datasets_subset_concat_and_tensor_dataset():
    X, y = np.arange(12.).reshape(6, 2), np.arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6 and ds[2][0].tolist() == [4.0, 5.0] and ds[2][1] == 2
    t = TensorDataset(cr.Tensor(X), cr.Tensor(y))
    assert isinstance(t[1][0], cr.Tensor)
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(X, y[:5])
    sub = Subset(ds, [4, 0])
    assert [s[1] for s in sub] == [4, 0]
    cat = ds + Subset(ds, [1])
    assert isinstance(cat, ConcatDataset) and len(cat) == 7 and cat[6][1] == 1 and cat[-1][1] == 1
    with pytest.raises(IndexError):
        cat[7]


def test_dataloader_yields_tensors_in_the_collated_structure():
    L = DataLoader(Squares(5), batch_size=2)
    batches = list(L)
    assert len(L) == len(batches) == 3
    b = batches[0]
    assert isinstance(b["x"], cr.Tensor) and b["x"].shape == (2, 3) and b["y"].data.tolist() == [0, 1]
    assert b["pair"][1] == ("s0", "s1") and b["pair"][0].data.dtype == np.float64
    one = list(DataLoader(Squares(2), batch_size=None))  # no batching: samples converted, not stacked
    assert isinstance(one[1]["x"], cr.Tensor) and one[1]["x"].shape == (3,) and one[1]["y"] == 1


def test_dataloader_argument_errors_are_pytorchs():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=BatchSampler(range(4), 2, False))
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.warns(FutureWarning, match="TensorDataset"):  # the old array form, for a while
        old = DataLoader(np.arange(4), np.arange(4), 2, shuffle=False)
    assert isinstance(old, cr.data.ArrayLoader) and [b[1].tolist() for b in old] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="map-style"):
        DataLoader(object())
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(4), shuffle=True)


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        k, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(k, self.n, step))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches_and_length():
    L = DataLoader(Stream(7), batch_size=3)
    assert [b.data.tolist() for b in L] == [[0, 1, 2], [3, 4, 5], [6]] and len(L) == 3
    assert [b.data.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert get_worker_info() is None


def test_shuffle_is_seeded_by_the_generator_or_the_global_seed():
    ds = TensorDataset(np.arange(30))
    order = lambda L: [v for b in L for v in b[0].data.tolist()]  # noqa: E731
    a = order(DataLoader(ds, 4, shuffle=True, generator=Generator().manual_seed(5)))
    b = order(DataLoader(ds, 4, shuffle=True, generator=Generator().manual_seed(5)))
    c = order(DataLoader(ds, 4, shuffle=True, generator=Generator().manual_seed(6)))
    assert a == b != c and sorted(a) == list(range(30))
    cr.manual_seed(0)
    d = order(DataLoader(ds, 4, shuffle=True))
    cr.manual_seed(0)
    assert order(DataLoader(ds, 4, shuffle=True)) == d


def test_per_sample_randomness_is_per_batch_seeded():
    g = lambda: Generator().manual_seed(2)  # noqa: E731
    a = [b.data for b in DataLoader(Noisy(), 5, shuffle=True, generator=g())]
    b = [b.data for b in DataLoader(Noisy(), 5, shuffle=True, generator=g())]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    noise = [b.data - np.arange(len(b.data))[:, None] - 5 * k for k, b in enumerate(DataLoader(Noisy(), 5))]
    assert len({round(float(v), 12) for n in noise for v in n.ravel()}) == 46  # every draw differs


@pytest.mark.parametrize("shuffle", [False, True])
def test_state_dict_resumes_mid_epoch_exactly(shuffle):
    def make():
        return DataLoader(Noisy(), 4, shuffle=shuffle, generator=Generator().manual_seed(9))
    ref = make()
    epochs = [[b.data for b in ref] for _ in range(2)]
    run = make()
    it = iter(run)
    first = [next(it).data for _ in range(2)]
    state = json.loads(json.dumps(run.state_dict()))
    assert state["batch"] == 2
    resumed = make()
    resumed.load_state_dict(state)
    rest = [b.data for b in resumed]
    nxt = [b.data for b in resumed]
    got = first + rest
    assert len(got) == len(epochs[0]) and all(np.array_equal(x, y) for x, y in zip(got, epochs[0]))
    assert all(np.array_equal(x, y) for x, y in zip(nxt, epochs[1]))
    with pytest.raises(ValueError, match="batches"):
        DataLoader(Noisy(), 5).load_state_dict(state)


def test_generator_state_is_json_and_restores():
    g = Generator().manual_seed(7)
    s = json.loads(json.dumps(g.get_state()))
    x = g.numpy.random(3)
    assert np.array_equal(Generator().set_state(s).numpy.random(3), x) and g.initial_seed() == 7
    assert cr.Generator is Generator
    with pytest.raises(ValueError, match="cpu"):
        Generator(device="cuda")
