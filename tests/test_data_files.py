"""Dataset loaders on the real files (if present) and on small files written here."""
import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import (DataFileError, load_cifar10, load_fashion_mnist, load_image_folder,
                            load_mnist)
from chainrule.data.archive import safe_extract
from chainrule.data.cifar import read_binary_batch, read_python_batch
from chainrule.data.idx import read_idx, write_idx
from chainrule.data.safe_pickle import safe_load
from tests._shared_data import shared_data

SHARED = shared_data()


def _need(sub):
    if not (SHARED / sub).is_dir():
        pytest.skip(f"real dataset {SHARED / sub} not present")
    return SHARED / sub


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # never let the developer's own cache or $CHAINRULE_DATA leak into a test
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


# ------------------------------------------------------------------ real files
@pytest.mark.parametrize("loader,sub", [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")])
def test_real_mnist_like(loader, sub):
    s = loader(_need(sub))
    assert s.info["official_counts"] == {"train": 60000, "test": 10000}
    assert s.X_train.shape == (55000, 1, 28, 28) and s.X_val.shape == (5000, 1, 28, 28)
    assert s.X_test.shape == (10000, 1, 28, 28)
    assert s.X_train.dtype == np.uint8 and s.y_train.dtype == np.int64
    assert s.X_train.max() == 255 and s.X_train.min() == 0
    full_y = np.concatenate([s.y_train, s.y_val])
    counts = np.bincount(full_y, minlength=10)
    if sub == "fashion-mnist":
        assert np.all(counts == 6000)            # 6,000 per class before the val split
        assert np.all(np.bincount(s.y_val) == 500)
        assert s.classes[0] == "T-shirt/top" and s.classes[9] == "Ankle boot"
    else:
        assert counts.sum() == 60000 and counts[1] == 6742  # official MNIST class 1 count
    assert np.bincount(s.y_test, minlength=10).sum() == 10000
    # the val split is a fixed seeded slice
    assert np.array_equal(loader(SHARED / sub, subsample=1000).y_val, s.y_val)


def test_real_cifar_subset():
    s = load_cifar10(_need("cifar-10-subset-batches-py"))
    assert s.info["official_counts"] == {"train": 8068, "test": 1017}
    assert s.X_train.shape == (7068, 3, 32, 32) and s.X_val.shape == (1000, 3, 32, 32)
    assert s.X_test.shape == (1017, 3, 32, 32) and s.X_test.dtype == np.uint8
    assert s.classes[:3] == ["airplane", "automobile", "bird"]
    assert s.X_train.min() == 0 and s.X_train.max() == 255
    assert set(np.unique(s.y_test)) == set(range(10))


# ------------------------------------------------------------------ IDX files
def _write_mnist(folder, n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        X = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", X)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", y)
        data[part] = (X, y)
    return data


def test_idx_roundtrip_and_loader(tmp_path):
    data = _write_mnist(tmp_path / "m")
    s = load_mnist(tmp_path / "m", val_size=10)
    X = np.concatenate([s.X_train, s.X_val])[:, 0]
    y = np.concatenate([s.y_train, s.y_val])
    order = np.lexsort(X.reshape(len(X), -1).T)
    ref = data["train"][0]
    assert np.array_equal(X[order], ref[np.lexsort(ref.reshape(len(ref), -1).T)])
    assert np.array_equal(s.X_test[:, 0], data["t10k"][0]) and np.array_equal(s.y_test, data["t10k"][1])
    assert np.all(np.bincount(s.y_val) == 1) and sorted(y) == sorted(data["train"][1])


def test_gzip_without_header_name_reads(tmp_path):
    # Debian's dataset-fashion-mnist strips the FNAME field from the gzip header
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    payload = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes() + arr.tobytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", filename="", mtime=0) as f:
        f.write(payload)
    p = tmp_path / "x-idx3-ubyte.gz"
    p.write_bytes(buf.getvalue())
    assert np.array_equal(read_idx(p, ndim=3), arr)
    q = tmp_path / "raw-idx3-ubyte"        # uncompressed files are read too
    q.write_bytes(payload)
    assert np.array_equal(read_idx(q), arr)


@pytest.mark.parametrize("damage,match", [
    (lambda b: b[: len(b) // 2], "truncated gzip"),
    (lambda b: b"not a gzip file at all", "not a gzip"),
    (lambda b: b[:20] + bytes(40) + b[60:], "corrupt gzip|truncated"),
])
def test_corrupt_gzip_named_in_error(tmp_path, damage, match):
    _write_mnist(tmp_path / "m")
    p = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(DataFileError, match=match) as e:
        load_mnist(tmp_path / "m")
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def _rewrite_payload(p, fn):
    p.write_bytes(gzip.compress(fn(gzip.decompress(p.read_bytes()))))


def test_idx_header_checks(tmp_path):
    _write_mnist(tmp_path / "m")
    img = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    good = img.read_bytes()
    _rewrite_payload(img, lambda b: b"\x00\x01" + b[2:])
    with pytest.raises(DataFileError, match="magic"):
        load_mnist(tmp_path / "m")
    img.write_bytes(good)
    _rewrite_payload(img, lambda b: b[:-5])             # data shorter than the dims say
    with pytest.raises(DataFileError, match=r"truncated.*|need \d+ data bytes"):
        load_mnist(tmp_path / "m")
    img.write_bytes(good)
    lab = tmp_path / "m" / "train-labels-idx1-ubyte.gz"
    _rewrite_payload(lab, lambda b: b[:3] + b"\x03" + b[4:])  # labels claim 3 dims
    with pytest.raises(DataFileError, match="dimensions, expected 1"):
        load_mnist(tmp_path / "m")
    write_idx(lab, np.zeros(29, np.uint8))                   # 30 images, 29 labels
    with pytest.raises(DataFileError, match="30 images but"):
        load_mnist(tmp_path / "m")


# ---------------------------------------------------------- where files are looked for
def test_search_order_env_and_cache(tmp_path, monkeypatch):
    from chainrule.data import paths
    assert paths.SYSTEM_DIRS["fashion-mnist"] == [Path("/usr/share/datasets/fashion-mnist")]
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"   # stands in for Debian's folder
    monkeypatch.setitem(paths.SYSTEM_DIRS, "fashion-mnist", [system])
    with pytest.raises(FileNotFoundError) as e:
        load_fashion_mnist()
    msg = str(e.value)
    assert "xdg-cache/chainrule/fashion-mnist" in msg and "download=True" in msg
    assert "fashion-mnist.s3-website" in msg and str(system) in msg
    _write_mnist(system)
    assert load_fashion_mnist(val_size=0).info["source"] == str(system)
    _write_mnist(tmp_path / "xdg-cache" / "chainrule" / "mnist", seed=1)
    assert load_mnist(val_size=0).info["source"].endswith("xdg-cache/chainrule/mnist")
    _write_mnist(tmp_path / "envdata" / "mnist", seed=2)
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "envdata"))
    assert load_mnist(val_size=0).info["source"] == str(tmp_path / "envdata" / "mnist")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist(tmp_path / "nowhere")


# ------------------------------------------------------------------ CIFAR
def _cifar_batch(n, seed, protocol=2, filenames=True):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    y = [int(v) for v in rng.integers(0, 10, n)]
    d = {b"batch_label": b"test batch", b"labels": y, b"data": X}
    if filenames:
        d[b"filenames"] = [b"img%d.png" % i for i in range(n)]
    return pickle.dumps(d, protocol=protocol), X, np.array(y)


def _write_cifar_py(folder, sizes=(7, 5, 3, 4, 6), n_test=9):
    folder.mkdir(parents=True, exist_ok=True)
    Xs, ys = [], []
    for i, n in enumerate(sizes, 1):
        raw, X, y = _cifar_batch(n, i, protocol=2 if i % 2 else 4, filenames=i != 3)
        (folder / f"data_batch_{i}").write_bytes(raw)
        Xs.append(X)
        ys.append(y)
    raw, Xt, yt = _cifar_batch(n_test, 99)
    (folder / "test_batch").write_bytes(raw)
    meta = {b"label_names": [n.encode() for n in "a b c d e f g h i j".split()]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(Xs), np.concatenate(ys), Xt, yt


def test_cifar_python_batches_any_length(tmp_path):
    X, y, Xt, yt = _write_cifar_py(tmp_path / "cifar-10" / "cifar-10-batches-py")
    s = load_cifar10(tmp_path / "cifar-10", val_size=0)   # finds the sub-folder
    assert s.info["format"] == "python" and s.classes == list("abcdefghij")
    assert np.array_equal(s.X_train, X.reshape(-1, 3, 32, 32)) and np.array_equal(s.y_train, y)
    assert np.array_equal(s.X_test, Xt.reshape(-1, 3, 32, 32)) and np.array_equal(s.y_test, yt)
    # channel layout: the first 1024 bytes of a row are the red plane, row-major
    assert s.X_train[0, 0, 0, 1] == X[0, 1] and s.X_train[0, 1, 2, 3] == X[0, 1024 + 2 * 32 + 3]


def test_cifar_binary(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    recs = {}
    for name, n in [("data_batch_1.bin", 4), ("data_batch_2.bin", 3), ("test_batch.bin", 5)]:
        r = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        r[:, 0] = rng.integers(0, 10, n)
        (folder / name).write_bytes(r.tobytes())
        recs[name] = r
    (folder / "batches.meta.txt").write_text("\n".join("abcdefghij") + "\n\n")
    s = load_cifar10(tmp_path, val_size=0)
    assert s.info["format"] == "binary" and s.classes == list("abcdefghij")
    tr = np.concatenate([recs["data_batch_1.bin"], recs["data_batch_2.bin"]])
    assert np.array_equal(s.y_train, tr[:, 0]) and np.array_equal(s.X_train.reshape(7, -1), tr[:, 1:])
    assert np.array_equal(s.X_test.reshape(5, -1), recs["test_batch.bin"][:, 1:])
    (folder / "test_batch.bin").write_bytes(recs["test_batch.bin"].tobytes()[:-100])
    with pytest.raises(DataFileError, match="test_batch.bin.*not a multiple of the 3073"):
        load_cifar10(tmp_path)
    bad = recs["test_batch.bin"].copy()
    bad[2, 0] = 17
    (folder / "test_batch.bin").write_bytes(bad.tobytes())
    with pytest.raises(DataFileError, match="record 2 has label 17"):
        read_binary_batch(folder / "test_batch.bin")


def test_cifar_python_corrupt_and_truncated(tmp_path):
    _write_cifar_py(tmp_path)
    p = tmp_path / "data_batch_2"
    good = p.read_bytes()
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFileError, match="data_batch_2: cannot read CIFAR python batch"):
        load_cifar10(tmp_path)
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataFileError, match=r"shape \(N, 3072\)"):
        read_python_batch(p)
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    with pytest.raises(DataFileError, match="'labels' must be 2 ints"):
        read_python_batch(p)
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataFileError, match="expected a pickled dict"):
        read_python_batch(p)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_cifar_py(tmp_path / "c")
    payload = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Evil()}
    (tmp_path / "c" / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataFileError, match="refusing to load 'posix.system'|refusing to load 'nt.system'"):
        load_cifar10(tmp_path / "c")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
    for evil in [pickle.dumps(_Evil()), pickle.dumps(eval), b"cbuiltins\nexec\n(S'1'\ntR."]:
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            safe_load(evil)
    with pytest.raises(pickle.UnpicklingError, match="object-dtype"):
        safe_load(pickle.dumps(np.array([1, "a"], dtype=object)))
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_safe_extract_rejects_unsafe_members(tmp_path):
    def make(name, members):
        p = tmp_path / name
        with tarfile.open(p, "w:gz") as tar:
            for m, data in members:
                info = tarfile.TarInfo(m)
                if data is None:
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return p
    ok = make("ok.tar.gz", [("d/a.txt", b"hello"), ("d/b.txt", b"x")])
    safe_extract(ok, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "a.txt").read_bytes() == b"hello"
    for name, member in [("abs.tar.gz", ("/tmp/evil.txt", b"x")), ("dots.tar.gz", ("d/../../evil.txt", b"x")),
                         ("link.tar.gz", ("d/link", None))]:
        with pytest.raises(DataFileError, match="refusing"):
            safe_extract(make(name, [("d/fine.txt", b"1"), member]), tmp_path / ("o" + name))
        assert not (tmp_path / ("o" + name) / "d" / "fine.txt").exists()   # checked before writing
    assert not (tmp_path.parent / "evil.txt").exists()


