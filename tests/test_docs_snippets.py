"""Every ```python block of README.md and docs/*.md runs (issue 21 item 10).

The blocks of one file run in order in one namespace, from a temporary folder (so a block may
write runs/ and files), as a reader pasting them into Python would. A block fenced ```python no-run
is skipped (the sentence before it says why: a GPU, MPI across machines, a user's folder).
A failing block is reported with its file and line.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chainrule.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Docs whose owners (other helpers of issue 21's session) are making their blocks runnable; the
# lead removes an entry when its doc passes. Non-strict: a doc that already runs passes.
PENDING: dict[str, str] = {}  # doc -> why its blocks cannot run yet (none now: every doc's blocks run)
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, source) of each ```python block to run, in order (not ```python no-run)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m["fence"], m["info"].strip().split(), i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if info[:1] == ["python"] and "no-run" not in info[1:]:
            indent = len(m["indent"])
            blocks.append((start + 1, "\n".join(line[indent:] if line[:indent].isspace() else line
                                                for line in lines[start:j])))
        i = j + 1
    return blocks


def test_the_extractor_reads_fences_and_skips_no_run():
    text = "a\n```python\nx = 1\n```\n```python no-run\nboom()\n```\n```bash\nls\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == [(3, "x = 1"), (12, "y = x + 1")]


def _param(doc: Path):
    name = doc.relative_to(ROOT).as_posix()
    marks = [pytest.mark.xfail(reason=PENDING[name], strict=False)] if name in PENDING else []
    return pytest.param(doc, id=name, marks=marks)


@pytest.mark.parametrize("doc", [_param(d) for d in DOCS])
def test_the_python_blocks_of_a_doc_run(doc, tmp_path, monkeypatch):
    blocks = python_blocks(doc.read_text())
    if not blocks:
        pytest.skip(f"{doc.name} has no ```python block")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__docs__"}
    for line, source in blocks:
        try:
            exec(compile(source, f"{doc.relative_to(ROOT)}:{line}", "exec"), namespace)  # noqa: S102
        except MissingDependencyError as e:  # an extra this environment lacks (its tests skip too)
            pytest.skip(f"{doc.relative_to(ROOT)}, the block at line {line} needs an extra: {e}")
        except Exception as e:
            pytest.fail(f"{doc.relative_to(ROOT)}, the block at line {line}: {type(e).__name__}: {e}")
