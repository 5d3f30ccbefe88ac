"""Issue 21 item 3: output trouble never costs the run. `chainrule train ... | head -2` used to
stop with "[Errno 32] Broken pipe", exit 2, no model and no report."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import chainrule



def test_train_finishes_when_the_reader_closes_stdout(tmp_path):
    out = tmp_path / "p"
    cmd = [sys.executable, "-m", "chainrule", "train", "--epochs", "2", "--subsample", "100",
           "--model-args", '{"channels": [4, 8, 8]}', "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(Path(chainrule.__file__).resolve().parents[1]))  # this copy
    with open(tmp_path / "err.txt", "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=tmp_path)
        first = p.stdout.readline()           # `| head -1`: one line read, then the pipe is closed
        p.stdout.close()
        rc = p.wait(timeout=300)
    assert first.startswith(b"Training small_cnn")
    stderr = (tmp_path / "err.txt").read_text()
    assert rc == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr, stderr
    for name in ("model.safetensors", "report.html", "config.json", "metrics.jsonl", "plots/curves.png"):
        assert (out / name).exists(), name


class _Closed(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_safe_stream_drops_output_after_the_reader_left_but_keeps_other_errors():
    from chainrule.commands.output import SafeStream

    s = SafeStream(_Closed())
    assert s.write("hello\n") == 6 and s.broken
    s.flush()
    s.write("more\n")  # silently dropped

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    import pytest

    with pytest.raises(OSError, match="No space"):
        SafeStream(Full()).write("x")
