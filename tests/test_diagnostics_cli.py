"""`chainrule sanity` in-process: a zoo model passes; lr 0 fails the overfit check (exit 1)."""
from chainrule.cli import main


def test_sanity_small_cnn_on_digits(capsys):
    rc = main(["sanity", "--model", "small_cnn", "--data", "digits", "--subsample", "300"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Sanity checks of small_cnn on digits" in out
    assert "initial loss" in out and "overfit 20 examples" in out and "4/4 checks passed" in out


def test_sanity_lr_zero_fails(capsys):
    rc = main(["sanity", "--model", "two_layer_net", "--subsample", "100", "--lr", "0", "--iters", "10",
               "--loss", "svm"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL" in out and "3/4 checks passed" in out and "9.0000" in out


def test_sanity_bad_arguments(capsys):
    assert main(["sanity", "--model", "no_such_net"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["sanity", "--n-overfit", "0"]) == 2
