#!/usr/bin/env bash
# Issue 16's one GPU run: the environment, tests/test_cuda.py, the other device tests on the real GPU
# (tests/test_device_*.py, CHAINRULE_TEST_CUDA=1) and benchmarks/steps.py --device cuda (steps, then
# one ResNet-20 epoch), everything written under $OUT. About 4-7 minutes on an H100 (at most 565 s).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh          # on the GPU machine, from the repository root
#   OUT=/tmp/gpu_out bash benchmarks/gpu_check.sh --dry # anywhere: CPU mode, tiny settings (checks the script)
#
# Files (7, flat): env.txt, test_cuda.log, test_device.log, steps_cuda.json, epoch_cuda.json,
# bench.log, summary.txt. A part that fails or runs out of time is reported and the next one runs.
# Environment: PYTHON (default python3); T_TESTS, T_DEVTESTS, T_STEPS, T_EPOCH (time limits, seconds).
set -o pipefail
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DRY=0
[ "${1:-}" = "--dry" ] && DRY=1
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
[ -f chainrule/__init__.py ] || { echo "run from the repository root"; exit 2; }

if [ "$DRY" = 1 ]; then
    DEVICE=cpu
    STEPS_ARGS="--workloads a --rounds 1 --steps 1 --warmup 1 --no-inference"
    EPOCH_ARGS="--epoch-images 256"
else
    DEVICE=cuda
    STEPS_ARGS=${STEPS_ARGS:-"--rounds 1 --steps 10 --warmup 3 --worker-timeout 45"}
    EPOCH_ARGS="--epoch-max-s 50"
fi
T_TESTS=${T_TESTS:-150}; T_DEVTESTS=${T_DEVTESTS:-90}; T_STEPS=${T_STEPS:-150}; T_EPOCH=${T_EPOCH:-130}
# with env's 45 s: 565 s at most, inside the device tool's 600 s

STATUS=()
part() {  # part NAME LIMIT_S FUNCTION: run it under a time limit, record "NAME ok|FAILED (rc) seconds"
    local name=$1 limit=$2 fn=$3
    local t0=$SECONDS rc=0
    echo "=== $name (limit ${limit}s) $(date -u +%H:%M:%S)"
    timeout -k 10 "$limit" bash -c "set -o pipefail; $fn" || rc=$?
    local dt=$((SECONDS - t0)) verdict=ok
    [ "$rc" = 0 ] || verdict="FAILED (rc $rc$([ "$rc" = 124 ] && echo ', timed out'))"
    [ "$rc" = 0 ] || echo "FAILED part $name: rc $rc"
    STATUS+=("$(printf '%-8s %-32s %4ss' "$name" "$verdict" "$dt")")
}

