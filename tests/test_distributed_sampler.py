"""chainrule.utils.data.DistributedSampler against torch's (issue 24)."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.utils.data import DistributedSampler


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 4, False),
                                                    (7, 2, True), (1, 3, False)])
def test_unshuffled_shards_equal_torch(n, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(replicas):
        ours = DistributedSampler(n, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(list(range(n)), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    del torch


def test_shuffled_shards_partition_the_epoch_and_change_with_set_epoch():
    n, replicas = 23, 4
    shards = [DistributedSampler(n, num_replicas=replicas, rank=r, seed=5) for r in range(replicas)]
    got = [list(s) for s in shards]
    assert len({len(g) for g in got}) == 1 and len(got[0]) == 6          # equal shards: 24 = 23 + 1 padded
    flat = sorted(i for g in got for i in g)
    assert set(flat) == set(range(n)) and len(flat) == 24                 # every example, one repeated
    again = [list(DistributedSampler(n, num_replicas=replicas, rank=r, seed=5)) for r in range(replicas)]
    assert again == got                                                   # the same on every rank/run
    for s in shards:
        s.set_epoch(1)
    assert [list(s) for s in shards] != got                               # a new order each epoch
    dropped = [list(DistributedSampler(n, num_replicas=replicas, rank=r, drop_last=True)) for r in range(replicas)]
    assert all(len(d) == 5 for d in dropped) and len(set(sum(dropped, []))) == 20


def test_defaults_come_from_the_process_group_and_bad_ranks_are_refused():
    s = DistributedSampler(range(5))
    assert s.num_replicas == 1 and s.rank == 0 and sorted(s) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(5, num_replicas=2, rank=2)
    s.set_epoch(3)
    t = DistributedSampler(5)
    t.load_state_dict(s.state_dict())
    assert list(t) == list(s)
