"""`chainrule knn` and `chainrule linear` end to end on digits, in-process."""
from chainrule.cli import main


def test_knn_cli(tmp_path, capsys):
    assert main(["knn", "--data", "digits", "--ks", "1,3", "--folds", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation" in out and "mean" in out and "std" in out
    assert "best k = " in out and "refit on train+val (1437 images)" in out
    acc = float(out.split("test accuracy with k = ")[1].split(": ")[1].split()[0])
    assert acc > 0.95
    png = tmp_path / "knn_cv_digits_l2.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and str(png) in out


def test_knn_cli_l1_and_errors(tmp_path, capsys):
    assert main(["knn", "--ks", "2", "--folds", "2", "--metric", "l1", "--subsample", "300",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "knn_cv_digits_l1.png").exists()
    capsys.readouterr()
    assert main(["knn", "--ks", "1,x", "--out", str(tmp_path)]) == 2
    assert "--ks: expected comma-separated integers, got '1,x'" in capsys.readouterr().err
    assert main(["knn", "--ks", "5000", "--out", str(tmp_path)]) == 2
    assert "k=5000 is larger than a cross-validation training fold" in capsys.readouterr().err


def test_linear_cli_svm_and_softmax(tmp_path, capsys):
    for loss in ("svm", "softmax"):
        assert main(["linear", "--loss", loss, "--data", "digits", "--iters", "200",
                     "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "preprocessing perchannel" in out
        accs = {p: float(out.split(f"{p} accuracy: ")[1].split()[0]) for p in ("train", "val", "test")}
        assert accs["test"] > 0.85
        for suffix in ("loss", "templates"):
            png = tmp_path / f"{loss}_digits_{suffix}.png"
            assert png.read_bytes()[:4] == b"\x89PNG" and str(png) in out


def test_linear_cli_bad_reg_type(tmp_path, capsys):
    assert main(["linear", "--lr", "-1", "--out", str(tmp_path)]) == 2
    assert "expected lr > 0, got -1.0" in capsys.readouterr().err
