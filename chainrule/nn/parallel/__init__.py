"""Data parallelism across processes (chainrule.distributed): DistributedDataParallel and
SyncBatchNorm, as torch.nn.parallel / torch.nn.SyncBatchNorm."""
from .distributed import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm, sync_batchnorm_in_place

__all__ = ["DistributedDataParallel", "SyncBatchNorm", "sync_batchnorm_in_place"]
