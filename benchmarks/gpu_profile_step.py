"""A whole training step of (b) or (c) on CuPy: wall time beside PyTorch CUDA's (TF32 off, then on),
and time per op class (fwd and bwd, synchronising after each op) to see where it goes.

    python3 benchmarks/gpu_profile_step.py b|c [N]       # from the repository root, on a GPU
    CR_PLAIN=1 python3 benchmarks/gpu_profile_step.py c  # the plain-xp paths, no custom kernels

The figures in docs/performance.md's GPU section came from this script on an H100."""
import sys, time, collections
import numpy as np
sys.path.insert(0, ".")
import chainrule as cr
from chainrule import backend, autograd
from chainrule.nn import functional as F
from benchmarks.steps import build
import os
if os.environ.get("CR_PLAIN"):
    from chainrule.ops import conv_device, norm_device
    conv_device.USE_KERNELS = norm_device.USE_KERNELS = False
    print("plain xp paths (no custom kernels)")

kind = sys.argv[1]; N = int(sys.argv[2]) if len(sys.argv) > 2 else 128
cr.manual_seed(0) if hasattr(cr, "manual_seed") else None
model = build(kind, cr.nn, F).to("cuda")
opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = cr.tensor(rng.standard_normal((N, 3, 32, 32)).astype(np.float32)).to("cuda")
y = cr.tensor(rng.integers(0, 10, N)).to("cuda")

def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

for _ in range(10):
    step()
backend.synchronize()
t = time.perf_counter()
for _ in range(20):
    step()
backend.synchronize()
print(f"({kind}) step {(time.perf_counter() - t) / 20 * 1e3:.2f} ms (N={N})", flush=True)

try:  # the same step in PyTorch CUDA, TF32 off (CuPy computes in full float32)
    import torch
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    tm = build(kind, torch.nn, torch.nn.functional).cuda()
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.randn(N, 3, 32, 32, device="cuda"), torch.randint(0, 10, (N,), device="cuda")
    def tstep():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        for _ in range(5):
            tstep()
        torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(20):
            tstep()
        torch.cuda.synchronize()
        print(f"({kind}) torch step {(time.perf_counter() - t) / 20 * 1e3:.2f} ms (TF32 {'on' if tf32 else 'off'})", flush=True)
except Exception as e:
    print("torch step failed:", type(e).__name__, e)

# per-op attribution: wrap forward/backward of every Function subclass with a sync
stats = collections.defaultdict(lambda: [0, 0.0])
def wrap(cls):
    f, b = cls.__dict__.get("forward"), cls.__dict__.get("backward")
    if f is not None:
        def fwd(ctx, *a, _f=f, **k):
            backend.synchronize(); t0 = time.perf_counter(); r = _f.__func__(ctx, *a, **k) if isinstance(_f, staticmethod) else _f(ctx, *a, **k); backend.synchronize()
            s = stats[cls.__name__ + ".fwd"]; s[0] += 1; s[1] += time.perf_counter() - t0; return r
        cls.forward = staticmethod(fwd)
    if b is not None:
        def bwd(ctx, g, _b=b):
            backend.synchronize(); t0 = time.perf_counter(); r = _b.__func__(ctx, g) if isinstance(_b, staticmethod) else _b(ctx, g); backend.synchronize()
            s = stats[cls.__name__ + ".bwd"]; s[0] += 1; s[1] += time.perf_counter() - t0; return r
        cls.backward = staticmethod(bwd)
def subclasses(c):
    for s in c.__subclasses__():
        yield s; yield from subclasses(s)
for cls in set(subclasses(autograd.Function)):
    wrap(cls)
for _ in range(2):
    step()
stats.clear()
backend.synchronize(); t = time.perf_counter()
for _ in range(5):
    step()
backend.synchronize()
tot = (time.perf_counter() - t) / 5 * 1e3
print(f"  synced step {tot:.2f} ms; per op (ms per step, calls per step):")
for k, (n, s) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:25]:
    print(f"    {k:32s} {s / 5 * 1e3:8.3f}  {n // 5}")
