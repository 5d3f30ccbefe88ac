"""`chainrule report`: one self-contained HTML page per run (or per set of runs), checked as HTML
source and as a page rendered by a real browser (headless Chromium)."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.diagnostics.verdict import diagnose_gap
from chainrule.viz.report import images_per_second, load_run, write_report
from chainrule.viz.report_html import pct

SECTIONS = ("summary", "verdict", "curves", "config", "data", "timing", "per-class", "confusion", "filters",
            "misclassified")


class Page(HTMLParser):
    """The ids, image sources, table rows and visible text of an HTML page."""

    VOID = {"img", "br", "meta", "hr", "input", "link", "col", "source", "wbr"}

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.imgs, self.img_alts, self.rows, self.text, self.tags = [], [], [], {}, [], set()
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of the open elements
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag not in self.VOID:
            self._open.append((tag, a.get("id")))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
            self.img_alts.append(a.get("alt", ""))
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.setdefault(self._section(), []).append(self._row)
            self._row = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def _section(self) -> str:
        """The id of the innermost open element that has one."""
        return next((i for _, i in reversed(self._open) if i), "")

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two short digits runs made by `chainrule train` (different learning rates)."""
    root = tmp_path_factory.mktemp("runs")
    for name, lr in (("a", "0.01"), ("b", "0.003")):
        assert main(["train", "--out", str(root / name), "--epochs", "2", "--subsample", "200", "--lr", lr,
                     "--quiet"]) == 0
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def digits():
    return cr.data.load_digits(subsample=200)


@pytest.fixture(scope="module")
def one(runs, digits, tmp_path_factory):
    out = write_report([runs[0]], tmp_path_factory.mktemp("rep") / "one.html", data=digits)
    return out, out.read_text()


def _cfg(run):
    return json.loads((run / "config.json").read_text())


def test_sections_and_numbers_of_one_run(runs, one):
    _, text = one
    page = Page(text)
    for s in SECTIONS:
        assert f"run-1-{s}" in page.ids, s
    cfg = _cfg(runs[0])
    res = cfg["results"]
    words = page.all_text
    assert pct(res["test_acc"]) in words and pct(res["best_val_acc"]) in words
    assert f"best val accuracy (epoch {res['best_epoch']})" in words
    data_rows = dict((r[0], r[1]) for r in page.rows["run-1-data"])
    assert data_rows["train examples"] == "200" and data_rows["val examples"] == "360"
    assert data_rows["test examples"] == "360"
    config_rows = dict((r[0], r[1]) for r in page.rows["run-1-config"])
    assert config_rows["lr"] == "0.01" and config_rows["model"] == "small_cnn"
    history = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    verdict = diagnose_gap([h["train_acc"] for h in history], [h["val_acc"] for h in history])
    assert verdict.lines[0] in words


def test_per_class_accuracy_and_confusion_match_the_model(runs, one, digits):
    page = Page(one[1])
    model = cr.load(runs[0] / "model.safetensors")
    with cr.no_grad():
        pred = np.asarray(model(cr.tensor(model.preprocess(digits.X_test))).data).argmax(axis=1)
    y = digits.y_test
    per_class = page.rows["run-1-per-class"][1:]
    assert [r[0] for r in per_class] == [str(k) for k in range(10)]
    for k, row in enumerate(per_class):
        assert int(row[1]) == np.sum(y == k) and int(row[2]) == np.sum((y == k) & (pred == k))
    cm = page.rows["run-1-confusion"][1:]
    got = np.array([[int(c) if c else 0 for c in r[1:]] for r in cm])
    want = np.zeros((10, 10), int)
    np.add.at(want, (y, pred), 1)
    np.testing.assert_array_equal(got, want)
    assert f"{int(np.sum(pred != y))} wrong of 360 test examples" in page.all_text


def _png(src: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def test_filters_and_mistakes_are_the_models(runs, one, digits):
    from chainrule.viz.training import filter_grid, framed

    page = Page(one[1])
    model = cr.load(runs[0] / "model.safetensors")
    grid = framed(filter_grid(model[0].weight.data))  # small_cnn's first layer: Conv2d(1, 16, 3), framed
    shown = _png(page.imgs[page.img_alts.index("first-layer filters")])
    scale = shown.shape[0] // grid.shape[0]
    assert shown.shape[:2] == (grid.shape[0] * scale, grid.shape[1] * scale) and scale > 1
    want = np.round(grid * 255)
    np.testing.assert_allclose(shown[::scale, ::scale], want, atol=1)
    captions = re.findall(r"\(([01]\.\d\d)\)</figcaption>", one[1])
    wrong = int(re.search(r"(\d+) wrong of 360", page.all_text).group(1))
    assert len(captions) == min(24, wrong) == page.img_alts.count("misclassified")
    probs = [float(c) for c in captions]
    assert probs == sorted(probs, reverse=True)  # the most confident mistakes first


def test_self_contained(one):
    from PIL import Image

    text = one[1]
    page = Page(text)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:|//|file:)", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    assert "script" not in page.tags and "iframe" not in page.tags
    assert len(page.imgs) >= 3  # curves, filters, misclassified examples
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        img.verify()
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))


