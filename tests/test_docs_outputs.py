"""A command's output quoted in the docs is that command's output (issue 21 item 10).

In README.md and docs/*.md, a quoted output is marked by the line before its block:

    <!-- output: chainrule linear --loss softmax --data digits -->
    ```text
    ...the lines the command prints...
    ```

The test runs the command (in-process, from a temporary folder) and compares: the words must be
the same; times (`8.7s`, `3459 img/s`) and run-folder time stamps are free; integers are exact;
other numbers may differ by 0.015 (a few of 360 test images: BLAS kernels round differently on
other machines) or 2% relative. A line `...` in the block stands for any number of lines.
After changing what a command prints, rewrite the blocks with

    python tests/test_docs_outputs.py --write
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = re.compile(r"^<!-- output: (?P<cmd>chainrule [^>]*?) -->\n```text\n(?P<body>.*?)^```$", re.M | re.S)
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?")
TIME = re.compile(r"[-+]?\d[\d,]*\.?\d*\s?(?:s\b|img/s)")
STAMP = re.compile(r"\d{8}-\d{6}")


def quoted_outputs(path: Path) -> list[tuple[str, str]]:
    """(command, quoted text) of every marked block in a doc."""
    return [(m["cmd"], m["body"]) for m in MARK.finditer(path.read_text())]


def run_command(cmd: str, cwd: Path) -> str:
    """What `cmd` prints on stdout, run in-process from `cwd`."""
    from chainrule.cli import main

    argv = shlex.split(cmd)[1:]
    out = io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            rc = main(argv)
    finally:
        os.chdir(old)
    assert rc == 0, f"{cmd} exited with {rc}"
    return out.getvalue()


def _tokens(line: str) -> list[tuple[str, str]]:
    """('word' | 'int' | 'float' | 'free', text) of a line, times and stamps marked free."""
    line = STAMP.sub("STAMP", TIME.sub(" FREE ", line))
    out, pos = [], 0
    for m in NUMBER.finditer(line):
        words = line[pos:m.start()].split()
        out += [("free", w) if w == "FREE" else ("word", w) for w in words]
        text = m.group().replace(",", "")
        out.append(("int" if re.fullmatch(r"[-+]?\d+", text) else "float", text))
        pos = m.end()
    out += [("free", w) if w == "FREE" else ("word", w) for w in line[pos:].split()]
    return out


def same_line(quoted: str, got: str) -> bool:
    a, b = _tokens(quoted), _tokens(got)
    if [k for k, _ in a] != [k for k, _ in b]:
        return False
    for (kind, x), (_, y) in zip(a, b):
        if kind == "word" and x != y or kind == "int" and int(x) != int(y):
            return False
        if kind == "float" and abs(float(x) - float(y)) > max(0.015, 0.02 * abs(float(x))):
            return False
    return True


def matches(quoted: str, got: str) -> str | None:
    """None if `got` (the command's output) is what `quoted` shows, else the first difference."""
    q = [line for line in quoted.splitlines() if line.strip()]
    g = [line for line in got.splitlines() if line.strip()]
    i = j = 0
    while i < len(q):
        if q[i].strip() == "...":      # any lines, up to the next quoted one
            i += 1
            if i == len(q):
                return None
            while j < len(g) and not same_line(q[i], g[j]):
                j += 1
            if j == len(g):
                return f"quoted line not printed: {q[i]!r}"
        elif j >= len(g) or not same_line(q[i], g[j]):
            return f"quoted {q[i]!r}, printed {g[j] if j < len(g) else '(nothing)'!r}"
        i += 1
        j += 1
    return None if j == len(g) else f"printed more than quoted: {g[j]!r}"


CASES = [(d, cmd, body) for d in DOCS for cmd, body in quoted_outputs(d)]


def test_the_comparison_is_strict_on_words_and_loose_on_times():
    assert same_line("Done in 8.7s: test acc 0.9833", "Done in 12.1s: test acc 0.9861")
    assert not same_line("Done in 8.7s: test acc 0.9833", "Done in 8.7s: test acc 0.9556")
    assert not same_line("for 20 epochs", "for 30 epochs")
    assert same_line("into runs/x-20261122-164441", "into runs/x-20261208-010203")
    assert matches("a 1\n...\nz 2\n", "a 1\nb\nc\nz 2\n") is None
    assert matches("a 1\nz 2\n", "a 1\nb\nz 2\n") is not None
    assert len(CASES) >= 2, "the docs quote at least `chainrule train` and `chainrule linear`"


@pytest.mark.slow
@pytest.mark.parametrize("doc, cmd, quoted", CASES,
                         ids=[f"{d.relative_to(ROOT).as_posix()}: {c}" for d, c, _ in CASES])
def test_a_quoted_output_is_what_the_command_prints(doc, cmd, quoted, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    problem = matches(quoted, run_command(cmd, tmp_path))
    assert problem is None, (f"{doc.relative_to(ROOT)}: `{cmd}` no longer prints what the doc quotes: {problem}. "
                             "Rewrite the blocks with: python tests/test_docs_outputs.py --write")


def write_blocks() -> None:
    """Rerun every marked command and put its output into the doc, keeping the doc's `...` elisions
    (the quoted lines before the first `...` and after the last one are taken from the new output)."""
    for doc in DOCS:
        text = doc.read_text()
        for cmd, body in quoted_outputs(doc):
            with tempfile.TemporaryDirectory() as tmp:
                got = [line for line in run_command(cmd, Path(tmp)).splitlines() if line.strip()]
            q = body.splitlines()
            if "..." in [line.strip() for line in q]:
                head = q.index(next(line for line in q if line.strip() == "..."))
                tail = len(q) - 1 - max(k for k, line in enumerate(q) if line.strip() == "...")
                new = got[:head] + ["..."] + (got[len(got) - tail:] if tail else [])
            else:
                new = got
            text = text.replace(f"<!-- output: {cmd} -->\n```text\n{body}```",
                                f"<!-- output: {cmd} -->\n```text\n" + "\n".join(new) + "\n```", 1)
            print(f"{doc.relative_to(ROOT)}: {cmd}")
        doc.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    sys.path.insert(0, str(ROOT))
    write_blocks()
