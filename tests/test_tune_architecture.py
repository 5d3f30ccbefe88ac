"""Architecture as a hyperparameter (issue 26 item 6): list-valued settings (ListChoice,
`--space hidden_dims=64,128|128,128`), depth (and width) for fc_net, and a clear error for a name
the model does not take (before: `--space hidden_dims=64` raised a TypeError inside the trial and
the help's `layers=1:4:int` matched no model)."""
import json

import pytest

pytest.importorskip("optuna")

import chainrule as cr  # noqa: E402
from chainrule.cli import main  # noqa: E402
from chainrule.tune import ListChoice, parse_space, search  # noqa: E402
from chainrule.tune.solver_objective import SolverObjective  # noqa: E402
from chainrule.tune.space import check_space, space_from_dict, space_to_dict  # noqa: E402


def test_list_choice_parses_round_trips_and_samples_tuples():
    space = parse_space(["hidden_dims=64,128|128,128|256", "depth=1:4:int"])
    assert space["hidden_dims"] == ListChoice([(64, 128), (128, 128), (256,)])
    assert space_from_dict(json.loads(json.dumps(space_to_dict(space)))) == space
    assert check_space({"c": [[4, 8], [8, 8]]})["c"] == ListChoice([(4, 8), (8, 8)])
    seen = []
    res = search(lambda p: seen.append(p["hidden_dims"]) or 1000.0 * len(p["hidden_dims"]) + p["hidden_dims"][0],
                 {"hidden_dims": space["hidden_dims"]}, 12, sampler="random", seed=0, verbose=False)
    assert set(seen) == {(64, 128), (128, 128), (256,)} and all(isinstance(v, tuple) for v in seen)
    assert res.best_params["hidden_dims"] == "128,128"  # stored (and shown) as text
    with pytest.raises(ValueError, match="empty list"):
        parse_space(["h=64||128"])


def test_depth_and_width_build_fc_net_hidden_dims():
    obj = SolverObjective("fc_net", "digits", epochs=1, subsample=100)
    solver = obj({"depth": 3, "width": 16, "lr": 1e-3})
    widths = [m.out_features for m in solver.model.modules() if isinstance(m, cr.nn.Linear)]
    assert widths == [16, 16, 16, 10]
    solver = obj({"hidden_dims": (32, 8)})
    assert [m.out_features for m in solver.model.modules() if isinstance(m, cr.nn.Linear)] == [32, 8, 10]
    solver = obj({"depth": 1})  # width: the builder's default first width
    assert [m.out_features for m in solver.model.modules() if isinstance(m, cr.nn.Linear)] == [100, 10]


def test_unknown_names_are_refused_naming_the_arguments():
    with pytest.raises(ValueError, match=r"model small_cnn takes no argument 'layers': it takes .*channels"):
        SolverObjective("small_cnn", "digits").check_names(["layers"])
    with pytest.raises(ValueError, match="depth, width"):
        SolverObjective("fc_net", "digits").check_names(["layers"])
    SolverObjective("resnet_cifar", "digits").check_names(["depth", "lr"])  # its own depth


def test_cli_searches_depth_and_hidden_dims(tmp_path, capsys):
    rc = main(["tune", "--model", "fc_net", "--data", "digits", "--subsample", "200", "--trials", "3",
               "--epochs", "1", "--space", "depth=1:3:int", "--space", "hidden_dims=16|32,16",
               "--out", str(tmp_path / "a"), "--sampler", "random"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.load(open(tmp_path / "a" / "trials.json"))
    assert len(data["trials"]) == 3 and data["best"]["params"]["hidden_dims"] in ("16", "32,16")
    rc = main(["tune", "--model", "fc_net", "--data", "digits", "--trials", "2", "--space", "layers=1:4:int",
               "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "takes no argument 'layers'" in err and "depth" in err


def test_without_optuna_the_error_names_the_install():
    import subprocess
    import sys
    code = ("import sys; sys.modules['optuna'] = None\n"
            "try:\n    import chainrule.tune\nexcept ImportError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "ERR chainrule.tune (hyperparameter search) needs optuna" in out and "pip install 'chainrule[tune]'" in out
