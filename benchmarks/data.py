"""Input pipeline throughput: JPEG decode + RandomResizedCrop(224) + flip + normalise + collate.

    python benchmarks/data.py                          # 2,000 JPEGs, num_workers 0 1 2, 3 rounds
    python benchmarks/data.py --images 4000 --workers 0 2 --rounds 5 --json out.json
    python benchmarks/data.py --decode                 # JPEG decoders only (ms per image)
    python benchmarks/data.py --model-step             # what one ResNet-18 step at 224 consumes
    python benchmarks/data.py --rss 2000 20000 --workers 2 --batch 16   # peak RSS, all processes
    python benchmarks/data.py --transport              # ms per 64x3x224x224 float32 batch from 2 workers

Data: a folder of synthetic photo-like JPEGs (smooth colour fields + texture noise + a few shapes,
quality 90, sizes around ImageNet's 500x375), 10 classes, made once in --folder.

Pipelines, one epoch each, batch 64, shuffled:
- chainrule: chainrule.data.ImageFolder + chainrule.data.vision.transforms
  (RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize) + chainrule's DataLoader;
- torch: torch.utils.data.DataLoader over a plain Pillow Dataset (open, convert("RGB"), the same
  crop-box rule and Pillow calls, flip, torch.from_numpy(...).permute().float().div(255), normalise),
  i.e. what a PyTorch user without torchvision writes (torchvision cannot be installed here: it would
  replace torch 2.13).
Each (framework, num_workers) run is its own process; the frameworks alternate within a round, and
the best of the rounds is reported (the machine is shared: the best is the least disturbed run).
images/s counts from creating the iterator (worker start-up included) to the last batch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# ----------------------------------------------------------------------- data
def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A synthetic photo: smooth colour waves, texture noise and a few flat rectangles (uint8 HxWx3)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    f = rng.uniform(2, 12, 3)
    img = np.stack([np.sin(xx * f[0] + rng.uniform(0, 6)), np.cos(yy * f[1] + rng.uniform(0, 6)),
                    np.sin((xx + yy) * f[2])], -1) * 60 + 128
    for _ in range(4):
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        img[y0:y0 + rng.integers(10, h // 2), x0:x0 + rng.integers(10, w // 2)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 10, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root: Path, n: int, classes: int = 10, seed: int = 0) -> Path:
    """n JPEGs in root/class_k/ (made once; reused when the count matches)."""
    from PIL import Image

    done = root / f".complete-{n}"
    if done.exists():
        return root
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = int(rng.integers(300, 450)), int(rng.integers(400, 600))
        d = root / f"class_{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(rng, h, w)).save(d / f"{i:06d}.jpg", quality=90)
    done.touch()
    return root


# ------------------------------------------------------------ the two pipelines
def chainrule_loader(root: Path, workers: int, batch: int, seed: int):
    import chainrule as cr
    from chainrule.data.vision import transforms as T

    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = cr.data.ImageFolder(root, transform=tf)
    return cr.utils.data.DataLoader(ds, batch, shuffle=True, num_workers=workers,
                                    generator=cr.Generator().manual_seed(seed))


def torch_loader(root: Path, workers: int, batch: int, seed: int):
    import torch
    from PIL import Image

    class PillowFolder(torch.utils.data.Dataset):
        """What a PyTorch user writes without torchvision: Pillow decode and crops, torch tensors."""

        def __init__(self, root):
            classes = sorted(d.name for d in Path(root).iterdir() if d.is_dir())
            self.samples = [(str(f), k) for k, c in enumerate(classes) for f in sorted((Path(root) / c).glob("*.jpg"))]
            self.mean = torch.tensor(MEAN).view(3, 1, 1)
            self.std = torch.tensor(STD).view(3, 1, 1)

        def __len__(self):
            return len(self.samples)

        def _box(self, W, H):  # torchvision's RandomResizedCrop.get_params, with Python's random
            area = W * H
            for _ in range(10):
                target = area * random.uniform(0.08, 1.0)
                ar = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
                w, h = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
                if 0 < w <= W and 0 < h <= H:
                    return random.randint(0, H - h), random.randint(0, W - w), h, w
            return 0, 0, H, W

        def __getitem__(self, i):
            path, target = self.samples[i]
            with Image.open(path) as im:
                img = im.convert("RGB")
            top, left, h, w = self._box(*img.size)
            img = img.crop((left, top, left + w, top + h)).resize((224, 224), Image.BILINEAR)
            if random.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            x = torch.from_numpy(np.asarray(img)).permute(2, 0, 1).float().div(255)
            return (x - self.mean) / self.std, target

    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(PillowFolder(root), batch, shuffle=True, num_workers=workers, generator=g)


def run_one(framework: str, root: Path, workers: int, batch: int, limit: int, seed: int) -> dict:
    """One epoch (or `limit` images) through one pipeline in this process -> images/s and peak RSS."""
    import resource

    if framework == "torch":
        import torch
        torch.set_num_threads(1)  # the work is per-sample Pillow in both; keep torch's pool out of it
    loader = (torch_loader if framework == "torch" else chainrule_loader)(root, workers, batch, seed)
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        n += int(x.shape[0])
        if n >= limit:
            break
    dt = time.perf_counter() - t0
    shape = tuple(int(s) for s in x.shape)
    del loader
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return {"framework": framework, "workers": workers, "images": n, "seconds": dt, "images_per_s": n / dt,
            "batch_shape": shape, "peak_rss_mb_self_plus_largest_child": rss}


# ---------------------------------------------------------------- decoders
def bench_decode(root: Path, count: int = 100) -> dict:
    """ms per JPEG: Pillow full, Pillow draft to >= 224 (and to >= 112), simplejpeg if installed
    (pip install simplejpeg: measured, not used by chainrule), chainrule's open_image."""
    from PIL import Image

    from chainrule.data import decode

    files = sorted(root.rglob("*.jpg"))[:count]
    datas = [f.read_bytes() for f in files]
    import io

    def pil(b, draft=None):
        with Image.open(io.BytesIO(b)) as im:
            if draft:
                im.draft("RGB", draft)
            return im.convert("RGB")

    cases = {"pillow": lambda b: pil(b), "pillow draft>=224": lambda b: pil(b, (224, 224)),
             "pillow draft>=112": lambda b: pil(b, (112, 112))}
    try:
        import simplejpeg
        cases["simplejpeg"] = lambda b: simplejpeg.decode_jpeg(b, colorspace="RGB")
        cases["simplejpeg >=112"] = lambda b: simplejpeg.decode_jpeg(b, colorspace="RGB", min_width=112, min_height=112)
    except ImportError:
        pass
    out = {}
    for name, f in cases.items():
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for b in datas:
                f(b)
            best = min(best, (time.perf_counter() - t0) / len(datas))
        out[name] = round(best * 1e3, 3)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for f in files:
            decode.open_image(f)
        best = min(best, (time.perf_counter() - t0) / len(files))
    out["chainrule open_image (file read, EXIF check, RGB)"] = round(best * 1e3, 3)
    return out