env_report() {
    date -u
    nvidia-smi || echo "no nvidia-smi"
    "$PY" - <<'EOF'
import platform, sys
print("python", sys.version.replace("\n", " "), platform.machine())
for name in ("numpy", "cupy", "torch", "sklearn", "safetensors", "pytest", "pytest_timeout", "pooch"):
    try:
        m = __import__(name)
        print(f"{name} {getattr(m, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001 (a missing package is a fact to report)
        print(f"{name}: not importable ({type(e).__name__}: {e})")
try:
    import torch
    print("torch cuda", torch.version.cuda, "available", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
          "cudnn", torch.backends.cudnn.version())
except Exception as e:  # noqa: BLE001
    print("torch cuda: not usable:", e)
try:
    import cupy
    print("cupy runtime", cupy.cuda.runtime.runtimeGetVersion(), "driver", cupy.cuda.runtime.driverGetVersion(),
          "devices", cupy.cuda.runtime.getDeviceCount())
    print("cupy sum of arange(10) on the GPU:", int(cupy.arange(10).sum()))
    try:
        from cupy import cudnn  # noqa: F401
        print("cupy.cudnn importable (cuDNN", cupy.cuda.cudnn.getVersion(), ")")
    except Exception as e:  # noqa: BLE001
        print("cupy.cudnn: not available:", e)
except Exception as e:  # noqa: BLE001
    print("cupy: not usable:", e)
EOF
    "$PY" -c 'import sys, chainrule as cr, chainrule.data, chainrule.optim, chainrule.solver
print("chainrule imports (pooch loaded by it:", "pooch" in sys.modules, "); cr.cuda.is_available():", cr.cuda.is_available())' 
    echo "CUPY_TF32=${CUPY_TF32:-unset} (CuPy float32 matmuls/convs use TF32 only when it is 1)"
}

tests() {  # -vv: one line per test (pyproject adds -q)
    local extra=()
    "$PY" -c "import pytest_timeout" 2>/dev/null && extra=(--timeout 60)
    "$PY" -m pytest tests/test_cuda.py -vv -rfEs --tb=short -p no:cacheprovider "${extra[@]}" 2>&1 \
        | tee "$OUT/test_cuda.log"
}

devtests() {  # the ops' own device tests, on the real GPU where they can be (fake otherwise)
    local files=(tests/test_device_*.py) extra=()
    [ -e "${files[0]}" ] || { echo "no tests/test_device_*.py" | tee "$OUT/test_device.log"; return 0; }
    "$PY" -c "import pytest_timeout" 2>/dev/null && extra=(--timeout 60)
    CHAINRULE_TEST_CUDA=1 "$PY" -m pytest "${files[@]}" -rfEs --tb=short -p no:cacheprovider "${extra[@]}" 2>&1 \
        | tee "$OUT/test_device.log"
}

steps() {
    # shellcheck disable=SC2086 (the settings are words)
    "$PY" benchmarks/steps.py --device "$DEVICE" $STEPS_ARGS --out "$OUT/steps_cuda.json" 2>&1 \
        | tee -a "$OUT/bench.log"
}

epoch() {
    # shellcheck disable=SC2086
    "$PY" benchmarks/steps.py --device "$DEVICE" --epoch $EPOCH_ARGS --out "$OUT/epoch_cuda.json" 2>&1 \
        | tee -a "$OUT/bench.log"
}

export PY OUT DEVICE STEPS_ARGS EPOCH_ARGS
export -f env_report tests devtests steps epoch
: > "$OUT/bench.log"
part env 45 env_report > "$OUT/env.txt" 2>&1
head -40 "$OUT/env.txt"
part tests "$T_TESTS" tests
part devtests "$T_DEVTESTS" devtests
part steps "$T_STEPS" steps
part epoch "$T_EPOCH" epoch

{
    echo "=== summary ($([ "$DRY" = 1 ] && echo 'DRY: CPU mode, tiny settings' || echo "device $DEVICE"), $(date -u +%H:%M:%S) UTC)"
    printf '%s\n' "${STATUS[@]}"
    echo "--- tests/test_cuda.py"
    grep -E '^(=+ .*(passed|failed|skipped|error).* =+)$' "$OUT/test_cuda.log" | tail -1 || echo "(no pytest summary line)"
    grep -E '^(FAILED|ERROR) ' "$OUT/test_cuda.log" | sed 's/^/  /' | head -40
    echo "--- tests/test_device_*.py (CHAINRULE_TEST_CUDA=1)"
    grep -E '(passed|failed|skipped|error)' "$OUT/test_device.log" | tail -1
    grep -E '^(FAILED|ERROR) ' "$OUT/test_device.log" | sed 's/^/  /' | head -20
    echo "--- benchmarks/steps.py (steps, epoch)"
    grep -E '^\|' "$OUT/bench.log" || echo "(no table)"
    grep -E '^(FAILED|float32|NVIDIA|unknown GPU|chainrule / PyTorch)|TF32' "$OUT/bench.log" | grep -v '^|' | head -20
    true
} 2>&1 | tee "$OUT/summary.txt"
printf '%s\n' "${STATUS[@]}" | grep -q FAILED && exit 1
exit 0
