"""Data parallelism across processes (chainrule.distributed): DistributedDataParallel and
SyncBatchNorm, as torch.nn.parallel / torch.nn.SyncBatchNorm."""
from .distributed import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm"]