def transport_one(framework: str, workers: int, batches: int = 20, batch: int = 64) -> dict:
    """ms per batch of `batch` x 3 x 224 x 224 float32 samples that cost nothing to make: what moving
    batches from the workers to the main process costs (steady state, after the first batch)."""
    if framework == "torch":
        import torch
        torch.set_num_threads(1)
        base, make = torch.utils.data, (lambda i: torch.from_numpy(np.full((3, 224, 224), i, np.float32)))
    else:
        import chainrule as cr
        base, make = cr.utils.data, (lambda i: np.full((3, 224, 224), i, np.float32))

    class Cheap(base.Dataset):
        def __len__(self):
            return batches * batch

        def __getitem__(self, i):
            return make(i), i

    t0 = time.perf_counter()
    for k, _ in enumerate(base.DataLoader(Cheap(), batch, num_workers=workers)):
        if k == 0:
            first = time.perf_counter()
    return {"framework": framework, "workers": workers,
            "ms_per_batch": (time.perf_counter() - first) / (batches - 1) * 1e3, "first_batch_s": first - t0}


def bench_model_step(batch: int = 8) -> dict:
    """Images/s one chainrule ResNet-18 training step (forward + backward + SGD) takes at 224x224."""
    import chainrule as cr
    from chainrule.nn import functional as F

    model = cr.models.resnet18(num_classes=10)
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    x = cr.Tensor(np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32))
    y = cr.Tensor(np.arange(batch) % 10)
    model.train()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"batch": batch, "seconds_per_step": min(times[1:]), "images_per_s": batch / min(times[1:])}


