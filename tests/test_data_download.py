"""download=True against a local HTTP server: verified success, bad checksum, cut connection."""
import gzip
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import numpy as np
import pytest

import chainrule.data.cifar as cifar_mod
import chainrule.data.mnist as mnist_mod
from chainrule.data import download as dl
from chainrule.data import load_cifar10, load_mnist


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}        # path -> bytes
    truncate: set = set()   # paths served with a short body

    def do_GET(self):
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.lstrip("/") in self.truncate:
            self.wfile.write(body[: len(body) // 3])   # then the connection closes early
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    files, truncate = {}, set()
    handler = type("H", (_Handler,), {"files": files, "truncate": truncate})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", files, truncate
    httpd.shutdown()
    httpd.server_close()
    t.join()


def _md5(b):
    return hashlib.md5(b).hexdigest()


def _mnist_files():
    rng = np.random.default_rng(0)
    out = {}
    for part, n in (("train", 20), ("t10k", 10)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
            header = bytes([0, 0, 8, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
            out[f"{part}-{kind}-ubyte.gz"] = gzip.compress(header + arr.tobytes())
    return out


def test_download_mnist_verified(server, tmp_path, monkeypatch):
    url, files, _ = server
    mfiles = _mnist_files()
    files.update({"mirror/" + k: v for k, v in mfiles.items()})
    monkeypatch.setitem(mnist_mod.MD5, "mnist", {k: _md5(v) for k, v in mfiles.items()})
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_mnist(tmp_path / "m", url=url + "mirror/")
    s = load_mnist(tmp_path / "m", download=True, url=url + "mirror/", val_size=0)
    assert s.X_train.shape == (20, 1, 28, 28) and s.X_test.shape == (10, 1, 28, 28)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(mfiles)
    # the env var overrides the mirror; files already there are not fetched again
    files.clear()
    monkeypatch.setenv("CHAINRULE_DATA_URL_MNIST", url + "gone/")
    assert dl.base_url("mnist") == url + "gone/"
    assert load_mnist(tmp_path / "m", download=True, val_size=0).X_train.shape[0] == 20


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch):
    url, files, _ = server
    mfiles = _mnist_files()
    files.update(mfiles)
    md5 = {k: _md5(v) for k, v in mfiles.items()}
    md5["train-images-idx3-ubyte.gz"] = "0" * 32          # the served file is "tampered"
    monkeypatch.setitem(mnist_mod.MD5, "mnist", md5)
    monkeypatch.setitem(dl.MIRRORS, "mnist", url)           # the module-level mirror dict
    with pytest.raises(OSError, match="train-images-idx3-ubyte.gz failed.*(hash|checksum|MD5|md5)"):
        load_mnist(tmp_path / "m", download=True)
    assert not (tmp_path / "m" / "train-images-idx3-ubyte.gz").exists()
    assert not any(p.name.startswith("train-images") or "tmp" in p.name
                   for p in (tmp_path / "m").iterdir())


def test_download_cut_connection_leaves_nothing(server, tmp_path, monkeypatch):
    url, files, truncate = server
    mfiles = _mnist_files()
    files.update(mfiles)
    truncate.add("train-labels-idx1-ubyte.gz")
    monkeypatch.setitem(mnist_mod.MD5, "mnist", {k: _md5(v) for k, v in mfiles.items()})
    with pytest.raises(OSError, match="train-labels-idx1-ubyte.gz failed") as e:
        load_mnist(tmp_path / "m", download=True, url=url)
    print(e.value)
    left = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert left == ["train-images-idx3-ubyte.gz"]   # fetched (and verified) before the cut one


def test_download_missing_file_404(server, tmp_path, monkeypatch):
    url, files, _ = server
    monkeypatch.setenv("CHAINRULE_DATA_URL_FASHION_MNIST", url)
    from chainrule.data import load_fashion_mnist
    with pytest.raises(OSError, match="404"):
        load_fashion_mnist(tmp_path / "f", download=True)
    assert list((tmp_path / "f").iterdir()) == []


def test_download_cifar_archive_extracts(server, tmp_path, monkeypatch):
    url, files, _ = server
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, n in [("data_batch_1", 6), ("data_batch_2", 4), ("test_batch", 5)]:
            d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
            raw = pickle.dumps(d, protocol=2)
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    files["cifar-10-python.tar.gz"] = buf.getvalue()
    monkeypatch.setattr(cifar_mod, "ARCHIVE_MD5", _md5(buf.getvalue()))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = load_cifar10(download=True, url=url, val_size=0)
    assert s.X_train.shape == (10, 3, 32, 32) and s.X_test.shape == (5, 3, 32, 32)
    assert s.info["source"] == str(tmp_path / "cache" / "chainrule" / "cifar-10" / "cifar-10-batches-py")
    monkeypatch.setattr(cifar_mod, "ARCHIVE_MD5", "f" * 32)
    with pytest.raises(OSError, match="failed"):
        load_cifar10(tmp_path / "other", download=True, url=url)
    assert list((tmp_path / "other").iterdir()) == []
