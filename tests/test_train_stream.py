"""`chainrule train --data folder:PATH --image-size S --workers N` (issue 23): streams the folder,
saves the sample-fitted preprocessing, records absolute paths, and resumes mid-epoch bitwise."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")


def _folder(root: Path, per_class: int = 12) -> Path:
    """Two classes of small PNGs and JPEGs (a bright and a dark class, learnable)."""
    rng = np.random.default_rng(0)
    for c, base in (("bright", 180), ("dark", 60)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            a = np.clip(base + rng.normal(0, 30, (20 + i % 5, 24, 3)), 0, 255).astype(np.uint8)
            PIL.fromarray(a).save(root / c / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def _train(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--model", "small_cnn", "--quiet",
                             "--image-size", "16", "--workers", "2", "--batch-size", "4", "--ema", "0",
                             "--lr-schedule", "none", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.mark.slow
def test_stream_trains_records_and_resumes_bitwise(tmp_path):
    data = _folder(tmp_path / "imgs")
    common = ("--data", "folder:imgs", "--epochs", "2", "--checkpoint-every", "1")
    full = _train(*common, "--out", "full", cwd=tmp_path)
    out, _ = full.communicate(timeout=300)
    assert full.returncode == 0, out
    cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert cfg["args"]["data"] == "folder:" + str(data.resolve())  # absolute: found from anywhere
    assert cfg["data"]["input_shape"] == [3, 16, 16] and cfg["data"]["dtype"] == "uint8"
    assert cfg["data"]["preprocess"] == "PerChannelNormalize" and cfg["data"]["counts"] == {"train": 22, "val": 2}
    assert cfg["results"]["iterations"] == 12  # 2 epochs of ceil(22 / 4) batches

    # interrupted mid-epoch (after a checkpoint of the first epoch), then resumed
    cut = _train(*common, "--out", "cut", cwd=tmp_path)
    ck = tmp_path / "cut" / "checkpoints" / "last.safetensors"
    while not ck.exists() and cut.poll() is None:
        time.sleep(0.02)
    cut.send_signal(signal.SIGINT)
    out, _ = cut.communicate(timeout=120)
    assert cut.returncode == 130, out  # stopped before the end (the machine may be fast: then it failed)
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = subprocess.run([sys.executable, "-m", "chainrule", "train", "--resume", "cut", "--quiet"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Resuming" in resumed.stdout and "iteration 0 " not in resumed.stdout
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k  # bitwise: the same batches, in the same order, with workers


def test_image_size_needs_a_folder(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["train", "--data", "digits", "--image-size", "32", "--out", str(tmp_path / "r")]) == 2
    assert "--image-size goes with --data folder:PATH" in capsys.readouterr().err