# ------------------------------------------------------------------ image folders
def test_image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    originals = {}
    for c, name in enumerate(["zebra", "ant", "cat"]):
        (tmp_path / name).mkdir()
        for i in range(5):
            arr = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            if i % 2:
                Image.fromarray(arr).save(tmp_path / name / f"{i}.png")
                originals[(name, i)] = arr
            else:
                Image.fromarray(arr[:, :, 0], "L").resize((16, 12)).save(tmp_path / name / f"{i}.JPG", quality=95)
    (tmp_path / "ant" / "notes.txt").write_text("ignored")
    s = load_image_folder(tmp_path, size=(6, 8), val_size=3, test_size=3, seed=0)
    assert s.classes == ["ant", "cat", "zebra"]
    assert s.X_train.shape == (9, 3, 6, 8) and s.X_train.dtype == np.uint8
    assert sorted(np.concatenate([s.y_train, s.y_val, s.y_test])) == [0] * 5 + [1] * 5 + [2] * 5
    assert np.bincount(s.y_test).tolist() == [1, 1, 1] and np.bincount(s.y_val).tolist() == [1, 1, 1]
    # PNGs at the target size come back exactly; the greyscale JPEGs have equal R, G, B
    allX = np.concatenate([s.X_train, s.X_val, s.X_test])
    keys = {x.tobytes() for x in allX}
    for arr in originals.values():
        assert arr.transpose(2, 0, 1).tobytes() in keys
    grey = [x for x in allX if x.transpose(1, 2, 0).tobytes() not in {a.tobytes() for a in originals.values()}]
    assert len(grey) == 9 and all(np.array_equal(g[0], g[1]) and np.array_equal(g[1], g[2]) for g in grey)
    (tmp_path / "cat" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFileError, match="bad.png: cannot decode"):
        load_image_folder(tmp_path, size=4)
    with pytest.raises(FileNotFoundError, match="no .png"):
        (tmp_path / "empty").mkdir()
        load_image_folder(tmp_path / "empty", size=4)