def test_several_runs_are_compared(runs, digits, tmp_path):
    out = write_report(list(runs), tmp_path / "two.html", data=[digits, digits])
    page = Page(out.read_text())
    assert {"comparison", "overlay", "run-1", "run-2", "run-2-confusion"} <= set(page.ids)
    table = page.rows["comparison"]
    assert len(table) == 3 and table[0][0] == "run"
    assert [r[0] for r in table[1:]] == ["a", "b"]
    lr_col = table[0].index("lr")
    assert [r[lr_col] for r in table[1:]] == ["0.01", "0.003"]
    test_col = table[0].index("test")
    assert [r[test_col] for r in table[1:]] == [pct(_cfg(r)["results"]["test_acc"]) for r in runs]


def test_without_data_and_without_checkpoint(runs, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(runs[1], run)
    shutil.rmtree(run / "checkpoints")
    rec = load_run(run)
    assert rec.loss_per_epoch and len(rec.loss) == 2 and rec.evaluation is None
    page = Page(write_report([rec], tmp_path / "r.html").read_text())
    assert "run-1-curves" in page.ids and "run-1-filters" in page.ids and "run-1-confusion" not in page.ids
    assert "no data given" in page.all_text and "epoch means" in page.all_text


def test_images_per_second():
    metrics = [{"time": 100.0}, {"time": 102.0}, {"time": 104.5}, {"time": 106.0}]
    t = images_per_second(metrics, 1000, wall_seconds=10.0, epochs_done=4)
    assert t["epoch_seconds"] == [2.0, 2.5, 1.5]
    assert t["images_per_s"] == pytest.approx(500.0) and t["overall_images_per_s"] == pytest.approx(400.0)
    assert images_per_second([{"time": 1.0}], 1000)["images_per_s"] is None


def test_cli(runs, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", str(runs[0]), str(runs[1]), "--out", str(out), "--max-eval", "100"]) == 0
    assert "written to" in capsys.readouterr().out
    assert "100 of 360 test examples" in Page(out.read_text()).all_text
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(runs[0]), "--no-data", "--out", str(tmp_path / "n.html")]) == 0
    assert "run-1-confusion" not in Page((tmp_path / "n.html").read_text()).ids


def test_load_run_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run(tmp_path)
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path / "x.html")


# ------------------------------------------------------------------ in a real browser
def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _browse(browser: str, profile, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_in_headless_chromium(runs, digits, tmp_path):
    from PIL import Image

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not found: install Debian's chromium package (.ci/run does) to render the report")
    out = write_report(list(runs), tmp_path / "report.html", data=[digits, digits])
    url = out.resolve().as_uri()
    dom = _browse(browser, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Page(dom.stdout)
    for k in (1, 2):
        for s in SECTIONS:
            assert f"run-{k}-{s}" in page.ids, (k, s)
    assert {"comparison", "overlay"} <= set(page.ids)
    cfg = _cfg(runs[0])
    assert pct(cfg["results"]["test_acc"]) in page.all_text
    assert dict((r[0], r[1]) for r in page.rows["run-1-data"])["train examples"] == "200"
    assert len(page.rows["comparison"]) == 3

    shot = tmp_path / "report.png"
    res = _browse(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"), np.float64)
    assert img.shape == (2400, 1280, 3)
    assert img.std() > 20  # not a blank page
    # the accent rule above each run and the blue of the curves' lines are drawn
    accent = np.all(np.abs(img - [47, 111, 176]) < 12, axis=2)
    assert accent.sum() > 1000
    if os.environ.get("CHAINRULE_REPORT_SCREENSHOT"):  # to refresh docs/img/report.png by hand
        shutil.copy(shot, os.environ["CHAINRULE_REPORT_SCREENSHOT"])


def test_chainrule_train_writes_the_report(runs):
    page = Page((runs[0] / "report.html").read_text())
    assert {f"run-1-{s}" for s in SECTIONS} <= set(page.ids)
    res = _cfg(runs[0])["results"]
    assert pct(res["test_acc"]) in page.all_text
    if "ema_val_acc" in res:  # chainrule train --ema (the default) saves the weights' average
        assert pct(res["ema_val_acc"]) in page.all_text and "val accuracy of the EMA weights" in page.all_text
