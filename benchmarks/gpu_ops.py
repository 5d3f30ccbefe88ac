"""Per-op forward+backward time, chainrule on CuPy vs PyTorch CUDA (float32, batch 128).

    python3 benchmarks/gpu_ops.py [N] [out.json]   # on a GPU; CR_PLAIN=1 for the plain-xp paths"""
import sys, time, json
import numpy as np
import chainrule as cr
from chainrule import backend
from chainrule.nn import functional as F
import torch
import torch.nn.functional as TF

torch.backends.cudnn.benchmark = True
import os
if os.environ.get("CR_PLAIN"):
    from chainrule.ops import conv_device, norm_device
    conv_device.USE_KERNELS = norm_device.USE_KERNELS = False
    print("plain xp paths (no custom kernels)")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 128
CASES = [
    ("conv3x3 3->16 @32", "conv", (N, 3, 32, 32), (16, 3, 3, 3), 1, 1),
    ("conv3x3 16->16 @32", "conv", (N, 16, 32, 32), (16, 16, 3, 3), 1, 1),
    ("conv3x3 s2 16->32 @32", "conv", (N, 16, 32, 32), (32, 16, 3, 3), 2, 1),
    ("conv1x1 s2 16->32 @32", "conv", (N, 16, 32, 32), (32, 16, 1, 1), 2, 0),
    ("conv3x3 32->32 @16", "conv", (N, 32, 16, 16), (32, 32, 3, 3), 1, 1),
    ("conv3x3 64->64 @8", "conv", (N, 64, 8, 8), (64, 64, 3, 3), 1, 1),
    ("conv3x3 64->64 @32", "conv", (N, 64, 32, 32), (64, 64, 3, 3), 1, 1),
    ("conv3x3 128->128 @16", "conv", (N, 128, 16, 16), (128, 128, 3, 3), 1, 1),
    ("conv3x3 256->256 @8", "conv", (N, 256, 8, 8), (256, 256, 3, 3), 1, 1),
    ("bn train 16@32", "bn", (N, 16, 32, 32)),
    ("bn train 64@32", "bn", (N, 64, 32, 32)),
    ("bn train 64@8", "bn", (N, 64, 8, 8)),
    ("maxpool2 64@32", "max", (N, 64, 32, 32)),
    ("maxpool3s2p1 64@32", "max3", (N, 64, 32, 32)),
    ("avgpool2 64@32", "avg", (N, 64, 32, 32)),
    ("adaptive1 64@8", "gap", (N, 64, 8, 8)),
]


def timeit(fn, sync, reps=20, warm=3):
    for _ in range(warm):
        fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t) / reps * 1e3


def cr_case(c):
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal(c[2]).astype(np.float32)).to("cuda"); x.requires_grad = True
    if c[1] == "conv":
        w = cr.tensor(rng.standard_normal(c[3]).astype(np.float32) * 0.1).to("cuda"); w.requires_grad = True
        f = lambda: F.conv2d(x, w, None, stride=c[4], padding=c[5])
    elif c[1] == "bn":
        C = c[2][1]
        w = cr.tensor(np.ones(C, np.float32)).to("cuda"); w.requires_grad = True
        b = cr.tensor(np.zeros(C, np.float32)).to("cuda"); b.requires_grad = True
        rm, rv = backend.to_device(np.zeros(C, np.float32), "cuda"), backend.to_device(np.ones(C, np.float32), "cuda")
        f = lambda: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)
    elif c[1] == "max":
        f = lambda: F.max_pool2d(x, 2)
    elif c[1] == "max3":
        f = lambda: F.max_pool2d(x, 3, 2, 1)
    elif c[1] == "avg":
        f = lambda: F.avg_pool2d(x, 2)
    else:
        f = lambda: F.adaptive_avg_pool2d(x, 1)
    out = f()
    g = backend.array_module(out.data).ones_like(out.data)
    fwd = f
    def both():
        o = f()
        o.backward(g)
    return fwd, both


def torch_case(c):
    dev = "cuda"
    x = torch.randn(c[2], device=dev, requires_grad=True)
    if c[1] == "conv":
        w = (torch.randn(c[3], device=dev) * 0.1).requires_grad_()
        f = lambda: TF.conv2d(x, w, None, stride=c[4], padding=c[5])
    elif c[1] == "bn":
        C = c[2][1]
        w = torch.ones(C, device=dev, requires_grad=True); b = torch.zeros(C, device=dev, requires_grad=True)
        rm, rv = torch.zeros(C, device=dev), torch.ones(C, device=dev)
        f = lambda: TF.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)
    elif c[1] == "max":
        f = lambda: TF.max_pool2d(x, 2)
    elif c[1] == "max3":
        f = lambda: TF.max_pool2d(x, 3, 2, 1)
    elif c[1] == "avg":
        f = lambda: TF.avg_pool2d(x, 2)
    else:
        f = lambda: TF.adaptive_avg_pool2d(x, 1)
    out = f()
    g = torch.ones_like(out)
    def both():
        o = f()
        o.backward(g)
    return f, both


rows = []
csync, tsync = backend.synchronize, torch.cuda.synchronize
for tf32 in (False,):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
for c in CASES:
    try:
        cf, cb = cr_case(c)
        r = {"op": c[0], "cr_fwd": timeit(cf, csync), "cr_fwdbwd": timeit(cb, csync)}
    except Exception as e:
        r = {"op": c[0], "error": f"{type(e).__name__}: {e}"[:300]}
    tf, tb = torch_case(c)
    r["th_fwd"], r["th_fwdbwd"] = timeit(tf, tsync), timeit(tb, tsync)
    torch.backends.cudnn.allow_tf32 = True
    r["th_tf32_fwdbwd"] = timeit(tb, tsync)
    torch.backends.cudnn.allow_tf32 = False
    rows.append(r)
    if "error" in r:
        print(f"{c[0]:24s} ERROR {r['error']}  torch {r['th_fwdbwd']:.3f}", flush=True)
    else:
        print(f"{c[0]:24s} cr fwd {r['cr_fwd']:7.3f} fwd+bwd {r['cr_fwdbwd']:7.3f} ms | torch fwd {r['th_fwd']:7.3f} "
              f"fwd+bwd {r['th_fwdbwd']:7.3f} (tf32 {r['th_tf32_fwdbwd']:7.3f}) | ratio {r['cr_fwdbwd']/r['th_fwdbwd']:5.2f}", flush=True)
json.dump(rows, open(sys.argv[2] if len(sys.argv) > 2 else "/dev/null", "w"), indent=1)
