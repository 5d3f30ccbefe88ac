"""Data-parallel training over MPI (mpi4py), and NCCL for CuPy arrays: PyTorch's
torch.distributed names on the engine HPC clusters run.

    mpiexec -n 2 python train.py          # or: chainrule train --nproc 2 ...

    import chainrule.distributed as dist
    dist.init_process_group("mpi")        # "nccl": GPU arrays over NCCL (CuPy)
    model = cr.nn.parallel.DistributedDataParallel(model)   # same start, averaged gradients
    sampler = cr.utils.data.DistributedSampler(len(dataset))  # each rank its shard

With one process every call here is a no-op and mpi4py is not needed; more processes need
`pip install "chainrule[distributed]"`. See docs/distributed.md.
"""
from .collectives import ReduceOp, all_gather, all_reduce, all_reduce_scalars, barrier, broadcast
from .group import (destroy_process_group, get_backend, get_rank, get_world_size, init_process_group,
                    is_available, is_initialized, join_if_launched)

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available", "get_rank",
           "get_world_size", "get_backend", "join_if_launched", "ReduceOp", "all_reduce", "broadcast",
           "all_gather", "barrier", "all_reduce_scalars"]
