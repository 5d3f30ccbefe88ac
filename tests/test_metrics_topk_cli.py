"""`chainrule evaluate --topk`: the top-k figures it prints are cr.metrics.accuracy's on the run's model."""
from __future__ import annotations

import re

import chainrule as cr
from chainrule.cli import main
from chainrule.commands import common
from chainrule.metrics import accuracy, predict_scores

SMALL = ["--model", "fc_net", "--model-args", '{"hidden_dims": [16]}', "--subsample", "200",
         "--batch-size", "50", "--quiet"]


def test_evaluate_topk_prints_the_metric(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--topk", "1,5"]) == 0
    text = capsys.readouterr().out
    top1, top5 = (float(v) for v in re.search(r"top-1 ([\d.]+), top-5 ([\d.]+)", text).groups())
    model = cr.load(out / "model.safetensors")
    data = cr.data.load("digits")
    scores = predict_scores(model, common.prepare(model.preprocess, data.X_test))
    want1, want5 = accuracy(scores, data.y_test, topk=(1, 5))
    assert (top1, top5) == (round(want1, 4), round(want5, 4)) and top5 > top1
    rc = main(["evaluate", str(out), "--topk", "11"])
    err = capsys.readouterr().err
    assert rc == 2 and "--topk" in err and "number of classes (10)" in err