# ------------------------------------------------------------- peak memory
def link_folder(src: Path, dst: Path, n: int) -> Path:
    """A folder of n JPEG names (symbolic links cycling over the files of src): a large folder
    for the memory test without n distinct images on disk (decoding cost and sizes are the same)."""
    done = dst / f".complete-{n}"
    if done.exists():
        return dst
    files = sorted(src.rglob("*.jpg"))
    for i in range(n):
        f = files[i % len(files)]
        d = dst / f.parent.name
        d.mkdir(parents=True, exist_ok=True)
        link = d / f"{i:06d}.jpg"
        if not link.exists():
            link.symlink_to(f)
    done.touch()
    return dst


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) summed over a process and all its descendants, from /proc (MB). The RSS sum counts
    shared pages (the batches in shared memory, the forked parent's pages) once per process that maps
    them: an upper bound; PSS splits each shared page between its processes: the machine's real use."""
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return rss / 1024, pss / 1024


def train_steps(root: Path, steps: int, workers: int, batch: int, size: int) -> None:
    """The streaming training loop by hand: folder_datasets + DataLoader(workers) + ResNet-18 SGD steps."""
    import chainrule as cr
    from chainrule.nn import functional as F

    data = cr.data.folder_datasets(root, image_size=size, val_size=0.05)
    loader = cr.utils.data.DataLoader(data.train, batch, shuffle=True, num_workers=workers,
                                      generator=cr.Generator().manual_seed(0))
    model = cr.models.resnet18(num_classes=len(data.classes))
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for k, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(cr.Tensor(x.data.astype(np.float32) / 255.0)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k + 1 == steps:
            break


def bench_rss(base: Path, counts: list[int], steps: int, workers: int, batch: int, size: int) -> dict:
    """Peak RSS of the whole process tree of `train_steps` for folders of each size."""
    out = {}
    for n in counts:
        root = link_folder(base, base.parent / f"linked-{n}", n)
        code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import data as b; from pathlib import Path; "
                f"b.train_steps(Path({str(root)!r}), {steps}, {workers}, {batch}, {size})")
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)))
        peak = peak_pss = 0.0
        while p.poll() is None:
            rss, pss = tree_memory_mb(p.pid)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.2)
        if p.returncode:
            raise RuntimeError(f"train_steps failed with exit code {p.returncode}")
        out[n] = {"peak_rss_mb": round(peak, 1), "peak_pss_mb": round(peak_pss, 1),
                  "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{n} images: peak over all processes: RSS sum {peak:.0f} MB, PSS sum {peak_pss:.0f} MB "
              f"({out[n]['seconds']} s, {steps} steps of {batch} at {size}x{size}, {workers} workers)", flush=True)
    return out


# --------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "chainrule-bench-jpegs")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--limit", type=int, default=0, help="images per run (default: one epoch)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--frameworks", nargs="+", default=["chainrule", "torch"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decode", action="store_true", help="time the JPEG decoders only")
    ap.add_argument("--model-step", action="store_true", help="time one ResNet-18 step at 224 only")
    ap.add_argument("--rss", type=int, nargs="*", metavar="N",
                    help="peak RSS of a ResNet-18 training loop over folders of N images (default 2000 20000)")
    ap.add_argument("--steps", type=int, default=8, help="--rss: training steps")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--transport", action="store_true",
                    help="ms per float32 224x224 batch moved from 2 workers (cheap samples), both frameworks")
    ap.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--one-transport", nargs=2, metavar=("FRAMEWORK", "WORKERS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    root = a.folder / str(a.images)
    limit = a.limit or a.images
    if a.one:
        print(json.dumps(run_one(a.one[0], root, int(a.one[1]), a.batch, limit, a.seed)))
        return
    if a.one_transport:
        print(json.dumps(transport_one(a.one_transport[0], int(a.one_transport[1]))))
        return
    if a.transport:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for r in range(a.rounds):
            for fw in (a.frameworks if r % 2 == 0 else a.frameworks[::-1]):
                out = subprocess.run([sys.executable, __file__, "--one-transport", fw, str(max(a.workers))],
                                     capture_output=True, text=True, env=env, check=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                print(f"round {r} {fw:9s} workers={res['workers']}: {res['ms_per_batch']:.1f} ms per batch", flush=True)
        return
    make_folder(root, a.images)
    if a.rss is not None:
        res = bench_rss(root, a.rss or [2000, 20000], a.steps, max(a.workers), a.batch, a.image_size)
        if a.json:
            a.json.write_text(json.dumps(res, indent=1))
        return
    if a.decode or a.model_step:
        res = bench_decode(root) if a.decode else bench_model_step()
        print(json.dumps(res, indent=1))
        if a.json:
            a.json.write_text(json.dumps(res, indent=1))
        return
    print(f"{a.images} JPEGs in {root}; {limit} images per run, batch {a.batch}; {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()}")
    results = []
    for r in range(a.rounds):
        for w in a.workers:
            order = a.frameworks if r % 2 == 0 else a.frameworks[::-1]
            for fw in order:
                cmd = [sys.executable, __file__, "--folder", str(a.folder), "--images", str(a.images),
                       "--limit", str(limit), "--batch", str(a.batch), "--seed", str(a.seed), "--one", fw, str(w)]
                env = dict(os.environ, PYTHONPATH=str(REPO))
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                res["round"] = r
                results.append(res)
                print(f"round {r} {fw:9s} workers={w}: {res['images_per_s']:7.1f} images/s "
                      f"({res['images']} in {res['seconds']:.1f} s)", flush=True)
    print("\nbest of", a.rounds, "rounds (images/s):")
    summary = {}
    for w in a.workers:
        best = {fw: max(x["images_per_s"] for x in results if x["framework"] == fw and x["workers"] == w)
                for fw in a.frameworks}
        summary[w] = best
        ratios = "".join(f"  {fw}/torch {v / best['torch']:.2f}" for fw, v in best.items()
                         if fw != "torch" and "torch" in best)
        print(f"  num_workers={w}: " + ", ".join(f"{fw} {v:.1f}" for fw, v in best.items()) + ratios)
    print("load average after:", os.getloadavg())
    if a.json:
        a.json.write_text(json.dumps({"runs": results, "best": summary, "images": a.images}, indent=1))


if __name__ == "__main__":
    main()
