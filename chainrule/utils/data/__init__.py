"""`chainrule.utils.data`: PyTorch's `torch.utils.data` (Dataset, samplers, DataLoader with worker processes).

    from chainrule.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, num_workers=2)
    for xb, yb in loader:           # Tensors
        ...
"""
from .generator import Generator  # noqa: F401
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,  # noqa: F401
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                      SubsetRandomSampler, WeightedRandomSampler)
from .collate import default_collate, default_convert  # noqa: F401
from .worker import WorkerInfo, current_rng, get_worker_info  # noqa: F401
from .dataloader import DataLoader  # noqa: F401
from .distributed import DistributedSampler  # noqa: F401  (issue 24: each rank its shard)
